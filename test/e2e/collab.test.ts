// Collaborative queues end to end (docs/SPEC.md [CO1]...): every endpoint against a real
// server process on SQLite, with real sockets for presence and revoked access.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServerOn, type RunningServer } from '../helpers/server.ts';
import { connect, eventsOf, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';

type Api = ReturnType<typeof client>;
type Res = Awaited<ReturnType<Api>>;

function ok(res: Res, status = 200): any {
  assert.equal(res.status, status, JSON.stringify(res.body));
  return res.body;
}
function fails(res: Res, status: number, code: string): any {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body?.error?.code, code, JSON.stringify(res.body));
  return res.body.error;
}

const ADDS_PER_MINUTE = 8;
const MAX_COLLABORATORS = 6;

describe('collaborative queues (sqlite)', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  const api: Record<string, Api> = {};
  const tokens: Record<string, string> = {};
  const sockets: TestSocket[] = [];
  const open = async (...args: Parameters<typeof connect>) => {
    const s = await connect(...args);
    sockets.push(s);
    return s;
  };

  before(async () => {
    server = await startServerOn('sqlite', {
      env: { LIMIT_ADDS_PER_MINUTE: String(ADDS_PER_MINUTE), LIMIT_COLLABORATORS_PER_QUEUE: String(MAX_COLLABORATORS) },
    });
    for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
      tokens[u] = await mintToken(server, u);
      api[u] = client(server.url, tokens[u]);
    }
  });
  after(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await server.cleanup();
  });

  /** alice owns it; bob contributes; carol views. */
  async function party(extra: Record<string, unknown> = {}) {
    const q = ok(
      await api.alice!('POST', '/queues/collaborative', { name: 'Party', tracks: ['a1', 'a2'], collaborators: ['bob', 'carol'], ...extra }),
      201,
    ).queue;
    ok(await api.alice!('PUT', `/queues/${q.id}/collaborators/carol`, { permissionLevel: 'viewer' }));
    return q as { id: string; items: { itemId: string }[] };
  }
  const tracksOf = async (queueId: string) => ok(await api.alice!('GET', `/queues/${queueId}`)).items.map((i: any) => i.trackId);

  it('[CO13][CO4] POST /queues/collaborative: the caller owns it, collaborators contribute, and GET /queues lists it with each role', async () => {
    const r = ok(await api.alice!('POST', '/queues/collaborative', { name: 'Road trip', tracks: ['t1'], isPublic: true, collaborators: ['bob', 'dave'] }), 201);
    const q = r.queue;
    assert.equal(q.type, 'collaborative');
    assert.equal(q.ownerId, 'alice');
    assert.equal(q.isPublic, true);
    assert.deepEqual(
      q.collaborators.map((c: any) => [c.userId, c.role, c.via]),
      [
        ['bob', 'contributor', 'created'],
        ['dave', 'contributor', 'created'],
      ],
    );
    assert.deepEqual(
      r.events.map((e: any) => e.type),
      ['queue_created', 'visibility_changed', 'collaborator_joined', 'collaborator_joined', 'item_added'],
    );
    const mine = ok(await api.bob!('GET', '/queues')).queues.find((x: any) => x.id === q.id);
    assert.equal(mine?.role, 'contributor');
    assert.equal(ok(await api.alice!('GET', '/queues')).queues.find((x: any) => x.id === q.id)?.role, 'owner');
    assert.equal(
      ok(await api.erin!('GET', '/queues')).queues.find((x: any) => x.id === q.id),
      undefined,
      "a public queue is not in a stranger's list",
    );
    ok(await api.alice!('DELETE', `/queues/${q.id}/collaborators/dave`));
    assert.equal(
      ok(await api.dave!('GET', '/queues')).queues.find((x: any) => x.id === q.id),
      undefined,
      'removed: gone from the list',
    );
  });

  it('[CO3] addedBy must be the caller; the server records who added what', async () => {
    const q = await party();
    fails(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['b1'], addedBy: 'alice' }), 403, 'added_by_mismatch');
    const r = ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['b1'], addedBy: 'bob' }));
    assert.equal(r.queue.items.at(-1).addedBy, 'bob');
    fails(await api.carol!('POST', `/queues/${q.id}/tracks`, { tracks: ['c1'] }), 403, 'forbidden');
    fails(await api.erin!('POST', `/queues/${q.id}/tracks`, { tracks: ['e1'] }), 404, 'queue_not_found');
  });

  it('[CO2] add, list, change, remove collaborators; leave; transfer ownership', async () => {
    const q = await party();
    const add = ok(await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: 'dave', permissionLevel: 'admin' }));
    assert.deepEqual(
      add.events.map((e: any) => [e.type, e.data.userId, e.data.role, e.userId]),
      [['collaborator_joined', 'dave', 'admin', 'alice']],
    );
    // An admin manages contributors and viewers, not admins.
    ok(await api.dave!('POST', `/queues/${q.id}/collaborators`, { userId: 'erin', permissionLevel: 'viewer' }));
    fails(await api.dave!('POST', `/queues/${q.id}/collaborators`, { userId: 'frank', permissionLevel: 'admin' }), 403, 'forbidden');
    fails(await api.bob!('POST', `/queues/${q.id}/collaborators`, { userId: 'frank', permissionLevel: 'viewer' }), 403, 'forbidden');
    const changed = ok(await api.dave!('PUT', `/queues/${q.id}/collaborators/erin`, { permissionLevel: 'contributor' }));
    assert.deepEqual(
      changed.events.map((e: any) => [e.type, e.data]),
      [['permission_changed', { userId: 'erin', role: 'contributor' }]],
    );
    fails(await api.alice!('PUT', `/queues/${q.id}/collaborators/frank`, { permissionLevel: 'viewer' }), 404, 'collaborator_not_found');
    const list = ok(await api.erin!('GET', `/queues/${q.id}/collaborators`));
    assert.equal(list.ownerId, 'alice');
    assert.equal(list.yourRole, 'contributor');
    assert.deepEqual(
      list.collaborators.map((c: any) => [c.userId, c.role]),
      [
        ['bob', 'contributor'],
        ['carol', 'viewer'],
        ['dave', 'admin'],
        ['erin', 'contributor'],
      ],
    );
    ok(await api.dave!('DELETE', `/queues/${q.id}/collaborators/erin`));
    fails(await api.erin!('GET', `/queues/${q.id}`), 404, 'queue_not_found');
    const left = ok(await api.carol!('POST', `/queues/${q.id}/leave`, {}));
    assert.deepEqual(
      left.events.map((e: any) => e.data),
      [{ userId: 'carol', reason: 'left' }],
    );
    fails(await api.alice!('POST', `/queues/${q.id}/leave`, {}), 409, 'owner_cannot_leave');
    fails(await api.dave!('POST', `/queues/${q.id}/transfer`, { userId: 'bob' }), 403, 'forbidden');
    fails(await api.alice!('POST', `/queues/${q.id}/transfer`, { userId: 'frank' }), 404, 'collaborator_not_found');
    const t = ok(await api.alice!('POST', `/queues/${q.id}/transfer`, { userId: 'bob' }));
    assert.equal(t.queue.ownerId, 'bob');
    assert.equal(t.queue.collaborators.find((c: any) => c.userId === 'alice')?.role, 'admin', 'the old owner stays on as admin');
    fails(await api.alice!('DELETE', `/queues/${q.id}`), 403, 'forbidden');
    assert.equal(ok(await api.bob!('GET', '/queues')).queues.find((x: any) => x.id === q.id)?.role, 'owner');
  });

  it('[CO5] invites: a code with a role and an expiry; wrong, expired, revoked and used-up codes', async () => {
    const q = await party();
    ok(await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: 'dave', permissionLevel: 'admin' }));
    fails(await api.dave!('POST', `/queues/${q.id}/invites`, { role: 'admin' }), 403, 'forbidden');
    fails(await api.bob!('POST', `/queues/${q.id}/invites`, { role: 'viewer' }), 403, 'forbidden');
    fails(await api.erin!('POST', `/queues/${q.id}/invites`, { role: 'viewer' }), 404, 'queue_not_found');
    const inv = ok(await api.dave!('POST', `/queues/${q.id}/invites`, { role: 'contributor', maxUses: 1 }), 201);
    assert.equal(inv.role, 'contributor');
    assert.equal(inv.createdBy, 'dave');
    assert.ok(Date.parse(inv.expiresAt) - Date.now() > 6 * 24 * 3600 * 1000, 'a week by default');
    assert.deepEqual(
      ok(await api.alice!('GET', `/queues/${q.id}/invites`)).invites.map((i: any) => i.code),
      [inv.code],
    );
    fails(await api.erin!('POST', '/invites/not-a-real-code/accept', {}), 404, 'invite_not_found');
    const joined = ok(await api.erin!('POST', `/invites/${inv.code}/accept`, {}));
    assert.deepEqual(
      joined.events.map((e: any) => [e.type, e.data]),
      [['collaborator_joined', { userId: 'erin', role: 'contributor', via: 'invite' }]],
    );
    ok(await api.erin!('POST', `/queues/${q.id}/tracks`, { tracks: ['e1'] }));
    fails(await api.frank!('POST', `/invites/${inv.code}/accept`, {}), 403, 'invite_used_up');
    const short = ok(await api.alice!('POST', `/queues/${q.id}/invites`, { role: 'viewer', expiresInSeconds: 1 }), 201);
    const revoked = ok(await api.alice!('POST', `/queues/${q.id}/invites`, { role: 'viewer' }), 201);
    assert.equal((await api.alice!('DELETE', `/queues/${q.id}/invites/${revoked.code}`)).status, 204);
    fails(await api.frank!('POST', `/invites/${revoked.code}/accept`, {}), 404, 'invite_not_found');
    await sleep(1100); // the clock passes the short invite's expiry
    fails(await api.frank!('POST', `/invites/${short.code}/accept`, {}), 403, 'invite_expired');
    fails(await api.frank!('GET', `/queues/${q.id}`), 404, 'queue_not_found');
    // An admin invite accepted by a contributor raises them; a viewer invite never lowers.
    const up = ok(await api.alice!('POST', `/queues/${q.id}/invites`, { role: 'admin' }), 201);
    assert.deepEqual(
      ok(await api.bob!('POST', `/invites/${up.code}/accept`, {})).events.map((e: any) => e.data),
      [{ userId: 'bob', role: 'admin' }],
    );
    const down = ok(await api.alice!('POST', `/queues/${q.id}/invites`, { role: 'viewer' }), 201);
    assert.deepEqual(ok(await api.bob!('POST', `/invites/${down.code}/accept`, {})).events, []);
  });

  it('[CO5] public queues are readable by anyone and joinable as viewer; private ones are 404', async () => {
    const q = await party({ isPublic: true });
    assert.equal(ok(await api.frank!('GET', `/queues/${q.id}`)).id, q.id);
    assert.equal(ok(await api.frank!('GET', `/queues/${q.id}/collaborators`)).yourRole, 'viewer');
    fails(await api.frank!('POST', `/queues/${q.id}/tracks`, { tracks: ['f'] }), 403, 'forbidden');
    const j = ok(await api.frank!('POST', `/queues/${q.id}/join`, {}));
    assert.deepEqual(
      j.events.map((e: any) => e.data),
      [{ userId: 'frank', role: 'viewer', via: 'public' }],
    );
    assert.equal(ok(await api.frank!('GET', '/queues')).queues.find((x: any) => x.id === q.id)?.role, 'viewer');
    const p = await party();
    fails(await api.frank!('POST', `/queues/${p.id}/join`, {}), 404, 'queue_not_found');
  });

  it('[CO6] GET /queues/{id}/history: who did what, when, newest first, paged', async () => {
    const q = await party();
    for (let i = 0; i < 4; i++) ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: [`b${i}`] }));
    const bobItem = ok(await api.alice!('GET', `/queues/${q.id}`)).items.find((i: any) => i.trackId === 'b0').itemId;
    ok(await api.bob!('DELETE', `/queues/${q.id}/items/${bobItem}`));
    const version = ok(await api.alice!('GET', `/queues/${q.id}`)).version;
    const seen: any[] = [];
    let before: number | null = null;
    for (let page = 0; page < 10; page++) {
      const h: any = ok(await api.carol!('GET', `/queues/${q.id}/history?limit=4${before ? `&before=${before}` : ''}`));
      assert.ok(h.entries.length <= 4);
      seen.push(...h.entries);
      before = h.nextBefore;
      if (before === null) break;
    }
    assert.deepEqual(
      seen.map((e) => e.sequenceNumber),
      Array.from({ length: version }, (_, i) => version - i),
      'every event once, newest first',
    );
    const newest = seen[0];
    assert.equal(newest.action, 'remove_track');
    assert.equal(newest.userId, 'bob');
    assert.equal(newest.itemId, bobItem);
    assert.ok(!Number.isNaN(Date.parse(newest.timestamp)));
    assert.deepEqual(
      seen
        .filter((e) => e.action === 'add_track' && e.userId === 'bob')
        .map((e) => e.trackId)
        .reverse(),
      ['b0', 'b1', 'b2', 'b3'],
    );
    assert.equal(seen.at(-1).action, 'queue_created');
    fails(await api.erin!('GET', `/queues/${q.id}/history`), 404, 'queue_not_found');
  });

  it('[CO8] votes, and voteOrder puts the upcoming items in score order', async () => {
    const q = await party();
    ok(await api.alice!('POST', `/queues/${q.id}/tracks`, { tracks: ['x', 'y'] }));
    const ids = Object.fromEntries(ok(await api.alice!('GET', `/queues/${q.id}`)).items.map((i: any) => [i.trackId, i.itemId]));
    fails(await api.carol!('POST', `/queues/${q.id}/items/${ids.y}/vote`, { vote: 1 }), 403, 'forbidden');
    ok(await api.bob!('POST', `/queues/${q.id}/items/${ids.y}/vote`, { vote: 1 }));
    ok(await api.alice!('POST', `/queues/${q.id}/items/${ids.y}/vote`, { vote: 1 }));
    ok(await api.bob!('POST', `/queues/${q.id}/items/${ids.a1}/vote`, { vote: -1 }));
    const voted = ok(await api.alice!('GET', `/queues/${q.id}`));
    assert.deepEqual(
      voted.items.map((i: any) => i.trackId),
      ['a1', 'a2', 'x', 'y'],
      'without voteOrder nothing moves',
    );
    assert.deepEqual(
      voted.votes.map((v: any) => [v.itemId, v.score]),
      [
        [ids.a1, -1],
        [ids.y, 2],
      ],
    );
    fails(await api.bob!('PUT', `/queues/${q.id}/settings`, { voteOrder: true }), 403, 'forbidden');
    const s = ok(await api.alice!('PUT', `/queues/${q.id}/settings`, { voteOrder: true }));
    assert.deepEqual(s.queue.settings, { fairOrder: false, voteOrder: true });
    assert.deepEqual(await tracksOf(q.id), ['y', 'a2', 'x', 'a1']);
    const r = ok(await api.bob!('POST', `/queues/${q.id}/items/${ids.x}/vote`, { vote: 1 }));
    assert.deepEqual(
      r.events.map((e: any) => e.type),
      ['item_voted', 'item_moved'],
    );
    assert.deepEqual(await tracksOf(q.id), ['y', 'x', 'a2', 'a1']);
    ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['new'] }));
    assert.deepEqual(await tracksOf(q.id), ['y', 'x', 'a2', 'new', 'a1'], 'a new item ranks with score 0');
  });

  it('[CO7] fairOrder interleaves contributors round-robin', async () => {
    const q = ok(await api.alice!('POST', '/queues/collaborative', { name: 'fair', collaborators: ['bob', 'carol', 'dave'] }), 201).queue;
    ok(await api.alice!('PUT', `/queues/${q.id}/settings`, { fairOrder: true }));
    ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['b1', 'b2', 'b3', 'b4'] }));
    ok(await api.carol!('POST', `/queues/${q.id}/tracks`, { tracks: ['c1', 'c2'] }));
    ok(await api.dave!('POST', `/queues/${q.id}/tracks`, { tracks: ['d1'] }));
    ok(await api.carol!('POST', `/queues/${q.id}/tracks`, { tracks: ['c3'] }));
    assert.deepEqual(await tracksOf(q.id), ['b1', 'c1', 'd1', 'b2', 'c2', 'b3', 'c3', 'b4']);
  });

  it('[CO9] limits: collaborators per queue (422) and adds per user per minute (429 with retryAfterSeconds)', async () => {
    const q = ok(await api.alice!('POST', '/queues/collaborative', { name: 'limits', collaborators: ['bob'] }), 201).queue;
    for (let i = 0; i < MAX_COLLABORATORS - 1; i++)
      ok(await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: `extra${i}`, permissionLevel: 'viewer' }));
    const e = fails(
      await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: 'one-too-many', permissionLevel: 'viewer' }),
      422,
      'too_many_collaborators',
    );
    assert.equal(e.details.limit, MAX_COLLABORATORS);
    fails(
      await api.alice!('POST', '/queues/collaborative', { name: 'x', collaborators: Array.from({ length: MAX_COLLABORATORS + 1 }, (_, i) => `u${i}`) }),
      422,
      'too_many_collaborators',
    );
    ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: Array.from({ length: ADDS_PER_MINUTE - 1 }, (_, i) => `b${i}`) }));
    ok(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['last'] }));
    const limited = fails(await api.bob!('POST', `/queues/${q.id}/tracks`, { tracks: ['over'] }), 429, 'rate_limited');
    assert.ok(limited.details.retryAfterSeconds >= 58 && limited.details.retryAfterSeconds <= 60, JSON.stringify(limited.details));
    ok(await api.alice!('POST', `/queues/${q.id}/tracks`, { tracks: Array.from({ length: ADDS_PER_MINUTE + 2 }, (_, i) => `o${i}`) }), 200);
    // The socket command meets the same limit.
    const s = await open(server.url, `/ws/queues/${q.id}`, { token: tokens.bob });
    await s.waitFor((m) => m.type === 'snapshot');
    const err = await s.command('add_tracks', { tracks: ['ws'] });
    assert.equal(err.error?.code, 'rate_limited');
    assert.equal(typeof err.error.details.retryAfterSeconds, 'number');
  });

  it('[CO10] a move or remove of an item someone just removed is 409 item_gone; an unknown id 404', async () => {
    const q = await party();
    ok(await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: 'dave', permissionLevel: 'admin' }));
    const [first] = q.items;
    const [a, b] = await Promise.all([
      api.alice!('DELETE', `/queues/${q.id}/items/${first!.itemId}`),
      api.dave!('POST', `/queues/${q.id}/items/${first!.itemId}/move`, { position: 1 }),
    ]);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.ok(b.status === 200 || (b.status === 409 && b.body.error.code === 'item_gone'), JSON.stringify(b.body));
    fails(await api.dave!('POST', `/queues/${q.id}/items/${first!.itemId}/move`, { position: 0 }), 409, 'item_gone');
    fails(await api.dave!('DELETE', `/queues/${q.id}/items/${first!.itemId}`), 409, 'item_gone');
    fails(await api.dave!('DELETE', `/queues/${q.id}/items/never-was`), 404, 'item_not_found');
    assert.deepEqual(await tracksOf(q.id), ['a2']);
  });

  it('[CO11][CO13] queue sockets: collaboration events flow, presence notes, GET presence, acks carry the events', async () => {
    const q = await party();
    const watcher = await open(server.url, `/ws/queues/${q.id}`, { token: tokens.alice, query: { deviceId: 'alice-phone' } });
    const snap = await watcher.waitFor((m) => m.type === 'snapshot');
    assert.deepEqual(Object.keys(snap.data.itemKeys).sort(), q.items.map((i) => i.itemId).sort(), 'the snapshot carries the order keys');
    await watcher.waitFor((m) => m.type === 'presence' && m.userId === 'alice' && m.online === true);
    const bob = await open(server.url, `/ws/queues/${q.id}`, { token: tokens.bob, query: { deviceId: 'bob-laptop' } });
    await bob.waitFor((m) => m.type === 'snapshot');
    const on = await watcher.waitFor((m) => m.type === 'presence' && m.userId === 'bob' && m.online === true);
    assert.equal(on.queueId, q.id);
    assert.equal(on.deviceId, 'bob-laptop');
    const p = ok(await api.carol!('GET', `/queues/${q.id}/presence`));
    assert.deepEqual(p.viewers.map((v: any) => [v.userId, v.deviceIds]).sort(), [
      ['alice', ['alice-phone']],
      ['bob', ['bob-laptop']],
    ]);
    const ack = await bob.command('add_tracks', { tracks: ['from-bob'] });
    assert.equal(ack.type, 'ack');
    assert.equal(ack.events[0].data.trackId, 'from-bob');
    assert.equal(typeof ack.events[0].data.key, 'string');
    const added = await watcher.waitFor((m) => m.type === 'item_added' && m.data.trackId === 'from-bob');
    assert.equal(added.userId, 'bob');
    ok(await api.alice!('POST', `/queues/${q.id}/collaborators`, { userId: 'dave', permissionLevel: 'viewer' }));
    const joined = await bob.waitFor((m) => m.type === 'collaborator_joined');
    assert.deepEqual(joined.data, { userId: 'dave', role: 'viewer', via: 'added' });
    assert.deepEqual(
      eventsOf(bob, 'queue').map((m) => m.sequenceNumber),
      [joined.sequenceNumber],
      'its own add came as an ack only',
    );
    await bob.close();
    await watcher.waitFor((m) => m.type === 'presence' && m.userId === 'bob' && m.online === false);
    assert.deepEqual(
      ok(await api.carol!('GET', `/queues/${q.id}/presence`)).viewers.map((v: any) => v.userId),
      ['alice'],
    );
    fails(await api.erin!('GET', `/queues/${q.id}/presence`), 404, 'queue_not_found');
  });

  it('[CO12] losing access closes the queue socket with 4403 and ends a sync subscription', async () => {
    const waitClosed = (t: TestSocket) => Promise.race([t.closed, sleep(5000).then(() => null)]);
    // A private queue: the removed collaborator is cut off, and told why.
    const priv = await party();
    const bobPriv = await open(server.url, `/ws/queues/${priv.id}`, { token: tokens.bob });
    await bobPriv.waitFor((m) => m.type === 'snapshot');
    ok(await api.alice!('DELETE', `/queues/${priv.id}/collaborators/bob`));
    assert.equal((await waitClosed(bobPriv))?.code, 4403);
    assert.ok(
      bobPriv.messages.some((m) => m.type === 'collaborator_left' && m.data.userId === 'bob'),
      'told why',
    );

    // A public queue: removed, bob can still read it as anyone can; once private, he and a stranger are cut off.
    const q = await party({ isPublic: true });
    const bob = await open(server.url, `/ws/queues/${q.id}`, { token: tokens.bob });
    await bob.waitFor((m) => m.type === 'snapshot');
    const stranger = await open(server.url, `/ws/queues/${q.id}`, { token: tokens.frank });
    await stranger.waitFor((m) => m.type === 'snapshot');
    const carolSync = await open(server.url, '/ws/sync/carol', { token: tokens.carol });
    await carolSync.waitFor((m) => m.type === 'hello');
    carolSync.send({ type: 'subscribe', queueId: q.id });
    await carolSync.waitFor((m) => m.type === 'subscribed');
    ok(await api.alice!('DELETE', `/queues/${q.id}/collaborators/bob`));
    await bob.waitFor((m) => m.type === 'collaborator_left' && m.data.userId === 'bob');
    await sleep(300); // and the socket is not closed in the next 300 ms
    assert.equal(bob.ws.readyState, bob.ws.OPEN, 'a public queue stays readable');
    ok(await api.alice!('PUT', `/queues/${q.id}/visibility`, { isPublic: false }));
    assert.equal((await waitClosed(bob))?.code, 4403);
    assert.equal((await waitClosed(stranger))?.code, 4403, 'a public reader of a queue gone private is cut off');
    assert.equal(carolSync.ws.readyState, carolSync.ws.OPEN, 'a member stays');
    ok(await api.alice!('DELETE', `/queues/${q.id}/collaborators/carol`));
    const revoked = await carolSync.waitFor((m) => m.type === 'error' && m.error.code === 'access_revoked');
    assert.equal(revoked.error.details.queueId, q.id);
    assert.equal(revoked.status, 403);
    assert.equal(carolSync.ws.readyState, carolSync.ws.OPEN, 'the sync socket itself stays');
    const seen = carolSync.messages.length;
    ok(await api.alice!('POST', `/queues/${q.id}/tracks`, { tracks: ['secret'] }));
    await sleep(300); // no event of that queue comes in the next 300 ms
    assert.equal(carolSync.messages.slice(seen).filter((m) => m.queueId === q.id && m.type === 'item_added').length, 0, 'no more events of that queue');
  });
});
