// The web console (issue 14): sign in, then views over the SDK's live mirrors.
// Routing is the URL hash (#/queues, #/queue/<id>, #/devices, #/radio, #/party, #/offline),
// so every view has a link and the browser's back button works.
import { type JSX, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { savedToken, signIn, signOut, type Session } from './session.ts';
import { SignIn } from './views/signin.tsx';
import { QueuesView } from './views/queues.tsx';
import { QueueView } from './views/queue.tsx';
import { DevicesView } from './views/devices.tsx';
import { RadioView } from './views/radio.tsx';
import { PartyView } from './views/party.tsx';
import { OfflineView, OfflineToggle } from './views/offline.tsx';
import { errorText } from './ui.tsx';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/queues');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/queues');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function useStatus(session: Session): string {
  const [status, setStatus] = useState<string>(session.client.status);
  useEffect(() => {
    const off = session.client.on('status', (s: string) => setStatus(s));
    // A change between the first render and this subscription would be missed otherwise.
    setStatus(session.client.status);
    return off;
  }, [session]);
  return status;
}

/**
 * True while the SDK waits to retry something the server refused as busy ([AD9]): the
 * request was not applied and goes out again by itself, after the server's Retry-After.
 */
function useBusy(session: Session): boolean {
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let until = 0;
    const off = session.client.on('busy', (retry) => {
      until = Math.max(until, Date.now() + retry.retryInMs + 250);
      setBusy(true);
      clearTimeout(timer);
      timer = setTimeout(() => setBusy(false), until - Date.now());
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [session]);
  return busy;
}

const NAV: [string, string][] = [
  ['#/queues', 'Queues'],
  ['#/devices', 'Devices'],
  ['#/radio', 'Radio'],
  ['#/party', 'Party'],
  ['#/offline', 'Offline'],
];

function Shell(props: { session: Session; onSignOut: () => void }) {
  const { session } = props;
  const hash = useHash();
  const status = useStatus(session);
  const busy = useBusy(session);
  const [path, arg] = hash.slice(2).split('/') as [string, string | undefined];
  let view: JSX.Element;
  if (path === 'queue' && arg) view = <QueueView key={arg} session={session} queueId={decodeURIComponent(arg)} />;
  else if (path === 'devices') view = <DevicesView session={session} />;
  else if (path === 'radio') view = <RadioView session={session} queueId={arg ? decodeURIComponent(arg) : undefined} />;
  else if (path === 'party') view = <PartyView session={session} partyId={arg ? decodeURIComponent(arg) : undefined} />;
  else if (path === 'offline') view = <OfflineView session={session} />;
  else view = <QueuesView session={session} />;
  const active = `#/${path === 'queue' ? 'queues' : path}`;
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/queues">
          Queue console
        </a>
        <nav aria-label="Views">
          {NAV.map(([href, label]) => (
            <a href={href} aria-current={active === href ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class={`status status-${status}`} role="status" aria-live="polite" data-testid="status">
            {status}
          </span>
          {busy && (
            <span class="busy" role="status" aria-live="polite" data-testid="busy">
              server busy, retrying
            </span>
          )}
          <OfflineToggle session={session} />
          <span
            class="user"
            data-testid="user"
            title={`device ${session.deviceId}; ${session.source === 'provider' ? "your identity provider's token" : 'a minted token'}${session.scopes ? `; scopes: ${session.scopes.join(' ')}` : ''}`}
          >
            {session.userId}
            {session.scopes ? <small class="scopes"> ({session.scopes.join(' ')})</small> : null}
          </span>
          <button type="button" class="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{view}</main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [booting, setBooting] = useState(true);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const token = savedToken();
    if (!token) return setBooting(false);
    signIn(token)
      .then(setSession, (e) => setError(`The saved token no longer works (${errorText(e)}): sign in again.`))
      .finally(() => setBooting(false));
  }, []);
  if (booting) return <p class="boot">Signing in…</p>;
  if (!session) return <SignIn onSession={setSession} initialError={error} />;
  return <Shell session={session} onSignOut={() => void signOut(session).then(() => setSession(null))} />;
}

render(<App />, document.getElementById('root')!);
