// Convergence of a collaborative queue under concurrent edits ([CO10], [RT2]-[RT7]):
// 20 clients (real sockets, half on each of two instances on Postgres + Redis) make
// random adds, removes and moves through socket commands for a few seconds. Each keeps
// a local state built only from its snapshot, the events it receives and its own acks.
// Afterwards every local state equals the server's, and the items are exactly those the
// accepted operations imply: nothing lost, nothing duplicated. Seeded: QS_SEED=<n>
// replays a run; a failure prints its seed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { evolve, toView, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { mulberry32 } from '../helpers/domain.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { client, mintToken, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { redisSkipReason } from '../helpers/redis.ts';

const redisSkip = redisSkipReason;
const CLIENTS = 20;
const ADMINS = 9; // clients 1..9 are admins (any item), 10..19 contributors (their own items); client 0 is the owner
const RUN_MS = Number(process.env.QS_CONVERGENCE_MS ?? 3000);
/** Answers a command may get when another client got there first. */
const RACE_ERRORS = new Set(['item_gone', 'anchor_not_found']);

/** A client's own view of the queue: snapshot + received events + its acks, folded in sequence order. */
class LocalQueue {
  state: QueueState | null = null;
  private readonly pending = new Map<number, QueueEvent>();

  fromSnapshot(msg: any): void {
    const d = msg.data;
    const votes = new Map<string, any[]>((d.votes ?? []).map((v: any) => [v.itemId, v.votes]));
    this.state = {
      id: d.id,
      type: d.type,
      name: d.name,
      ownerId: d.ownerId,
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
      version: msg.sequenceNumber,
      items: d.items.map((i: any) => ({
        ...i,
        ...d.itemKeys[i.itemId],
        ...(votes.has(i.itemId) ? { votes: votes.get(i.itemId) } : {}),
      })),
      currentItemId: d.currentItemId,
      shuffle: d.shuffle,
      repeat: d.repeat,
      history: d.history,
      metadata: d.metadata,
      deleted: false,
      collaborators: d.collaborators,
      isPublic: d.isPublic,
      settings: d.settings,
      goneItemIds: [],
    };
    this.drain();
  }

  /** A stream event (timestamp in epoch ms) or an ack's event (ISO): the same event. */
  receive(e: any): void {
    const ts = typeof e.timestamp === 'number' ? new Date(e.timestamp).toISOString() : e.timestamp;
    this.pending.set(e.sequenceNumber, {
      type: e.type,
      data: e.data,
      queueId: e.queueId,
      sequenceNumber: e.sequenceNumber,
      userId: e.userId,
      deviceId: e.deviceId,
      timestamp: ts,
    } as QueueEvent);
    this.drain();
  }

  private drain(): void {
    if (!this.state) return;
    for (;;) {
      const next = this.pending.get(this.state.version + 1);
      for (const k of this.pending.keys()) if (k <= this.state.version) this.pending.delete(k);
      if (!next) return;
      this.pending.delete(next.sequenceNumber);
      this.state = evolve(this.state, next);
    }
  }
}

interface Client {
  i: number;
  user: string;
  role: 'owner' | 'admin' | 'contributor';
  sock: TestSocket;
  local: LocalQueue;
}

describe('[CO10] convergence: 20 clients on two instances (Postgres + Redis)', { skip: pgSkipReason || redisSkip }, () => {
  let cluster: Cluster;
  let a: RunningServer;
  let b: RunningServer;
  const clients: Client[] = [];

  before(async () => {
    cluster = await startCluster('qs-conv', { LIMIT_ADDS_PER_MINUTE: '100000', WS_MAX_MESSAGES_PER_SECOND: '100000' });
    ({ a, b } = cluster);
  });

  after(async () => {
    for (const c of clients) await c.sock.close().catch(() => undefined);
    await cluster?.stop();
  });

  it('[CO10][RT4][RT7] random concurrent adds, removes and moves: every client equals the server, nothing lost or duplicated', async () => {
    const seed = Number(process.env.QS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    try {
      await run(seed);
    } catch (e) {
      throw new Error(`convergence failed with seed ${seed} (rerun: QS_SEED=${seed}): ${(e as Error).message}`, { cause: e });
    }
  });

  async function run(seed: number) {
    const users = Array.from({ length: CLIENTS }, (_, i) => `conv${i}`);
    const tokens = await Promise.all(users.map((u) => mintToken(a, u)));
    const owner = client(a.url, tokens[0]);
    const created = await owner('POST', '/queues/collaborative', {
      name: 'convergence',
      tracks: ['seed-1', 'seed-2', 'seed-3'],
      collaborators: users.slice(1),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const q = created.body.queue;
    for (let i = 1; i <= ADMINS; i++) {
      const r = await owner('PUT', `/queues/${q.id}/collaborators/${users[i]}`, { permissionLevel: 'admin' });
      assert.equal(r.status, 200);
    }
    const initial = new Set<string>(q.items.map((i: any) => i.itemId));

    for (let i = 0; i < CLIENTS; i++) {
      const local = new LocalQueue();
      const sock = await connect((i % 2 ? b : a).url, `/ws/queues/${q.id}`, { token: tokens[i], query: { deviceId: `dev-${i}` } });
      const take = (m: any) => {
        if (m.type === 'snapshot') local.fromSnapshot(m);
        else if (m.stream === 'queue' && typeof m.sequenceNumber === 'number') local.receive(m);
      };
      // Messages that came with the upgrade are already recorded; the rest as they come.
      for (const m of sock.messages) take(m);
      sock.ws.on('message', (raw) => take(JSON.parse(String(raw))));
      clients.push({ i, user: users[i]!, role: i === 0 ? 'owner' : i <= ADMINS ? 'admin' : 'contributor', sock, local });
    }
    for (const c of clients) await c.sock.waitFor((m) => m.type === 'snapshot');

    const added = new Set<string>();
    const removed = new Set<string>();
    const errors = new Map<string, number>();
    let accepted = 0;
    const deadline = Date.now() + RUN_MS;

    await Promise.all(
      clients.map(async (c) => {
        const rnd = mulberry32(seed + c.i * 7919);
        const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
        let n = 0;
        while (Date.now() < deadline) {
          const items = [...c.local.state!.items];
          const mine = c.role === 'contributor' ? items.filter((i) => i.addedBy === c.user) : items;
          const r = rnd();
          let op: string;
          let args: Record<string, unknown>;
          if (r < 0.45 || mine.length === 0) {
            op = 'add_tracks';
            const tracks = [`${c.user}-${n++}`, ...(rnd() < 0.2 ? [`${c.user}-${n++}`] : [])];
            const place = rnd();
            args =
              place < 0.5 || items.length === 0
                ? { tracks }
                : place < 0.75
                  ? { tracks, afterItemId: pick(items)!.itemId }
                  : { tracks, position: Math.floor(rnd() * (items.length + 1)) };
          } else if (r < 0.7) {
            op = 'remove_item';
            args = { itemId: pick(mine)!.itemId };
          } else {
            op = 'move_item';
            const item = pick(mine)!;
            const others = items.filter((i) => i.itemId !== item.itemId);
            args =
              rnd() < 0.5 || others.length === 0
                ? { itemId: item.itemId, position: Math.floor(rnd() * (items.length + 1)) }
                : { itemId: item.itemId, afterItemId: pick(others)!.itemId };
          }
          const answer = await c.sock.command(op, args);
          if (answer.type === 'ack') {
            accepted++;
            for (const e of answer.events) {
              c.local.receive(e);
              if (e.type === 'item_added') added.add(e.data.itemId);
              if (e.type === 'item_removed') removed.add(e.data.itemId);
            }
          } else {
            const code = answer.error?.code;
            errors.set(code, (errors.get(code) ?? 0) + 1);
            assert.ok(RACE_ERRORS.has(code), `client ${c.i} (${c.role}) ${op} ${JSON.stringify(args)}: unexpected ${JSON.stringify(answer.error)}`);
          }
          await sleep(Math.floor(rnd() * 15)); // random pacing of the clients, on purpose
        }
      }),
    );

    // The whole queue in one window ([QW2]): it may pass the default 200 items.
    const final = (await client(b.url, tokens[0])('GET', `/queues/${q.id}?limit=1000`)).body;
    for (const c of clients) {
      await waitFor(() => c.local.state!.version >= final.version, {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: () => `client ${c.i} stuck at version ${c.local.state!.version} of ${final.version}`,
      });
      assert.deepEqual(toView(c.local.state!, { limit: 1000 }), final, `client ${c.i} (instance ${c.i % 2 ? 'B' : 'A'}) differs from the server`);
    }

    // The item set is what the accepted operations imply.
    const expected = new Set([...initial, ...added].filter((id) => !removed.has(id)));
    const ids: string[] = final.items.map((i: any) => i.itemId);
    assert.equal(new Set(ids).size, ids.length, 'an item appears twice');
    assert.deepEqual(new Set(ids), expected, 'lost or invented items');
    const trackIds: string[] = final.items.map((i: any) => i.trackId);
    assert.equal(new Set(trackIds).size, trackIds.length, 'a track was added twice');
    assert.ok(accepted > CLIENTS * 5, `too little happened: ${accepted} accepted`);
    // [CO11] Presence is shared through Redis: either instance lists the sockets of both.
    for (const server of [a, b]) {
      const p = await client(server.url, tokens[1])('GET', `/queues/${q.id}/presence`);
      assert.equal(p.status, 200);
      assert.deepEqual(p.body.viewers.map((v: any) => v.userId).sort(), [...users].sort(), `presence on ${server.url}`);
    }
    process.stdout.write(
      `# convergence seed ${seed}: ${accepted} accepted, errors ${JSON.stringify(Object.fromEntries(errors))}, ${final.items.length} items, version ${final.version}\n`,
    );
  }
});
