// The party service on both databases, with a real queue service: a playback command that
// moves the queue is safe to retry at every step [PA11]. The failure is injected between
// the queue move and the party append (a crash of the instance there), on the real stores.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PARTY_OPTIONS, PartyService } from '../../src/party/service.ts';
import type { PartyStore } from '../../src/party/store.ts';
import { QueueService } from '../../src/queues/service.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';
import { storeKinds } from '../helpers/server.ts';

for (const { kind, skip } of storeKinds) {
  describe(`party service: playback commands safe to retry (${kind})`, { skip }, () => {
    let t: TestStorage;
    let queues: QueueService;
    let parties: PartyService;
    /** Set to make the next keyed party append fail (after the queue moved). */
    let crashNextAppend = false;
    before(async () => {
      t = await openTestStorage(kind);
      const real = t.features.parties;
      // The real store; only its update can be made to fail once, as a crash there would.
      const store: PartyStore = Object.assign(Object.create(real) as PartyStore, {
        update: ((...args: Parameters<PartyStore['update']>) => {
          if (crashNextAppend && args[3]) {
            crashNextAppend = false;
            return Promise.reject(new Error('instance crashed before the party append'));
          }
          return real.update(...args);
        }) as PartyStore['update'],
      });
      const now = () => Date.now();
      queues = new QueueService({ store: t.store, now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 1000 });
      parties = new PartyService({ store, queues, now, newId: randomUUID, options: DEFAULT_PARTY_OPTIONS });
    });
    after(async () => {
      await t?.cleanup();
    });

    it('[PA11] a next that moved the queue but was not appended (a crash): its retry moves nothing more and appends once', async () => {
      const host = { userId: 'host', deviceId: 'phone' };
      const q = await queues.create(host, { name: 'retry', tracks: ['t1', 't2', 't3'] });
      const queueId = q.body.queue!.id;
      const party = await parties.create(host, { queueId });
      await parties.playback(host, party.id, { action: 'play' }, 'play');
      const v0 = (await queues.get(host, queueId)).version;
      crashNextAppend = true;
      await assert.rejects(parties.playback(host, party.id, { action: 'next' }, 'n-1'), /crashed/);
      const moved = await queues.get(host, queueId);
      assert.equal(moved.version, v0 + 1, 'the queue moved before the crash');
      const seq = (await parties.view(host, party.id)).sequenceNumber;
      // The retry: the queue move is answered from its record, the party event appended once.
      const first = await parties.playback(host, party.id, { action: 'next' }, 'n-1');
      assert.equal(first.replayed, false);
      assert.equal(first.event.sequenceNumber, seq + 1);
      assert.equal((first.event.data as { trackId: string | null }).trackId, 't2');
      const again = await parties.playback(host, party.id, { action: 'next' }, 'n-1');
      assert.deepEqual(again, { event: first.event, replayed: true });
      const q2 = await queues.get(host, queueId);
      assert.equal(q2.version, v0 + 1, 'moved once');
      assert.equal(q2.currentItemId, moved.currentItemId);
      assert.equal((await parties.view(host, party.id)).sequenceNumber, seq + 1);
    });
  });
}
