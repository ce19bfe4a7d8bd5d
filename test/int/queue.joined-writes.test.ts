// Writes that meet a write under way on their queue are decided together, in order, and
// appended as one (QueueService.joinNext; issue 21: a party's burst is one queue). Through
// the service, on both stores: every acknowledged write is stored once, gapless and in the
// order of its answer's versions; a refusal fails alone; a key sent twice in one burst
// applies once; listeners hear every event once, in sequence order; the burst took far
// fewer appends than writes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import type { QueueEvent } from '../../src/queues/queue.ts';
import { QueueService, type WriteResult } from '../../src/queues/service.ts';
import { storeKinds } from '../helpers/server.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';

for (const { kind, skip } of storeKinds) {
  describe(`writes joined on a busy queue (${kind})`, { skip }, () => {
    let t: TestStorage;
    before(async () => {
      t = await openTestStorage(kind);
    });
    after(async () => {
      await t?.cleanup();
    });

    it('a burst on one queue: each write once, gapless, in answer order; refusals alone; a repeated key applies once; few appends', async () => {
      const queues = new QueueService({ store: t.store, now: Date.now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 10_000 });
      const heard: QueueEvent[] = [];
      queues.onCommitted((_q, events) => heard.push(...events));
      const owner = { userId: `owner-${randomUUID().slice(0, 8)}`, deviceId: 'phone' };
      const created = await queues.create(owner, { name: 'party', type: 'party', tracks: ['opening'] });
      const queueId = created.body.events[0]!.queueId;
      const v0 = created.body.version;
      const appends0 = t.store.commitStats?.().writes ?? 0;

      // One turn: 150 adds (every fifth keyed, the first key sent twice), 10 removals of items
      // that do not exist, 10 skips to the next track; minimal and full answers mixed.
      const calls: { kind: 'add' | 'bad' | 'next'; track?: string; key?: string; p: Promise<WriteResult> }[] = [];
      for (let i = 0; i < 170; i++) {
        if (i % 17 === 16) {
          calls.push({ kind: 'bad', p: queues.execute(owner, queueId, { type: 'remove_items', itemIds: [`missing-${i}`] }) });
        } else if (i % 17 === 8) {
          calls.push({ kind: 'next', p: queues.execute(owner, queueId, { type: 'next' }, { minimal: true }) });
        } else {
          const track = `t-${i}`;
          const key = i % 5 === 0 ? `k-${i}` : undefined;
          const opts = { minimal: i % 2 === 0, ...(key ? { idempotencyKey: key, fingerprint: track } : {}) };
          calls.push({ kind: 'add', track, key, p: queues.execute(owner, queueId, { type: 'add_tracks', tracks: [track] }, opts) });
        }
      }
      // A keyed add again, in the same burst (a client's retry): both join the same batch, whose
      // append then meets the key twice and is run again write by write.
      const first = calls.filter((c) => c.key)[1]!;
      const retry = queues.execute(owner, queueId, { type: 'add_tracks', tracks: [first.track!] }, { idempotencyKey: first.key!, fingerprint: first.track! });
      const settled = await Promise.allSettled(calls.map((c) => c.p));
      const retried = await retry;

      const versions: number[] = [];
      settled.forEach((s, i) => {
        const c = calls[i]!;
        if (c.kind === 'bad') {
          assert.equal(s.status, 'rejected', `call ${i} should fail`);
          const err = (s as PromiseRejectedResult).reason;
          assert.ok(err instanceof AppError && err.kind === 'not_found', `call ${i}: ${String(err)}`);
          return;
        }
        assert.equal(s.status, 'fulfilled', `call ${i}: ${s.status === 'rejected' ? String(s.reason) : ''}`);
        const r = (s as PromiseFulfilledResult<WriteResult>).value;
        versions.push(r.body.version);
        if (c.kind === 'add') {
          const added = r.body.events.filter((e) => e.type === 'item_added');
          assert.equal(added.length, 1, `call ${i} added one item`);
          assert.equal((added[0]!.data as { trackId: string }).trackId, c.track);
          assert.equal(r.body.version, added[0]!.sequenceNumber);
          // A full answer shows the queue as this write left it: its own item, at its version.
          if (r.body.queue) {
            assert.equal(r.body.queue.version, r.body.version);
            assert.ok(r.body.queue.items.some((it) => it.trackId === c.track));
          }
        }
      });
      // The retry answered what the first try answered and added nothing.
      const firstAnswer = (settled[calls.indexOf(first)] as PromiseFulfilledResult<WriteResult>).value;
      assert.equal(retried.body.version, firstAnswer.body.version);
      assert.deepEqual(
        retried.body.events.map((e) => e.sequenceNumber),
        firstAnswer.body.events.map((e) => e.sequenceNumber),
      );

      // Stored: every acknowledged event once, numbered without a gap after the creation.
      const stored = await t.store.readEvents(queueId, v0, 1000);
      const state = await queues.get(owner, queueId);
      assert.deepEqual(
        stored.map((e) => e.sequenceNumber),
        Array.from({ length: state.version - v0 }, (_, i) => v0 + i + 1),
      );
      const acked = new Set(versions);
      assert.equal(acked.size, versions.length, 'every write has a version of its own');
      for (const v of acked) assert.ok(v > v0 && v <= state.version);
      const adds = calls.filter((c) => c.kind === 'add');
      const tracks = state.items.map((it) => it.trackId);
      for (const c of adds) assert.equal(tracks.filter((x) => x === c.track).length, 1, c.track);
      assert.equal(stored.filter((e) => e.type === 'item_added').length, adds.length);

      // Listeners heard the same events once each, in sequence order.
      assert.deepEqual(
        heard.filter((e) => e.sequenceNumber > v0).map((e) => e.sequenceNumber),
        stored.map((e) => e.sequenceNumber),
      );
      // Joined: far fewer appends than writes.
      const appends = (t.store.commitStats?.().writes ?? 0) - appends0;
      assert.ok(queues.joinStats.writes >= 100, `joined writes: ${JSON.stringify(queues.joinStats)}`);
      assert.ok(queues.joinStats.fallbacks >= 1, `the batch with the key twice ran write by write: ${JSON.stringify(queues.joinStats)}`);
      if (t.store.commitStats) assert.ok(appends < 40, `${appends} appends for ${calls.length + 1} writes`);
    });

    it('a batch whose queue is gone fails every write in it, and a pinned version still goes alone', async () => {
      const queues = new QueueService({ store: t.store, now: Date.now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 10_000 });
      const owner = { userId: `owner-${randomUUID().slice(0, 8)}`, deviceId: 'phone' };
      const created = await queues.create(owner, { name: 'short-lived', tracks: ['a'] });
      const queueId = created.body.events[0]!.queueId;
      // The deletion goes first; the adds behind it are decided on the deleted queue.
      const deleting = queues.execute(owner, queueId, { type: 'delete_queue' });
      const adds = Array.from({ length: 10 }, (_, i) => queues.execute(owner, queueId, { type: 'add_tracks', tracks: [`late-${i}`] }));
      const pinned = queues.execute(owner, queueId, { type: 'add_tracks', tracks: ['pinned'] }, { expectedVersion: created.body.version });
      await deleting;
      for (const s of await Promise.allSettled(adds)) {
        assert.equal(s.status, 'rejected');
        assert.equal(((s as PromiseRejectedResult).reason as AppError).code, 'queue_not_found');
      }
      const p = await Promise.allSettled([pinned]);
      assert.equal(p[0]!.status, 'rejected');
      const events = await t.store.readEvents(queueId, 0, 100);
      assert.deepEqual(
        events.map((e) => e.type),
        ['queue_created', 'item_added', 'queue_deleted'],
      );
    });
  });
}
