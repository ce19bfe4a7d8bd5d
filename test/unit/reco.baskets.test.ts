// Baskets: replacing a queue's basket over and over (every queue write does) leaves dead
// baskets that a compaction drops from the posting lists, in one pass (issue 16).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Baskets } from '../../src/reco/baskets.ts';
import { mulberry32 } from '../helpers/random.ts';

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

  it('sessions played in turn grow in amortised constant time, and keep their tracks', () => {
    // Live plays append to several session baskets in turn (one per queue being played). A
    // basket that outgrows its room moves to the arena's end with twice the room; the one
    // there before kept none, and compactions took everyone's: each play then moved a whole
    // basket (quadratic; a fifth of a server's CPU after a minute of bench:core).
    const b = new Baskets();
    for (let i = 0; i < 200; i++) b.set(`playlist:${i}`, 'playlist', [i, i + 1, i + 2]);
    const sessions = 8;
    const plays = 20_000;
    for (let k = 0; k < plays; k++) for (let s = 0; s < sessions; s++) b.append(`session:s${s}`, 'session', (k * 7 + s) % 5000, k % 3 === 0 ? 0.3 : 1);
    const total = sessions * plays;
    assert.ok(b.copied < 4 * total, `copied ${b.copied} tracks for ${total} plays`);
    for (let s = 0; s < sessions; s++) {
      const basket = b.basketOf(`session:s${s}`)!;
      const items = b.items(basket);
      assert.equal(items.length, plays);
      for (const k of [0, 1, 2, 777, plays - 1]) {
        assert.equal(items[k], (k * 7 + s) % 5000);
        assert.equal(b.weight(basket, k), k % 3 === 0 ? Math.fround(0.3) : 1);
      }
    }
    for (let i = 0; i < 200; i++) assert.deepEqual(Array.from(b.items(b.basketOf(`playlist:${i}`)!)), [i, i + 1, i + 2]);
  });

  it('after a bulk build and trim, a basket holds exactly its tracks: its next play moves it once', () => {
    const b = new Baskets();
    for (let i = 0; i < 1000; i++) for (let k = 0; k < 37; k++) b.append(`session:bulk${i}`, 'session', (i + k) % 900);
    b.trim();
    const before = b.copied;
    // After trim every basket holds exactly its tracks: one more play moves one basket.
    b.append('session:bulk3', 'session', 5);
    assert.equal(b.copied - before, 37);
    assert.equal(b.items(b.basketOf('session:bulk3')!).length, 38);
  });

  it('an unweighted basket stores no weights until its first non-unit one, wherever it has moved', () => {
    // Weights are written for weighted baskets only (the rest of the arena's weights stay
    // untouched): a basket that turns weighted gets 1 for the items it had.
    const b = new Baskets();
    for (let i = 0; i < 50; i++) b.set(`queue:${i}`, 'queue', [i]);
    for (let k = 0; k < 300; k++) for (let i = 0; i < 50; i++) b.append(`queue:${i}`, 'queue', k + 100);
    for (let i = 0; i < 50; i++) assert.equal(b.weights(b.basketOf(`queue:${i}`)!), null);
    b.append('queue:7', 'queue', 5, 0.3);
    for (let k = 0; k < 2000; k++) {
      b.append('queue:7', 'queue', k, k % 2 ? 1 : 0.5);
      b.append(`queue:${k % 50 === 7 ? 8 : k % 50}`, 'queue', k);
    }
    const w = b.weights(b.basketOf('queue:7')!)!;
    assert.equal(w.length, 301 + 1 + 2000);
    assert.ok(w.slice(0, 301).every((x) => x === 1));
    assert.equal(w[301], Math.fround(0.3));
    const rest = w.slice(302).filter((x) => x !== 1);
    assert.equal(rest.length, 1000);
    assert.ok(rest.every((x) => x === 0.5));
    assert.equal(b.weights(b.basketOf('queue:8')!), null);
  });
});

describe('Baskets renumbering (dead baskets give their numbers back)', () => {
  it('a queue basket replaced 60,000 times keeps the basket count bounded; items, postings and oldest-to-newest order kept', () => {
    // Each replacement takes a new number; without giving dead ones back, the per-basket
    // arrays (and the engine's scratch arrays sized by them) grew by one entry a replacement.
    const random = mulberry32(11);
    const rand = (n: number) => Math.floor(random() * n);
    const b = new Baskets();
    // The model: every live key's tracks, keys in the order their basket was set (oldest first).
    const model = new Map<string, number[]>();
    const put = (key: string, kind: 'playlist' | 'queue', tracks: number[], name: string | null = null) => {
      b.set(key, kind, tracks, null, name);
      model.delete(key);
      model.set(key, tracks);
    };
    for (let p = 0; p < 300; p++) put(`playlist:${p}`, 'playlist', [rand(500), rand(500), 500 + p], `mix ${p}`);
    let maxSize = 0;
    for (let i = 0; i < 60_000; i++) {
      put(`queue:q${rand(20)}`, 'queue', [rand(500), rand(500), rand(500)]);
      if (i % 1000 === 0) put(`playlist:new${i}`, 'playlist', [rand(500), 900]);
      if (i % 7000 === 0) {
        const gone = `playlist:${rand(300)}`;
        if (model.delete(gone)) b.remove(gone);
      }
      maxSize = Math.max(maxSize, b.size);
    }
    assert.ok(maxSize <= 2 * b.live + 5002, `${maxSize} basket numbers at most for ${b.live} live baskets`);
    assert.ok(b.generation >= 5, `renumbered ${b.generation} times`);
    assert.equal(b.live, model.size);
    // Live baskets, by number, are the keys in the order they were set.
    const byNumber = [...model.keys()].map((k) => b.basketOf(k)!);
    for (let i = 1; i < byNumber.length; i++) assert.ok(byNumber[i - 1]! < byNumber[i]!, `order kept at ${i}`);
    for (const [k, tracks] of model) {
      const n = b.basketOf(k)!;
      assert.equal(b.keyOf(n), k);
      assert.deepEqual(b.items(n), tracks, k);
      if (k.startsWith('playlist:')) assert.ok(b.names[n]?.startsWith('mix') || k.startsWith('playlist:new'));
    }
    // Each track's live baskets are exactly the model's baskets holding it.
    for (let t = 0; t < 1000; t++) {
      const want = [...model].filter(([, tracks]) => tracks.includes(t)).map(([k]) => b.basketOf(k)!);
      const got = Array.from(b.of(t)).filter((x) => !b.dead[x]);
      assert.deepEqual(
        got.sort((x, y) => x - y),
        want.sort((x, y) => x - y),
        `track ${t}`,
      );
    }
  });
});
