import { render } from 'preact';

function App() {
  return <main><h1>Queue service console</h1></main>;
}

render(<App />, document.getElementById('root')!);
