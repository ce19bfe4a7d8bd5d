// Placeholder entry until the client SDK (@queue-service/client, issue 13) is merged:
// the console's views live in app.tsx and need it.
import { render } from 'preact';

render(<main class="boot"><h1>Queue service console</h1><p>The console is being built: it needs the client SDK.</p></main>, document.getElementById('root')!);
