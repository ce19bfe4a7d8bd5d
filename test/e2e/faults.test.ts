// Fault injection, filling what restart.test.ts and cluster.test.ts do not cover:
// SIGKILL while writes are in flight (restart.test.ts kills after the last answer);
// an instance killed while two serve sockets (cluster.test.ts restarts Redis, not an
// instance); a stalled consumer next to healthy ones across two instances (realtime.test.ts
// has one instance and does not look at the others).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../helpers/pg.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { redisSkipReason } from '../helpers/redis.ts';
import { client, mintToken, startServer, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, eventsOf, type TestSocket } from '../helpers/ws.ts';
import { allEvents } from '../helpers/offline.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

for (const { kind, skip } of storeKinds) {
  describe(`SIGKILL during concurrent writes (${kind})`, { skip, timeout: 60_000 }, () => {
    let db: TempDatabase | null = null;
    const dataDir = mkdtempSync(join(tmpdir(), 'qs-faults-'));
    const adminKey = randomBytes(16).toString('hex');
    let server: RunningServer | null = null;
    const start = () => startServer({ dataDir, adminKey, databaseUrl: db?.url });
    before(async () => {
      if (kind === 'postgres') db = await createTempDatabase();
    });
    after(async () => {
      await server?.kill();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('every acknowledged write is there exactly once, unanswered ones at most once, logs gapless; retries apply once', async () => {
      server = await start();
      const token = await mintToken(server, 'erin');
      const api = client(server.url, token);
      const queues: string[] = [];
      for (let i = 0; i < 8; i++) queues.push((await api('POST', '/queues', { name: `k${i}` })).body.queue.id);
      // Each write adds one track named after it, with an idempotency key of its own.
      const writes: { queue: string; track: string; key: string; outcome: 'acked' | 'unknown' | 'refused' }[] = [];
      let killed = false;
      const writer = async (w: number) => {
        for (let n = 0; !killed; n++) {
          const wr = { queue: queues[w % queues.length]!, track: `w${w}-${n}`, key: randomUUID(), outcome: 'unknown' as 'acked' | 'unknown' | 'refused' };
          writes.push(wr);
          try {
            const r = await api('POST', `/queues/${wr.queue}/tracks`, { tracks: [wr.track] }, { 'idempotency-key': wr.key });
            wr.outcome = r.status === 200 ? 'acked' : 'refused';
          } catch {
            return; // the connection died with the process
          }
        }
      };
      // 24 writers on 8 queues: appends of several queues share a transaction (group commit).
      const running = Array.from({ length: 24 }, (_, w) => writer(w));
      const ackedNow = () => writes.filter((x) => x.outcome === 'acked').length;
      await waitFor(() => ackedNow() >= 150, { timeoutMs: 60_000, intervalMs: 5, what: () => `150 acked writes (${ackedNow()})` });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const total = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
      const [transactions, appends] = [total('store_commits_total'), total('store_commit_writes_total')];
      if (kind === 'sqlite') assert.ok(appends > transactions * 1.2, `group commit: ${appends} appends in ${transactions} transactions`);
      const mark = ackedNow();
      await waitFor(() => ackedNow() >= mark + 50, { timeoutMs: 60_000, intervalMs: 1, what: () => `50 more acked writes (${ackedNow() - mark})` });
      killed = true;
      await server.kill(); // with requests in flight, some of them in a batch
      await Promise.all(running);
      const acked = writes.filter((x) => x.outcome === 'acked');
      const unknown = writes.filter((x) => x.outcome === 'unknown');
      assert.equal(writes.filter((x) => x.outcome === 'refused').length, 0);

      server = await start();
      const after = client(server.url, token);
      const count = async () => {
        const seen = new Map<string, number>();
        for (const q of queues) {
          const log = await allEvents(after, q);
          assert.deepEqual(
            log.map((e) => e.sequenceNumber),
            log.map((_, i) => i + 1),
            `${q}: log not gapless`,
          );
          const view = (await after('GET', `/queues/${q}`)).body;
          assert.equal(view.version, log.length, `${q}: projection version is not the log's`);
          const added = log.filter((e) => e.type === 'item_added');
          assert.deepEqual(view.items.map((i: any) => i.itemId).sort(), added.map((e) => e.data.itemId).sort(), `${q}: items are not the fold of the log`);
          for (const e of added) seen.set(e.data.trackId, (seen.get(e.data.trackId) ?? 0) + 1);
        }
        return seen;
      };
      const seen = await count();
      for (const wr of acked) assert.equal(seen.get(wr.track), 1, `acknowledged ${wr.track} is there ${seen.get(wr.track) ?? 0} times`);
      for (const wr of unknown) assert.ok((seen.get(wr.track) ?? 0) <= 1, `unanswered ${wr.track} is there twice`);
      // The clients retry what was never answered, with the same keys: each lands once.
      for (const wr of unknown) {
        const r = await after('POST', `/queues/${wr.queue}/tracks`, { tracks: [wr.track] }, { 'idempotency-key': wr.key });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
      const final = await count();
      for (const wr of [...acked, ...unknown]) assert.equal(final.get(wr.track), 1, `${wr.track} after retries`);
      assert.equal(
        [...final.values()].reduce((a, b) => a + b, 0),
        acked.length + unknown.length,
        'a track nobody wrote',
      );
      console.log(
        `SIGKILL (${kind}): ${acked.length} acknowledged, ${unknown.length} in flight at the kill; before it ${appends} appends in ${transactions} transactions`,
      );
    });
  });
}

describe('two instances on Postgres + Redis: an instance killed, a stalled consumer', { skip: pgSkipReason || redisSkipReason, timeout: 90_000 }, () => {
  let cluster: Cluster;
  let a: RunningServer;
  let b: RunningServer;
  const sockets: TestSocket[] = [];
  const heartbeatMs = 300;

  before(async () => {
    cluster = await startCluster('qs-faults', { WS_HEARTBEAT_MS: String(heartbeatMs), WS_MAX_BUFFERED_BYTES: '65536' });
    ({ a, b } = cluster);
  });
  after(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await cluster?.stop();
  });
  const open = async (...args: Parameters<typeof connect>) => {
    const s = await connect(...args);
    sockets.push(s);
    await s.waitFor((m) => m.type === 'hello');
    return s;
  };

  it('a stalled socket is cut off while the others on both instances get every event, in order, in time', async () => {
    const token = await mintToken(a, 'gus');
    const api = client(b.url, token);
    const q = (await api('POST', '/queues', { name: 'stall' })).body.queue;
    const stalled = await open(a.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } });
    const healthy = [
      await open(a.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } }),
      await open(b.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } }),
    ];
    (stalled.ws as any)._socket.pause();
    const blob = 'x'.repeat(600_000);
    let version = q.version;
    let lastAck = 0;
    for (let i = 0; i < 20; i++) {
      const r = await api('PATCH', `/queues/${q.id}`, { metadata: { blob, i } });
      assert.equal(r.status, 200);
      version = r.body.queue.version;
      lastAck = Date.now();
    }
    for (const [i, s] of healthy.entries()) {
      await s.waitFor((m) => m.sequenceNumber === version, 10_000);
      const lag = Date.now() - lastAck;
      assert.ok(lag < 5000, `healthy socket ${i} got the last event ${lag} ms after it was written`);
      assert.deepEqual(
        eventsOf(s, 'queue').map((m) => m.sequenceNumber),
        Array.from({ length: version - q.version }, (_, k) => q.version + 1 + k),
        `healthy socket ${i}: gap or duplicate`,
      );
    }
    (stalled.ws as any)._socket.resume();
    const closed = await Promise.race([stalled.closed, sleep(10_000).then(() => null)]);
    // Cut off either for its send buffer (4008) or, not reading pongs either, by the heartbeat (4408).
    assert.ok(closed && [4008, 4408].includes(closed.code), `the stalled socket was not cut off: ${JSON.stringify(closed)}`);
  });

  it('an instance killed: its sockets resume on the other with nothing lost or repeated, and its devices go offline', async () => {
    const token = await mintToken(a, 'hana');
    const apiB = client(b.url, token);
    const q = (await apiB('POST', '/queues', { name: 'kill' })).body.queue;
    const onA = [0, 1, 2].map(() => open(a.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } }));
    const onB = [0, 1].map(() => open(b.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } }));
    const clients = await Promise.all([...onA, ...onB]);
    const device = await open(a.url, '/ws/sync/hana', { token, query: { deviceId: 'hana-phone' } });
    const online = async () => (await apiB('GET', '/users/hana/devices')).body.devices.find((d: any) => d.deviceId === 'hana-phone')?.online;
    assert.equal(await online(), true);

    let stop = false;
    let writes = 0;
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        const r = await apiB('POST', `/queues/${q.id}/tracks`, { tracks: [`k-${n}`] });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        writes++;
        await sleep(5); // a steady stream of writes, paced
      }
    })();
    await waitFor(() => writes >= 20, { timeoutMs: 60_000, intervalMs: 5, what: () => `20 writes (${writes})` });
    await a.kill();
    // Clients of the dead instance reconnect to the survivor from the last sequence they saw.
    const received: number[][] = clients.map((s) => eventsOf(s, 'queue').map((m) => m.sequenceNumber));
    const resumed = await Promise.all(
      clients.slice(0, 3).map(async (s, i) => {
        await s.closed;
        const last = eventsOf(s, 'queue').at(-1)?.sequenceNumber ?? q.version;
        received[i] = eventsOf(s, 'queue').map((m) => m.sequenceNumber);
        return open(b.url, `/ws/queues/${q.id}`, { token, query: { since: last } });
      }),
    );
    await waitFor(() => writes >= 40, { timeoutMs: 60_000, intervalMs: 5, what: () => `40 writes (${writes})` });
    stop = true;
    await writer;
    const final = (await apiB('GET', `/queues/${q.id}`)).body.version;
    const expected = Array.from({ length: final - q.version }, (_, k) => q.version + 1 + k);
    for (const [i, s] of clients.entries()) {
      const live = i < 3 ? resumed[i]! : s;
      await live.waitFor((m) => m.sequenceNumber === final, 10_000);
      const seqs = i < 3 ? [...received[i]!, ...eventsOf(live, 'queue').map((m) => m.sequenceNumber)] : eventsOf(s, 'queue').map((m) => m.sequenceNumber);
      assert.deepEqual(seqs, expected, `client ${i} (${i < 3 ? 'resumed from the killed instance' : 'on the survivor'}): lost or repeated events`);
    }
    // Nobody closed the device's socket on the dead instance: its presence expires.
    void device;
    const ttl = 2 * heartbeatMs + 5000;
    const t0 = Date.now();
    await waitFor(async () => !(await online()), {
      timeoutMs: ttl + 3000,
      intervalMs: 200,
      what: () => `the device of the killed instance was still online ${Date.now() - t0} ms later`,
    });
  });
});
