// The permission matrix of collaborative queues ([CO1]-[CO5]), exhaustively: every role
// (owner, admin, contributor, viewer, stranger, stranger on a public queue) times every
// operation, over REST and over WebSocket commands, against a real server on each store.
// Each case gets a fresh queue, so one case's effect never decides another's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';

const ROLES = ['owner', 'admin', 'contributor', 'viewer', 'stranger', 'public-stranger'] as const;
type RoleName = (typeof ROLES)[number];
const USER: Record<RoleName, string> = { owner: 'own', admin: 'adm', contributor: 'con', viewer: 'vie', stranger: 'str', 'public-stranger': 'pub' };

type Outcome = 'ok' | 'forbidden' | 'not_your_item' | 'queue_not_found' | 'collaborator_not_found' | 'owner_cannot_leave';
const STATUS: Record<Exclude<Outcome, 'ok'>, number> = {
  forbidden: 403,
  not_your_item: 403,
  queue_not_found: 404,
  collaborator_not_found: 404,
  owner_cannot_leave: 409,
};
type Row = Record<RoleName, Outcome>;
const row = (owner: Outcome, admin: Outcome, contributor: Outcome, viewer: Outcome, stranger: Outcome, pub: Outcome): Row => ({
  owner,
  admin,
  contributor,
  viewer,
  stranger,
  'public-stranger': pub,
});

const READ = row('ok', 'ok', 'ok', 'ok', 'queue_not_found', 'ok');
const CONTRIBUTE = row('ok', 'ok', 'ok', 'forbidden', 'queue_not_found', 'forbidden');
const OTHERS_ITEM = row('ok', 'ok', 'not_your_item', 'forbidden', 'queue_not_found', 'forbidden');
const ADMIN = row('ok', 'ok', 'forbidden', 'forbidden', 'queue_not_found', 'forbidden');
const OWNER = row('ok', 'forbidden', 'forbidden', 'forbidden', 'queue_not_found', 'forbidden');

interface Fixture {
  id: string;
  isPublic: boolean;
  /** Added by the owner. */
  o1: string;
  /** Added by the contributor. */
  c1: string;
  version: number;
}

type Rest = (f: Fixture) => [method: string, path: string, body?: unknown];
type Ws = (f: Fixture) => [op: string, args: Record<string, unknown>];

interface Op {
  name: string;
  expect: Row;
  rest?: Rest;
  ws?: Ws;
}

const q = (f: Fixture) => `/queues/${f.id}`;
const OPS: Op[] = [
  { name: 'read the queue', expect: READ, rest: (f) => ['GET', q(f)] },
  { name: 'read the event log', expect: READ, rest: (f) => ['GET', `${q(f)}/events`] },
  { name: 'read the history', expect: READ, rest: (f) => ['GET', `${q(f)}/history`] },
  { name: 'list collaborators', expect: READ, rest: (f) => ['GET', `${q(f)}/collaborators`] },
  { name: 'see presence', expect: READ, rest: (f) => ['GET', `${q(f)}/presence`] },
  { name: 'add tracks', expect: CONTRIBUTE, rest: (f) => ['POST', `${q(f)}/tracks`, { tracks: ['n1'] }], ws: () => ['add_tracks', { tracks: ['n1'] }] },
  { name: "remove the contributor's item", expect: CONTRIBUTE, rest: (f) => ['DELETE', `${q(f)}/items/${f.c1}`], ws: (f) => ['remove_item', { itemId: f.c1 }] },
  {
    name: "remove the owner's item",
    expect: OTHERS_ITEM,
    rest: (f) => ['POST', `${q(f)}/items/remove`, { itemIds: [f.o1] }],
    ws: (f) => ['remove_items', { itemIds: [f.o1] }],
  },
  {
    name: "move the contributor's item",
    expect: CONTRIBUTE,
    rest: (f) => ['POST', `${q(f)}/items/${f.c1}/move`, { position: 0 }],
    ws: (f) => ['move_item', { itemId: f.c1, position: 0 }],
  },
  {
    name: "move the owner's item",
    expect: OTHERS_ITEM,
    rest: (f) => ['POST', `${q(f)}/items/${f.o1}/move`, { position: 5 }],
    ws: (f) => ['move_item', { itemId: f.o1, position: 5 }],
  },
  { name: 'vote', expect: CONTRIBUTE, rest: (f) => ['POST', `${q(f)}/items/${f.o1}/vote`, { vote: 1 }], ws: (f) => ['vote_item', { itemId: f.o1, vote: 1 }] },
  { name: 'clear', expect: ADMIN, rest: (f) => ['POST', `${q(f)}/clear`, {}], ws: () => ['clear', {}] },
  { name: 'shuffle', expect: ADMIN, rest: (f) => ['PUT', `${q(f)}/shuffle`, { shuffle: true }], ws: () => ['set_shuffle', { shuffle: true }] },
  { name: 'repeat', expect: ADMIN, rest: (f) => ['PUT', `${q(f)}/repeat`, { repeat: 'all' }], ws: () => ['set_repeat', { repeat: 'all' }] },
  { name: 'set the current item', expect: ADMIN, rest: (f) => ['PUT', `${q(f)}/current`, { itemId: f.o1 }], ws: (f) => ['set_current', { itemId: f.o1 }] },
  { name: 'next', expect: ADMIN, rest: (f) => ['POST', `${q(f)}/next`, {}], ws: () => ['next', {}] },
  { name: 'previous', expect: ADMIN, rest: (f) => ['POST', `${q(f)}/previous`, {}], ws: () => ['previous', {}] },
  { name: 'rename', expect: ADMIN, rest: (f) => ['PATCH', q(f), { name: 'renamed' }], ws: () => ['update_queue', { name: 'renamed' }] },
  { name: 'change settings', expect: ADMIN, rest: (f) => ['PUT', `${q(f)}/settings`, { fairOrder: true }], ws: () => ['update_settings', { fairOrder: true }] },
  {
    name: 'add a viewer',
    expect: ADMIN,
    rest: (f) => ['POST', `${q(f)}/collaborators`, { userId: 'newbie', permissionLevel: 'viewer' }],
    ws: () => ['add_collaborator', { userId: 'newbie', permissionLevel: 'viewer' }],
  },
  {
    name: 'add an admin',
    expect: OWNER,
    rest: (f) => ['POST', `${q(f)}/collaborators`, { userId: 'newbie', permissionLevel: 'admin' }],
    ws: () => ['add_collaborator', { userId: 'newbie', permissionLevel: 'admin' }],
  },
  {
    name: "change a contributor's level",
    expect: ADMIN,
    rest: (f) => ['PUT', `${q(f)}/collaborators/extra`, { permissionLevel: 'viewer' }],
    ws: () => ['set_collaborator_role', { userId: 'extra', permissionLevel: 'viewer' }],
  },
  {
    name: 'remove a contributor',
    expect: ADMIN,
    rest: (f) => ['DELETE', `${q(f)}/collaborators/extra`],
    ws: () => ['remove_collaborator', { userId: 'extra' }],
  },
  {
    name: "change the admin's level",
    expect: OWNER,
    rest: (f) => ['PUT', `${q(f)}/collaborators/adm`, { permissionLevel: 'viewer' }],
    ws: () => ['set_collaborator_role', { userId: 'adm', permissionLevel: 'viewer' }],
  },
  {
    name: 'leave',
    expect: row('owner_cannot_leave', 'ok', 'ok', 'ok', 'queue_not_found', 'collaborator_not_found'),
    rest: (f) => ['POST', `${q(f)}/leave`, {}],
    ws: () => ['leave_queue', {}],
  },
  {
    name: 'join (public)',
    expect: row('ok', 'ok', 'ok', 'ok', 'queue_not_found', 'ok'),
    rest: (f) => ['POST', `${q(f)}/join`, {}],
    ws: () => ['join_queue', {}],
  },
  {
    name: 'change visibility',
    expect: OWNER,
    rest: (f) => ['PUT', `${q(f)}/visibility`, { isPublic: !f.isPublic }],
    ws: (f) => ['set_visibility', { isPublic: !f.isPublic }],
  },
  {
    name: 'transfer ownership',
    expect: OWNER,
    rest: (f) => ['POST', `${q(f)}/transfer`, { userId: 'extra' }],
    ws: () => ['transfer_ownership', { userId: 'extra' }],
  },
  { name: 'delete', expect: OWNER, rest: (f) => ['DELETE', q(f)], ws: () => ['delete_queue', {}] },
  { name: 'make an invite code', expect: ADMIN, rest: (f) => ['POST', `${q(f)}/invites`, { role: 'viewer' }] },
  { name: 'list invite codes', expect: ADMIN, rest: (f) => ['GET', `${q(f)}/invites`] },
];

const describeRow = (r: Row) => ROLES.map((role) => `${role} ${r[role] === 'ok' ? 'ok' : STATUS[r[role] as Exclude<Outcome, 'ok'>]}`).join(', ');

for (const { kind, skip } of storeKinds) {
  describe(`[CO1] permission matrix on ${kind}`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    const api: Record<string, ReturnType<typeof client>> = {};
    const tokens: Record<string, string> = {};
    const sync: Record<string, TestSocket> = {};

    before(async () => {
      server = await startServerOn(kind, { env: { WS_MAX_MESSAGES_PER_SECOND: '100000' } });
      for (const u of Object.values(USER)) {
        tokens[u] = await mintToken(server, u);
        api[u] = client(server.url, tokens[u]);
        sync[u] = await connect(server.url, `/ws/sync/${u}`, { token: tokens[u] });
        await sync[u].waitFor((m) => m.type === 'hello');
      }
    });
    after(async () => {
      for (const s of Object.values(sync)) await s.close().catch(() => undefined);
      await server?.cleanup();
    });

    /** own owns it; adm admin, con and extra contributors, vie viewer; o1 added by own, c1 by con. */
    async function fixture(isPublic: boolean): Promise<Fixture> {
      const own = api.own!;
      const created = await own('POST', '/queues/collaborative', {
        name: 'matrix',
        tracks: ['o1', 'o2'],
        isPublic,
        collaborators: ['adm', 'con', 'vie', 'extra'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.queue.id as string;
      for (const [u, level] of [
        ['adm', 'admin'],
        ['vie', 'viewer'],
      ])
        assert.equal((await own('PUT', `/queues/${id}/collaborators/${u}`, { permissionLevel: level })).status, 200);
      const c = await api.con!('POST', `/queues/${id}/tracks`, { tracks: ['c1'] });
      assert.equal(c.status, 200, JSON.stringify(c.body));
      return { id, isPublic, o1: created.body.queue.items[0].itemId, c1: c.body.queue.items.at(-1).itemId, version: c.body.queue.version };
    }

    const fixtures = () => Promise.all(ROLES.map((role) => fixture(role === 'public-stranger')));

    async function versionOf(f: Fixture): Promise<number> {
      const r = await api.own!('GET', `/queues/${f.id}/events?since=0&limit=1`);
      assert.equal(r.status, 200);
      return r.body.version;
    }

    for (const op of OPS) {
      if (op.rest) {
        it(`[CO1] REST ${op.name}: ${describeRow(op.expect)}`, async () => {
          const fx = await fixtures();
          await Promise.all(
            ROLES.map(async (role, i) => {
              const f = fx[i]!;
              const [method, path, body] = op.rest!(f);
              const res = await api[USER[role]]!(method, path, body);
              const want = op.expect[role];
              const what = `${role} ${method} ${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
              if (want === 'ok') {
                assert.ok(res.status >= 200 && res.status < 300, what);
              } else {
                assert.equal(res.status, STATUS[want], what);
                assert.equal(res.body?.error?.code, want, what);
                assert.equal(await versionOf(f), f.version, `${role}: a refused ${op.name} appended nothing`);
              }
            }),
          );
        });
      }
      if (op.ws) {
        it(`[CO1][RT6] WebSocket ${op.name}: ${describeRow(op.expect)}`, async () => {
          const fx = await fixtures();
          await Promise.all(
            ROLES.map(async (role, i) => {
              const f = fx[i]!;
              const [wsOp, args] = op.ws!(f);
              const answer = await sync[USER[role]]!.command(wsOp, args, { queueId: f.id });
              const want = op.expect[role];
              const what = `${role} ${wsOp}: ${JSON.stringify(answer).slice(0, 200)}`;
              if (want === 'ok') {
                assert.equal(answer.type, 'ack', what);
              } else {
                assert.equal(answer.type, 'error', what);
                assert.equal(answer.error.code, want, what);
                assert.equal(await versionOf(f), f.version, `${role}: a refused ${wsOp} appended nothing`);
              }
            }),
          );
        });
      }
    }

    it(`[CO1][RT10] WebSocket read: open /ws/queues/{id}: ${describeRow(READ)}`, async () => {
      const fx = await fixtures();
      await Promise.all(
        ROLES.map(async (role, i) => {
          const f = fx[i]!;
          if (READ[role] === 'ok') {
            const s = await connect(server.url, `/ws/queues/${f.id}`, { token: tokens[USER[role]] });
            const snap = await s.waitFor((m) => m.type === 'snapshot');
            assert.equal(snap.data.id, f.id, role);
            await s.close();
          } else {
            await assert.rejects(connect(server.url, `/ws/queues/${f.id}`, { token: tokens[USER[role]] }), (e: any) => e.statusCode === 404, role);
          }
        }),
      );
    });

    it(`[CO1] WebSocket subscribe on the sync socket: ${describeRow(READ)}`, async () => {
      const fx = await fixtures();
      await Promise.all(
        ROLES.map(async (role, i) => {
          const f = fx[i]!;
          const s = sync[USER[role]]!;
          const from = s.messages.length;
          s.send({ type: 'subscribe', queueId: f.id });
          const m = await s.waitFor(
            (x) => (x.type === 'subscribed' && x.queueId === f.id) || (x.type === 'error' && x.error.details?.queueId === f.id),
            5000,
            from,
          );
          if (READ[role] === 'ok') assert.equal(m.type, 'subscribed', `${role}: ${JSON.stringify(m)}`);
          else assert.equal(m.error?.code, 'queue_not_found', role);
          s.send({ type: 'unsubscribe', queueId: f.id });
        }),
      );
    });
  });
}
