// The caller's queues (own and shared, with the role), create one, join with an invite code.
import { useEffect, useState } from 'preact/hooks';
import { api, type QueueSummary } from '../api.ts';
import type { Session } from '../session.ts';
import { ErrorLine, Field, ago, errorText } from '../ui.tsx';

export function QueuesView(props: { session: Session }) {
  const { client } = props.session;
  const [queues, setQueues] = useState<QueueSummary[] | null>(null);
  const [name, setName] = useState('');
  const [collaborative, setCollaborative] = useState(false);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    api.queues(client).then(
      (r) => setQueues(r.queues),
      (e) => setError(errorText(e)),
    );
  useEffect(() => {
    void load();
    // The list is a REST read: refresh it every few seconds while shown (edits elsewhere
    // move a queue up and change its version).
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, [client]);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api.createQueue(client, name.trim(), collaborative);
      setName('');
      location.hash = `#/queue/${encodeURIComponent(r.queue.id)}`;
    } catch (err) {
      setError(errorText(err));
    }
  };
  const accept = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api.acceptInvite(client, code.trim());
      setCode('');
      if (r.queue) location.hash = `#/queue/${encodeURIComponent(r.queue.id)}`;
      else void load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="queues-title">
      <h1 id="queues-title">Queues</h1>
      <ErrorLine error={error} />
      {queues === null ? (
        <p>Loading…</p>
      ) : queues.length === 0 ? (
        <p>No queues yet: create one below.</p>
      ) : (
        <table class="list" data-testid="queue-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Role</th>
              <th class="num">Items</th>
              <th class="num">Version</th>
              <th class="wide">Changed</th>
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.id}>
                <td>
                  <a href={`#/queue/${encodeURIComponent(q.id)}`}>{q.name}</a> <span class="tag">{q.type}</span>
                </td>
                <td>
                  <span class={`role role-${q.role}`}>{q.role}</span>
                  {q.role !== 'owner' ? <span class="muted"> of {q.ownerId}</span> : null}
                </td>
                <td class="num">{q.itemCount}</td>
                <td class="num">v{q.version}</td>
                <td class="wide">{ago(q.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="forms">
        <form onSubmit={create} class="card">
          <h2>New queue</h2>
          <Field label="Name">
            <input name="queueName" required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <label class="check">
            <input type="checkbox" checked={collaborative} onChange={(e) => setCollaborative(e.currentTarget.checked)} /> Collaborative
          </label>
          <button type="submit">Create</button>
        </form>
        <form onSubmit={accept} class="card">
          <h2>Join with an invite code</h2>
          <Field label="Invite code">
            <input name="inviteCode" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </Field>
          <button type="submit">Join</button>
        </form>
      </div>
    </section>
  );
}
