// The queue service's state cache packs the queues nobody used lately (src/queues/packed.ts,
// issue 24's memory): on both databases, a queue read or written after it was packed is the
// queue the store has, as a service with nothing cached reads it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { QueueService } from '../../src/queues/service.ts';
import { PACK_AFTER } from '../../src/queues/state-cache.ts';
import { storeKinds } from '../helpers/server.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';

for (const { kind, skip } of storeKinds) {
  describe(`queue service: packed cache entries (${kind})`, { skip }, () => {
    let t: TestStorage;
    const service = () => new QueueService({ store: t.store, now: Date.now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 1000 });
    before(async () => {
      t = await openTestStorage(kind);
    });
    after(async () => {
      await t?.cleanup();
    });

    it('reads and writes queues packed in the cache as the store has them', async () => {
      const queues = service();
      const owner = { userId: `owner-${randomUUID()}`, deviceId: null };
      const ids: string[] = [];
      for (let i = 0; i < PACK_AFTER + 16; i++) {
        const q = await queues.create(owner, { name: `q${i}`, type: i % 2 ? 'radio' : 'user', tracks: [`t${i}-a`, `t${i}-b`, `t${i}-c`] });
        ids.push(q.body.queue!.id);
      }
      // The first ones are packed by now; shuffle one, vote on another, add to a third.
      await queues.execute(owner, ids[0]!, { type: 'set_shuffle', shuffle: true });
      const first = await queues.get(owner, ids[1]!);
      await queues.execute(owner, ids[1]!, { type: 'vote_item', itemId: first.items.at(0)!.itemId, vote: 1 });
      await queues.execute(owner, ids[2]!, { type: 'add_tracks', tracks: ['late'] });
      for (let i = 0; i < PACK_AFTER + 16; i++) await queues.create(owner, { name: `more${i}`, tracks: ['x'] });
      const fresh = service();
      for (const id of ids) assert.deepStrictEqual(await queues.get(owner, id), await fresh.get(owner, id), id);
      assert.equal((await queues.get(owner, ids[2]!)).items.length, 4);
      assert.equal((await queues.get(owner, ids[0]!)).shuffle, true);
    });
  });
}
