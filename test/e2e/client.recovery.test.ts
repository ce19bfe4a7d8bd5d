// The client SDK through failures: the server is killed (SIGKILL) mid-stream and started
// again, and every mirror recovers with no gap and no duplicate; a server that stops
// answering (SIGSTOP) is noticed by the heartbeat watchdog; five clients on two
// instances (Postgres + Redis) editing one queue converge.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket as WsWebSocket } from 'ws';
import { QueueClient, QueueServiceError, type QueueMirror, type WebSocketCtor } from '@queue-service/client';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { freePort, redisSkipReason } from '../helpers/redis.ts';
import { mulberry32 } from '../helpers/random.ts';
import { client, mintToken, startServer, type RunningServer } from '../helpers/server.ts';
import { mirrorView, serverView, sleep, until } from '../helpers/client.ts';

const fast = { reconnect: { baseMs: 50, maxMs: 400 } };

/** Every sequence number a mirror folded in, from its change events. */
function recordSeqs(q: QueueMirror): number[] {
  const seen: number[] = [];
  q.on('change', (_s, events) => seen.push(...events.map((e) => e.sequenceNumber)));
  return seen;
}

describe('client SDK: the server is killed mid-stream', () => {
  let port: number;
  let dataDir: string;
  const adminKey = randomBytes(16).toString('hex');
  let server: RunningServer;
  const clients: QueueClient[] = [];

  const start = async () => (server = await startServer({ dataDir, adminKey, env: { PORT: String(port), WS_HEARTBEAT_MS: '400' } }));
  before(async () => {
    port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'qs-client-kill-'));
    await start();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('[SDK][RT2] SIGKILL and restart: every mirror resumes with no gap and no duplicate, own edits made meanwhile land once', async () => {
    const token = await mintToken(server, 'kim');
    const api = client(server.url, token);
    const created = await api('POST', '/queues', { name: 'kill', tracks: ['k0'] });
    const queueId = created.body.queue.id as string;
    const mirrors: QueueMirror[] = [];
    const seqs: number[][] = [];
    for (const d of ['k-a', 'k-b', 'k-c']) {
      const c = new QueueClient({ baseUrl: server.url, token, deviceId: d, ...fast });
      clients.push(c);
      const q = await c.openQueue(queueId);
      mirrors.push(q);
      seqs.push(recordSeqs(q));
    }
    const start0 = mirrors.map((q) => q.version);
    // A writer over REST (retrying with its idempotency key through the outage) and the
    // mirrors' own edits, while the server dies and comes back.
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        for (;;) {
          const r = await api('POST', `/queues/${queueId}/tracks`, { tracks: [`w${i}`] }, { 'idempotency-key': `w-${i}` }).catch(() => null);
          if (r?.status === 200) break;
          await sleep(50); // the server is down or busy: a paced retry of the same write
        }
        written++;
        await sleep(5); // a steady stream of writes, paced
      }
    })();
    const own: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      own.push(mirrors[i % 3]!.addTracks([`own-before-${i}`]));
      await sleep(10); // edits spread over time, paced
    }
    await until(() => written >= 20, 'the writer is under way');
    await server.kill();
    await until(() => clients.every((c) => c.status === 'offline'), 'every client sees the socket go');
    for (let i = 0; i < 6; i++) own.push(mirrors[i % 3]!.addTracks([`own-offline-${i}`]));
    await start();
    const at = written;
    await until(() => written >= at + 20, 'the writer goes on after the restart');
    for (let i = 0; i < 6; i++) own.push(mirrors[i % 3]!.addTracks([`own-after-${i}`]));
    stop = true;
    await writer;
    await Promise.all(own);
    const srv = await serverView(api, queueId);
    await until(
      () => mirrors.every((q) => q.version === srv.version),
      () => `mirrors at ${srv.version}: ${mirrors.map((q) => q.version)}`,
    );
    for (const [i, q] of mirrors.entries()) {
      assert.deepEqual(mirrorView(q), srv, `mirror ${i}`);
      const expected = Array.from({ length: srv.version - start0[i]! }, (_, k) => start0[i]! + 1 + k);
      assert.deepEqual(seqs[i], expected, `mirror ${i} folded every event once, in order`);
    }
    const log = (await api('GET', `/queues/${queueId}/events?limit=1000`)).body.events as { type: string; data: { trackId?: string } }[];
    const added = log.filter((e) => e.type === 'item_added').map((e) => e.data.trackId!);
    assert.equal(new Set(added).size, added.length, 'no track added twice');
    for (const t of ['own-before-9', 'own-offline-5', 'own-after-5']) assert.ok(added.includes(t), t);
  });

  it('[SDK][PA2] a party session on the platform WebSocket: SIGKILL and restart, it goes offline, its refused reconnects end, it comes back and plays', async () => {
    // Node 22's WebSocket ends a refused connection with an error and no close: the session
    // must take the error as the end, or it waits on a socket that never opens.
    const token = await mintToken(server, 'pat');
    const api = client(server.url, token);
    const queueId = (await api('POST', '/queues', { name: 'party-kill', tracks: ['p0', 'p1'] })).body.queue.id as string;
    const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'pk-a', ...fast });
    clients.push(c);
    const party = await c.createParty(queueId, { reconnectBaseMs: 50, reconnectMaxMs: 400 });
    await until(() => party.status === 'online', 'the party session is online');
    await server.kill();
    await until(() => party.status === 'offline', 'the session sees its socket go');
    await sleep(500); // reconnects refused while nothing listens
    await start();
    await until(() => party.status === 'online', 'the session is back', 15_000);
    const played = await party.play(0);
    assert.ok(played.sequenceNumber > 0);
    party.close();
  });

  it("[SDK] on Node the default WebSocket is the platform's global one (no `ws` needed)", async () => {
    const token = await mintToken(server, 'glob');
    const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'glob-a', autoConnect: false });
    clients.push(c);
    assert.equal((await c.context()).WebSocket, globalThis.WebSocket);
  });

  it("[SDK][RT9] heartbeats (the `ws` package's WebSocket, whose pings the client sees): a server that stops answering (SIGSTOP) is noticed, and the mirror resumes after SIGCONT", async () => {
    const token = await mintToken(server, 'hal');
    const api = client(server.url, token);
    const queueId = (await api('POST', '/queues', { name: 'hb', tracks: ['h'] })).body.queue.id as string;
    const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'hb-a', heartbeatMs: 400, WebSocket: WsWebSocket as unknown as WebSocketCtor, ...fast });
    clients.push(c);
    const q = await c.openQueue(queueId);
    const statuses: string[] = [];
    c.on('status', (s) => statuses.push(s));
    server.proc.kill('SIGSTOP');
    try {
      // No ping for 2.5 heartbeats: the socket is given up although it never closed.
      await until(() => c.status === 'offline', 'the client notices the silent server', 10_000);
    } finally {
      server.proc.kill('SIGCONT');
    }
    await until(() => c.status === 'online', 'back online');
    await api('POST', `/queues/${queueId}/tracks`, { tracks: ['after'] });
    const srv = await serverView(api, queueId);
    await until(() => q.version === srv.version, 'the mirror catches up');
    assert.deepEqual(mirrorView(q), srv);
    assert.deepEqual(statuses.slice(0, 2), ['offline', 'online']);
  });
});

describe('client SDK: five clients on two instances (Postgres + Redis)', { skip: pgSkipReason || redisSkipReason }, () => {
  let cluster: Cluster;
  let a: RunningServer;
  let b: RunningServer;
  const clients: QueueClient[] = [];

  before(async () => {
    cluster = await startCluster('qs-client');
    ({ a, b } = cluster);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  it('[SDK][RT7] random edits from 5 clients on two instances converge to the server state', async () => {
    const seed = Number(process.env.QS_CLIENT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
    const tokens = await Promise.all(users.map((u) => mintToken(a, u)));
    const owner = client(a.url, tokens[0]!);
    const created = await owner('POST', '/queues/collaborative', { name: 'five', tracks: ['c1', 'c2', 'c3'], collaborators: users.slice(1) });
    const queueId = created.body.queue.id as string;
    const mirrors: QueueMirror[] = [];
    for (const [i, u] of users.entries()) {
      const c = new QueueClient({ baseUrl: (i % 2 ? b : a).url, token: tokens[i]!, deviceId: `${u}-dev`, ...fast });
      clients.push(c);
      mirrors.push(await c.openQueue(queueId));
    }
    const ops: Promise<unknown>[] = [];
    for (let step = 0; step < 80; step++) {
      const i = Math.floor(rnd() * 5);
      const q = mirrors[i]!;
      const mine = q.state.items.filter((x) => x.addedBy === users[i] && !x.itemId.startsWith('@'));
      const r = rnd();
      let p: Promise<unknown>;
      const anyItem = q.state.items.filter((x) => !x.itemId.startsWith('@'))[Math.floor(rnd() * q.state.items.length)];
      if (r < 0.5 || mine.length === 0) p = q.addTracks([`x${step}`], anyItem && rnd() < 0.5 ? { afterItemId: anyItem.itemId } : {});
      else if (r < 0.65) p = q.removeItem(mine[Math.floor(rnd() * mine.length)]!.itemId);
      else if (r < 0.85) p = q.moveItem(mine[Math.floor(rnd() * mine.length)]!.itemId, { position: Math.floor(rnd() * 4) });
      else if (r < 0.95 && anyItem) p = q.vote(anyItem.itemId, rnd() < 0.5 ? 1 : -1);
      else p = i === 0 ? q.next() : q.addTracks([`y${step}`]);
      ops.push(p.catch((e) => assert.ok(e instanceof QueueServiceError, String(e))));
      if (rnd() < 0.3) await sleep(Math.floor(rnd() * 10)); // random pacing of the edits, on purpose
    }
    await Promise.all(ops);
    const srv = await serverView(owner, queueId);
    await until(
      () => mirrors.every((q) => q.version === srv.version),
      () => `mirrors at ${srv.version} (seed ${seed}): ${mirrors.map((q) => q.version)}`,
    );
    for (const [i, q] of mirrors.entries()) {
      assert.deepEqual(mirrorView(q), srv, `mirror ${i} (seed ${seed})`);
      assert.equal(q.pending.length, 0);
    }
  });
});
