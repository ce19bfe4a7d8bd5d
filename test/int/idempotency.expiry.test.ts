// The one expiry of idempotency records (util/commit.ts idempotencyCutoff with
// IDEMPOTENCY_TTL_HOURS) for the records the features keep in their own tables: offline
// mutation outcomes (migration 005) and the recommendation writes' answers (migration 020).
// Past the TTL a record is no longer replayed, and the sweeper's part deletes it. Against
// both stores, through the services, with a clock the test moves.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Answers } from '../../src/catalog/answers.ts';
import { OfflineSyncService } from '../../src/offline/service.ts';
import { PlaybackService } from '../../src/playback/service.ts';
import { QueueService } from '../../src/queues/service.ts';
import { LocalPresence } from '../../src/realtime/presence.ts';
import { storeKinds } from '../helpers/server.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';

const HOUR = 3600_000;
/** IDEMPOTENCY_TTL_HOURS=2, as the composition root passes it. */
const TTL = 2 * HOUR;

for (const { kind, skip } of storeKinds) {
  describe(`idempotency expiry of the feature tables (${kind})`, { skip }, () => {
    let t: TestStorage;
    // The services' clock: real time, moved forward by the test.
    let offset = 0;
    const now = () => Date.now() + offset;
    before(async () => {
      t = await openTestStorage(kind);
    });
    after(async () => {
      await t?.cleanup();
    });

    it('[OF1] an offline outcome is replayed within the TTL; past it the id is skipped (never applied again), and the sweep deletes it', async () => {
      offset = 0;
      const queues = new QueueService({ store: t.store, now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 1000 });
      const playback = new PlaybackService({ store: t.store, queues, presence: new LocalPresence(), now });
      const offline = new OfflineSyncService({ store: t.store, queues, playback, offline: t.features.offline, now, idempotencyTtlMs: TTL });
      const user = `u-${randomUUID().slice(0, 8)}`;
      const actor = { userId: user, deviceId: 'phone' };
      const created = await queues.create(actor, { name: 'road trip' });
      const queueId = created.body.events[0]!.queueId;
      const clientId = `c-${randomUUID().slice(0, 8)}`;
      const change = {
        clientId,
        mutationId: 1,
        resourceType: 'queue',
        resourceId: queueId,
        op: 'add_tracks',
        args: { tracks: ['t1'] },
        clientTimestamp: now(),
      };
      const sync = () => offline.sync(actor, { changes: [change], lastSyncTimestamp: null });
      const itemCount = async () => (await queues.get(actor, queueId)).items.length;

      const first = await sync();
      assert.equal(first.errors.length, 0, JSON.stringify(first.errors));
      assert.equal(first.results[0]!.outcome, 'applied');
      assert.equal(first.results[0]!.replayed, false);
      offset = TTL - HOUR;
      const retry = await sync();
      assert.equal(retry.results[0]!.outcome, 'applied', 'within the TTL: the recorded outcome');
      assert.equal(retry.results[0]!.replayed, true);
      assert.deepEqual(retry.results[0]!.itemIds, first.results[0]!.itemIds);
      assert.equal(await offline.sweep(), 0, 'nothing has expired yet');

      offset = TTL + HOUR;
      const late = await sync();
      assert.equal(late.results[0]!.replayed, false, 'past the TTL the outcome is not replayed');
      assert.equal(late.results[0]!.outcome, 'skipped', 'at or below the high-water mark: not applied again');
      assert.equal(await itemCount(), 1);
      // A different change under the expired id is not refused as mutation_id_reused either.
      const other = await offline.sync(actor, { changes: [{ ...change, args: { tracks: ['t2'] } }], lastSyncTimestamp: null });
      assert.equal(other.results[0]!.outcome, 'skipped');

      assert.ok((await offline.sweep()) >= 1, 'the sweep deletes the expired outcome');
      assert.deepEqual(await t.features.offline.outcomes(user, clientId, [1]), new Map(), 'gone from the table, read without a cutoff');
      assert.equal((await t.features.offline.highWaters(user, [clientId])).size, 1, 'the high-water mark stays');
      assert.equal((await sync()).results[0]!.outcome, 'skipped');
      assert.equal(await itemCount(), 1);
    });

    it("a recommendation write's answer is replayed within the TTL; past it the key is new again, and the sweep deletes it", async () => {
      offset = 0;
      const answers = new Answers(t.features.catalog, now, TTL);
      const user = `u-${randomUUID().slice(0, 8)}`;
      const keyed = { key: randomUUID(), fingerprint: 'POST /radio' };
      let runs = 0;
      const write = () => answers.once(user, keyed, 201, async () => ({ run: ++runs }));

      assert.deepEqual(await write(), { body: { run: 1 }, replayed: false });
      offset = TTL - HOUR;
      assert.deepEqual(await write(), { body: { run: 1 }, replayed: true }, 'within the TTL: the first answer');
      assert.equal(await answers.sweep(), 0, 'nothing has expired yet');

      offset = TTL + HOUR;
      assert.deepEqual(await write(), { body: { run: 2 }, replayed: false }, 'past the TTL (IDEMPOTENCY_TTL_HOURS, not 24 h): a new request');
      assert.deepEqual(await write(), { body: { run: 2 }, replayed: true });
      assert.equal(await answers.sweep(), 0, 'the new answer is live');

      offset = 2 * TTL + 2 * HOUR;
      assert.ok((await answers.sweep()) >= 1, 'the sweep deletes the expired answer');
      assert.equal(await t.features.catalog.getAnswer(user, keyed.key), null, 'gone from the table, read without a cutoff');
      assert.equal(runs, 2);
    });
  });
}
