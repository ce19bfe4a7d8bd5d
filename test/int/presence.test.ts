// [RT8] Presence heals itself: an entry whose socket is gone drops out at the next
// heartbeat, and one that no heartbeat renews expires. Locally, and through a real Redis
// (two instances' presence sharing it), with an injected clock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LocalQueuePresence } from '../../src/realtime/queue-presence.ts';
import { LocalPresence, presenceTtlMs, RedisPresence, type Presence } from '../../src/realtime/presence.ts';
import { redisSkipReason } from '../helpers/redis.ts';

const TTL = 1000;

function contract(name: string, make: (now: () => number) => { a: Presence; b: Presence }, skip: string | false = false) {
  describe(`presence: ${name}`, { skip }, () => {
    it('a socket is online until it disconnects; another socket of the device keeps it online', async () => {
      const t = 1_000_000;
      const { a } = make(() => t);
      await a.connected('c1', 'u', 'phone');
      await a.connected('c2', 'u', 'phone');
      assert.deepEqual([...(await a.onlineDevices('u'))], ['phone']);
      await a.disconnected('c1');
      assert.deepEqual([...(await a.onlineDevices('u'))], ['phone']);
      await a.disconnected('c2');
      assert.deepEqual([...(await a.onlineDevices('u'))], []);
    });

    it('an entry whose socket is not open at the heartbeat is dropped', async () => {
      const t = 1_000_000;
      const { a } = make(() => t);
      await a.connected('c1', 'u', 'phone');
      await a.connected('c2', 'u', 'tv'); // its close was never seen
      await a.refresh(new Set(['c1']));
      assert.deepEqual([...(await a.onlineDevices('u'))], ['phone']);
    });

    it('an entry no heartbeat renews expires; a renewed one stays', async () => {
      let t = 1_000_000;
      const { a, b } = make(() => t);
      await a.connected('c1', 'u', 'phone');
      await b.connected('c9', 'u', 'tv');
      t += TTL / 2;
      await b.refresh(new Set(['c9'])); // instance a stopped heartbeating (crashed)
      t += TTL / 2 + 1;
      assert.deepEqual([...(await b.onlineDevices('u'))], ['tv']);
      assert.deepEqual([...(await a.onlineDevices('u'))], ['tv']);
    });
  });
}

contract('local', (now) => {
  const p = new LocalPresence(TTL, now);
  return { a: p, b: p };
});

const redisUrl = process.env.QS_TEST_REDIS && process.env.QS_TEST_REDIS !== 'skip' ? process.env.QS_TEST_REDIS : null;
const clients: Redis[] = [];
after(async () => {
  for (const c of clients) await c.quit().catch(() => undefined);
});
contract(
  'two instances through Redis',
  (now) => {
    const prefix = `qs-test-${randomBytes(4).toString('hex')}:`;
    const r1 = new Redis(redisUrl!);
    const r2 = new Redis(redisUrl!);
    clients.push(r1, r2);
    return { a: new RedisPresence(r1, prefix, TTL, now), b: new RedisPresence(r2, prefix, TTL, now) };
  },
  redisUrl ? redisSkipReason : 'Redis suite skipped: no Redis answered',
);

describe('queue presence (local)', () => {
  it('keep() drops viewers whose socket is not open', async () => {
    const p = new LocalQueuePresence();
    await p.opened('q', 'c1', 'alice', 'phone');
    await p.opened('q', 'c2', 'bob', 'tv');
    p.keep(new Set(['c1']));
    assert.deepEqual(
      (await p.viewers('q')).map((v) => v.userId),
      ['alice'],
    );
  });
});

it('the TTL covers two heartbeats', () => {
  assert.ok(presenceTtlMs(30_000) > 2 * 30_000);
});
