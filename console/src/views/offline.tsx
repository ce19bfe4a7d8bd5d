// Offline: a toggle that takes the SDK client offline on purpose (the browser's own
// offline mode does the same by itself), the edits waiting in the outbox (kept in
// IndexedDB, so they survive a reload), and what the server did with them on return:
// applied, merged, or refused as conflicts.
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../session.ts';
import { isForcedOffline, offlineLog, setForcedOffline, type OfflineEntry } from '../session.ts';

export function OfflineToggle(props: { session: Session }) {
  const [forced, setForced] = useState(isForcedOffline());
  return (
    <label class="check toggle">
      <input
        type="checkbox"
        name="offline"
        checked={forced}
        onChange={(e) => {
          const on = e.currentTarget.checked;
          setForcedOffline(props.session, on);
          setForced(on);
        }}
      />{' '}
      Work offline
    </label>
  );
}

export function OfflineView(props: { session: Session }) {
  const { client } = props.session;
  const [entries, setEntries] = useState<OfflineEntry[]>(() => [...offlineLog.entries]);
  const [outbox, setOutbox] = useState<number>(0);
  useEffect(() => {
    const off = offlineLog.subscribe(() => setEntries([...offlineLog.entries]));
    // An entry added between the first render and this subscription would be missed otherwise
    // (an offline sync answered just as the view opens: the CI failure of stop 10).
    setEntries([...offlineLog.entries]);
    const t = setInterval(
      () =>
        void client.pendingMutations().then(
          (p) => setOutbox(p.length),
          () => undefined,
        ),
      500,
    );
    return () => {
      off();
      clearInterval(t);
    };
  }, [client]);
  return (
    <section aria-labelledby="offline-title">
      <h1 id="offline-title">Offline</h1>
      <p>
        Tick <strong>Work offline</strong> at the top (or switch the browser offline), edit a queue, then come back: the SDK sends the edits once each through{' '}
        <code>POST /sync/offline</code> and reports what the server made of them.
      </p>
      <p>
        Edits waiting to be sent: <strong data-testid="outbox">{outbox}</strong> (kept in IndexedDB: they survive a reload).
      </p>
      <h2>What happened to offline edits</h2>
      {entries.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <ol class="history" data-testid="offline-log">
          {entries.map((e, i) => (
            <li key={i} class={e.kind === 'conflict' ? 'conflict' : ''}>
              <span class="muted">{new Date(e.at).toLocaleTimeString()}</span> <strong>{e.kind}</strong> {e.text}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
