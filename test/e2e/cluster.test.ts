// Two server processes on one Postgres + one Redis behave as one service ([RT4], [RT7]).
// The test runs its own redis-server on a free port, so it can restart it mid-run
// without touching the machine's Redis.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { client, mintToken, type RunningServer } from '../helpers/server.ts';
import { connect, eventsOf, type TestSocket } from '../helpers/ws.ts';
import { startRedis, stopProcess, redisSkipReason } from '../helpers/redis.ts';

const redisSkip = redisSkipReason;

describe('two instances on Postgres + Redis', { skip: pgSkipReason || redisSkip }, () => {
  let cluster: Cluster;
  let a: RunningServer;
  let b: RunningServer;
  const sockets: TestSocket[] = [];

  before(async () => {
    cluster = await startCluster('qs-test');
    ({ a, b } = cluster);
  });

  after(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await cluster?.stop();
  });

  async function run(restartRedisMidway: boolean) {
    const token = await mintToken(a, 'carol');
    const apiA = client(a.url, token);
    const apiB = client(b.url, token);
    const q = (await apiA('POST', '/queues', { name: 'cluster', tracks: ['seed'] })).body.queue;
    const clients: TestSocket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await connect((i % 2 ? b : a).url, `/ws/queues/${q.id}`, { token, query: { since: q.version } });
      await s.waitFor((m) => m.type === 'hello');
      clients.push(s);
      sockets.push(s);
    }
    // Concurrent writers on both instances.
    const writes: Promise<unknown>[] = [];
    for (let w = 0; w < 4; w++) {
      const api = w % 2 ? apiB : apiA;
      writes.push(
        (async () => {
          for (let i = 0; i < 15; i++) {
            const r = await api('POST', `/queues/${q.id}/tracks`, { tracks: [`w${w}-${i}`] });
            assert.equal(r.status, 200, JSON.stringify(r.body));
            if (restartRedisMidway && w === 0 && i === 5) {
              await stopProcess(cluster.redis);
              cluster.redis = await startRedis(cluster.redisPort);
            }
          }
        })(),
      );
    }
    await Promise.all(writes);
    const final = (await apiB('GET', `/queues/${q.id}`)).body;
    assert.equal(final.version, q.version + 60);
    for (const [i, s] of clients.entries()) {
      await s
        .waitFor((m) => m.sequenceNumber === final.version, 15_000)
        .catch((e) => {
          throw new Error(`client ${i} (instance ${i % 2 ? 'B' : 'A'}) did not reach version ${final.version}: ${e.message}`);
        });
      const seqs = eventsOf(s, 'queue').map((m) => m.sequenceNumber);
      assert.deepEqual(
        seqs,
        Array.from({ length: 60 }, (_, k) => q.version + 1 + k),
        `client ${i}: gap or duplicate`,
      );
      // Every client's local state equals the server's.
      const local = ['seed', ...eventsOf(s, 'queue').map((m) => m.data.trackId)].sort();
      assert.deepEqual(local, final.items.map((it: any) => it.trackId).sort(), `client ${i}: state differs`);
    }
  }

  it('[RT4] a change through one instance reaches sockets on both, in order, without gaps or duplicates', async () => {
    await run(false);
  });

  it('[RT7] a Redis restart mid-run loses nothing: gaps are filled from the store', async () => {
    await run(true);
    // Both instances noticed the reconnect and caught their sockets up from the store.
    for (const s of [a, b]) {
      const m = await fetch(`${s.url}/metrics`).then((r) => r.text());
      assert.match(m, /websocket_catchups_total\{reason="reconnect"\} [1-9]/, `instance ${s.url}`);
    }
  });

  it('[RT8] presence works across instances', async () => {
    const token = await mintToken(a, 'dave');
    const onA = await connect(a.url, '/ws/sync/dave', { token, query: { deviceId: 'dave-phone' } });
    sockets.push(onA);
    await onA.waitFor((m) => m.type === 'hello');
    const list = await client(b.url, token)('GET', '/users/dave/devices');
    assert.equal(list.body.devices.find((d: any) => d.deviceId === 'dave-phone')?.online, true, JSON.stringify(list.body));
    const onB = await connect(b.url, '/ws/sync/dave', { token, query: { deviceId: 'dave-laptop' } });
    sockets.push(onB);
    await onA.waitFor((m) => m.type === 'presence' && m.deviceId === 'dave-laptop' && m.online === true);
    await onB.close();
    await onA.waitFor((m) => m.type === 'presence' && m.deviceId === 'dave-laptop' && m.online === false);
    const after = await client(a.url, token)('GET', '/users/dave/devices');
    assert.equal(after.body.devices.find((d: any) => d.deviceId === 'dave-laptop')?.online, false);
  });
});
