// Baskets: replacing a queue's basket over and over (every queue write does) leaves dead
// baskets that a compaction drops from the posting lists, in one pass (issue 16).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Baskets } from '../../src/reco/baskets.ts';

describe('Baskets compaction', () => {
  it('drops every dead basket from the postings and keeps the live ones', () => {
    const b = new Baskets();
    // Live baskets sharing tracks 0 and 1 with the queue: their postings must survive.
    for (let i = 0; i < 50; i++) b.set(`playlist:${i}`, 'playlist', [0, 1, 100 + i]);
    for (let i = 0; i < 5002; i++) b.set('queue:q', 'queue', [0, 1, 2, 3, (i % 7) + 10]);
    // The 5002nd replacement found 5001 dead baskets and compacted before adding its own.
    // Postings are typed arrays (CSR form, issue 12): compare their contents.
    const of = (t: number) => Array.from(b.of(t));
    const live = (t: number) => of(t).filter((x) => !b.dead[x]);
    assert.equal(of(0).length, 51, 'track 0: the 50 playlists and the current queue basket, no dead ones');
    assert.deepEqual(of(0), live(0));
    assert.deepEqual(of(2), [b.basketOf('queue:q')]);
    for (let i = 0; i < 50; i++) assert.deepEqual(of(100 + i), [b.basketOf(`playlist:${i}`)]);
    assert.equal(b.live, 51);
    // Tracks only dead baskets held are in no posting list any more.
    const current = b.basketOf('queue:q')!;
    const held = new Set(b.items(current));
    for (let t = 10; t < 17; t++) assert.deepEqual(of(t), held.has(t) ? [current] : []);
  });
});
