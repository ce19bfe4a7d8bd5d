// Collaboration on one queue: collaborators and roles, invite codes, who has it open, and
// the history (who did what). REST reads, refreshed whenever the live mirror's version moves.
import { useEffect, useState } from 'preact/hooks';
import { api, type Collaborators, type HistoryEntry, type Invite } from '../api.ts';
import type { Session } from '../session.ts';
import { TrackName, useTrackNames } from '../tracks.tsx';
import { ErrorLine, Field, ago, errorText } from '../ui.tsx';

const ROLES = ['admin', 'contributor', 'viewer'];

export function CollabPanel(props: { session: Session; queueId: string; version: number }) {
  const { client } = props.session;
  const { queueId } = props;
  const [collab, setCollab] = useState<Collaborators | null>(null);
  const [invites, setInvites] = useState<Invite[] | null>(null);
  const [who, setWho] = useState('');
  const [role, setRole] = useState('contributor');
  const [inviteRole, setInviteRole] = useState('contributor');
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    api.collaborators(client, queueId).then(setCollab, (e) => setError(errorText(e)));
    // Only the owner and admins may list invites; others see none.
    api.invites(client, queueId).then(
      (r) => setInvites(r.invites),
      () => setInvites(null),
    );
  };
  useEffect(load, [queueId, props.version]);
  const act = (p: Promise<unknown>) => p.then(load, (e) => setError(errorText(e)));
  const manage = collab && (collab.yourRole === 'owner' || collab.yourRole === 'admin');

  return (
    <div class="collab">
      <ErrorLine error={error} />
      {collab ? (
        <>
          <p>
            Owner <strong>{collab.ownerId}</strong> · you are{' '}
            <span class={`role role-${collab.yourRole}`} data-testid="your-role">
              {collab.yourRole}
            </span>{' '}
            ·{' '}
            <label class="check">
              <input
                type="checkbox"
                checked={collab.isPublic}
                disabled={collab.yourRole !== 'owner'}
                onChange={(e) => act(api.setVisibility(client, queueId, e.currentTarget.checked))}
              />{' '}
              public
            </label>
          </p>
          <table class="list" data-testid="collaborators">
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th class="wide">Joined</th>
                <th>
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <td>{collab.ownerId}</td>
                <td>
                  <span class="role role-owner">owner</span>
                </td>
                <td class="wide" />
                <td />
              </tr>
              {collab.collaborators.map((c) => (
                <tr key={c.userId}>
                  <td>{c.userId}</td>
                  <td>
                    {manage ? (
                      <select
                        aria-label={`Role of ${c.userId}`}
                        value={c.role}
                        onChange={(e) => act(api.setRole(client, queueId, c.userId, e.currentTarget.value))}
                      >
                        {ROLES.map((r) => (
                          <option value={r}>{r}</option>
                        ))}
                      </select>
                    ) : (
                      <span class={`role role-${c.role}`}>{c.role}</span>
                    )}
                  </td>
                  <td class="wide">
                    {c.via} · {ago(c.joinedAt)}
                  </td>
                  <td>
                    {manage || c.userId === props.session.userId ? (
                      <button type="button" class="link" onClick={() => act(api.removeCollaborator(client, queueId, c.userId))}>
                        {c.userId === props.session.userId ? 'Leave' : 'Remove'}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : (
        <p>Loading…</p>
      )}
      {manage ? (
        <div class="forms">
          <form
            class="card"
            onSubmit={(e) => {
              e.preventDefault();
              void act(api.addCollaborator(client, queueId, who.trim(), role)).then(() => setWho(''));
            }}
          >
            <h2>Add a collaborator</h2>
            <Field label="User id">
              <input name="collaborator" required value={who} onInput={(e) => setWho(e.currentTarget.value)} />
            </Field>
            <Field label="Role">
              <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
                {ROLES.map((r) => (
                  <option value={r}>{r}</option>
                ))}
              </select>
            </Field>
            <button type="submit">Add</button>
          </form>
          <div class="card">
            <h2>Invite codes</h2>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void act(api.createInvite(client, queueId, inviteRole));
              }}
              class="inline-form"
            >
              <label class="inline">
                Role{' '}
                <select value={inviteRole} onChange={(e) => setInviteRole(e.currentTarget.value)}>
                  {ROLES.map((r) => (
                    <option value={r}>{r}</option>
                  ))}
                </select>
              </label>
              <button type="submit">New code</button>
            </form>
            <ul class="invites" data-testid="invites">
              {(invites ?? []).map((i) => (
                <li key={i.code}>
                  <code class="code">{i.code}</code> <span class={`role role-${i.role}`}>{i.role}</span>{' '}
                  <span class="muted">
                    used {i.uses}
                    {i.maxUses !== null ? `/${i.maxUses}` : ''}, expires {new Date(i.expiresAt).toLocaleString()}
                  </span>{' '}
                  <button type="button" class="link" onClick={() => act(api.revokeInvite(client, queueId, i.code))}>
                    Revoke
                  </button>
                </li>
              ))}
            </ul>
          </div>
        </div>
      ) : null}
      <Presence session={props.session} queueId={queueId} />
    </div>
  );
}

function Presence(props: { session: Session; queueId: string }) {
  const [users, setUsers] = useState<{ userId: string; deviceIds: string[] }[] | null>(null);
  useEffect(() => {
    const load = () =>
      api.presence(props.session.client, props.queueId).then(
        (r) => setUsers(r.viewers),
        () => setUsers(null),
      );
    void load();
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, [props.queueId]);
  // The service counts /ws/queues/{id} sockets; apps on the user sync socket (this console
  // among them) are not listed, so an empty list says nothing and is not shown.
  if (!users || users.length === 0) return null;
  return <p data-testid="presence">Open on a queue socket now: {users.map((u) => `${u.userId} (${u.deviceIds.join(', ')})`).join('; ')}</p>;
}

export function HistoryPanel(props: { session: Session; queueId: string; version: number }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.history(props.session.client, props.queueId).then(
      (r) => setEntries(r.entries),
      (e) => setError(errorText(e)),
    );
  }, [props.queueId, props.version]);
  useTrackNames(
    props.session.client,
    (entries ?? []).flatMap((e) => (e.trackId ? [e.trackId] : [])),
  );
  return (
    <div>
      <ErrorLine error={error} />
      <ol class="history" data-testid="history" aria-label="Who did what, newest first">
        {(entries ?? []).map((e) => (
          <li key={e.sequenceNumber}>
            <span class="seq">#{e.sequenceNumber}</span> <strong>{e.userId}</strong>
            {e.deviceId ? <span class="muted"> on {e.deviceId}</span> : null} <span class="action">{e.action.replace(/_/g, ' ')}</span>
            {e.trackId ? (
              <>
                {' '}
                <TrackName id={e.trackId} />
              </>
            ) : null}{' '}
            <span class="muted">{ago(e.timestamp)}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}
