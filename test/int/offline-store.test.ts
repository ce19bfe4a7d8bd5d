// The storage the offline feature adds, against both adapters: several idempotency
// records in one append (AppendInput.idempotencyMany) and the offline feature store
// (high-water marks, recorded outcomes; migration 005).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { markKey, type OfflineStore } from '../../src/offline/store.ts';
import { evolve, initialState, type QueueEvent } from '../../src/queues/queue.ts';
import { IdempotencyConflict, type NewEvent, type Store } from '../../src/store/port.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { openTestStorage } from '../helpers/storage.ts';

const uid = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;
const rec = (userId: string, key: string, n: number) => ({ userId, key, fingerprint: `fp-${n}`, response: { status: 200 + n, body: { n, text: 'ü' } } });

function suite(name: string, opts: { skip?: string | false }, kind: 'sqlite' | 'postgres') {
  describe(name, opts, () => {
    let store: Store;
    let offline: OfflineStore;
    let cleanup: () => Promise<void>;
    before(async () => {
      const t = await openTestStorage(kind);
      ({ store, cleanup } = t);
      offline = t.features.offline;
    });
    after(async () => {
      await cleanup?.();
    });

    async function created(queueId: string, userId: string) {
      const e: NewEvent = {
        type: 'queue_created',
        data: { name: 'q', type: 'user', ownerId: userId, metadata: {} },
        userId,
        deviceId: null,
        timestamp: new Date().toISOString(),
      };
      const state = evolve(initialState(queueId), { ...e, queueId, sequenceNumber: 1 } as QueueEvent);
      await store.append({ queueId, expectedVersion: 0, events: [e], state });
      return state;
    }

    it('[OF1] records several idempotency keys in one append, atomically with its events', async () => {
      const q = uid('q');
      const state = await created(q, 'ann');
      const keys = [uid('k'), uid('k'), uid('k')];
      const e: NewEvent = { type: 'repeat_changed', data: { repeat: 'all' }, userId: 'ann', deviceId: 'phone', timestamp: new Date().toISOString() };
      const next = evolve(state, { ...e, queueId: q, sequenceNumber: 2 } as QueueEvent);
      await store.append({ queueId: q, expectedVersion: 1, events: [e], state: next, idempotencyMany: keys.map((k, n) => rec('ann', k, n)) });
      for (const [n, k] of keys.entries())
        assert.deepEqual(await store.getIdempotency('ann', k), { fingerprint: `fp-${n}`, status: 200 + n, body: { n, text: 'ü' } });

      // One key recorded already: nothing of the append is kept.
      const fresh = uid('k');
      await assert.rejects(
        store.append({
          queueId: q,
          expectedVersion: 2,
          events: [{ ...e, data: { repeat: 'one' } }],
          state: { ...next, version: 3 },
          idempotencyMany: [rec('ann', fresh, 7), rec('ann', keys[1]!, 8)],
        }),
        (err: unknown) => err instanceof IdempotencyConflict && err.key === keys[1],
      );
      assert.equal(await store.getIdempotency('ann', fresh), null);
      assert.equal((await store.readEvents(q, 0, 10)).length, 2);
      assert.equal((await store.loadQueue(q))?.version, 2);
      // The same key twice in one list is refused too; records alone (no events) are kept.
      const twice = uid('k');
      await assert.rejects(
        store.append({ queueId: q, expectedVersion: 2, events: [], state: next, idempotencyMany: [rec('ann', twice, 1), rec('ann', twice, 2)] }),
        IdempotencyConflict,
      );
      assert.equal(await store.getIdempotency('ann', twice), null);
      await store.append({ queueId: q, expectedVersion: 2, events: [], state: next, idempotencyMany: [rec('ann', twice, 3)] });
      assert.equal((await store.getIdempotency('ann', twice))?.status, 203);
      assert.equal((await store.loadQueue(q))?.version, 2);
    });

    it('[OF1] keeps outcomes (first one wins) and high-water marks (never lowered) per user, client and resource', async () => {
      const user = uid('u');
      assert.deepEqual(await offline.highWaters(user, ['c1']), new Map());
      await offline.commit(
        user,
        [
          { clientId: 'c1', mutationId: 5, fingerprint: 'a', outcome: { outcome: 'applied', itemIds: ['x'] } },
          { clientId: 'c1', mutationId: 2 ** 40, fingerprint: 'b', outcome: { outcome: 'dropped' } },
        ],
        [
          { clientId: 'c1', resourceType: 'queue', resourceId: 'q1', mutationId: 5 },
          { clientId: 'c1', resourceType: 'playback', resourceId: user, mutationId: 2 ** 40 },
        ],
      );
      await offline.commit(
        user,
        [{ clientId: 'c1', mutationId: 5, fingerprint: 'other', outcome: { outcome: 'error' } }],
        [
          { clientId: 'c1', resourceType: 'queue', resourceId: 'q1', mutationId: 3 },
          { clientId: 'c2', resourceType: 'queue', resourceId: 'q1', mutationId: 9 },
        ],
      );
      const marks = await offline.highWaters(user, ['c1', 'c2']);
      assert.deepEqual(
        marks,
        new Map([
          [markKey('c1', 'queue', 'q1'), 5],
          [markKey('c1', 'playback', user), 2 ** 40],
          [markKey('c2', 'queue', 'q1'), 9],
        ]),
      );
      assert.deepEqual(await offline.highWaters(user, ['c2']), new Map([[markKey('c2', 'queue', 'q1'), 9]]));
      assert.deepEqual(await offline.highWaters(uid('someone'), ['c1']), new Map());
      const got = await offline.outcomes(user, 'c1', [5, 2 ** 40, 6]);
      assert.deepEqual(
        [...got.keys()].sort((a, b) => a - b),
        [5, 2 ** 40],
      );
      assert.deepEqual(got.get(5), { clientId: 'c1', mutationId: 5, fingerprint: 'a', outcome: { outcome: 'applied', itemIds: ['x'] } });
      assert.deepEqual(await offline.outcomes(user, 'c2', [5]), new Map());
    });

    it('[OF1] outcomes expire: not read before `since`, replaced by the next record, swept; high-water marks stay', async () => {
      const user = uid('u');
      const o = (mutationId: number, fingerprint: string) => ({ clientId: 'c1', mutationId, fingerprint, outcome: { outcome: 'applied' } });
      const mark = { clientId: 'c1', resourceType: 'queue' as const, resourceId: 'q1', mutationId: 2 };
      await offline.commit(user, [o(1, 'a'), o(2, 'b')], [mark], '2026-01-01T00:00:00.000Z');
      const since = '2026-01-02T00:00:00.000Z';
      assert.deepEqual(await offline.outcomes(user, 'c1', [1, 2], since), new Map(), 'recorded before the cutoff: expired');
      assert.equal((await offline.outcomes(user, 'c1', [1, 2])).size, 2, 'without a cutoff they are there');
      await offline.commit(user, [o(1, 'a2')], [], '2026-01-03T00:00:00.000Z', since);
      assert.equal((await offline.outcomes(user, 'c1', [1], since)).get(1)?.fingerprint, 'a2', 'the expired record was replaced');
      await offline.commit(user, [o(1, 'a3')], [], '2026-01-04T00:00:00.000Z', since);
      assert.equal((await offline.outcomes(user, 'c1', [1], since)).get(1)?.fingerprint, 'a2', 'a live record is kept');
      assert.equal(await offline.sweepOutcomes(since, 10), 1, 'the expired one (mutation 2) is swept');
      assert.deepEqual([...(await offline.outcomes(user, 'c1', [1, 2])).keys()], [1]);
      assert.deepEqual(await offline.highWaters(user, ['c1']), new Map([[markKey('c1', 'queue', 'q1'), 2]]));
    });
  });
}

suite('offline storage on SQLite (temp file)', {}, 'sqlite');
suite('offline storage on PostgreSQL (fresh database)', { skip: pgSkipReason }, 'postgres');
