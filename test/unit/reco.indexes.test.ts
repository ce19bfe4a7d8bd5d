// Issue 24: the engine's secondary indexes (baskets per artist and per name word) are
// rebuilt in the background on a large engine, a slice of baskets per turn of the event
// loop. Meanwhile answers keep coming from the index before the rebuild; once it is
// done the new index is used. The engine is made "large" at 10 baskets and rebuilds
// 3 baskets a turn, so the rebuild spans many turns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine } from '../../src/reco/engine.ts';
import { BasketIndexes } from '../../src/reco/indexes.ts';
import { waitFor } from '../helpers/wait.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

/** 40 playlists of 10 tracks, each of one artist (a0 .. a9), and the engine that holds them. */
function engine(): Engine {
  const e = new Engine({ indexes: { large: 10, slice: 3, rebuildEveryMs: 0 } });
  for (let a = 0; a < 10; a++) for (let t = 0; t < 20; t++) e.catalog.upsert({ id: `a${a}t${t}`, title: `track ${t}`, artist: `artist ${a}` });
  for (let p = 0; p < 40; p++) {
    const a = p % 10;
    e.addPlaylist(
      `p${p}`,
      `mix ${p}`,
      Array.from({ length: 10 }, (_, i) => `a${a}t${(p + i) % 20}`),
    );
  }
  return e;
}

describe('background rebuild of the basket indexes (issue 24)', () => {
  it('answers from the previous index while the rebuild runs, and from the new one after', async () => {
    const e = engine();
    const cat = e.catalog;
    // The seed: a track of artist 0 found in a single playlist only through its artist.
    e.catalog.upsert({ id: 'seed', title: 'seed', artist: 'artist 0' });
    const seed = cat.lookup('seed')!;
    const ask = () => e.score({ tracks: new Map([[seed, 1]]) }, { mode: 'radio', limit: 50 });
    // The first build is synchronous (there is no index yet to answer from).
    assert.ok(ask().length > 0);
    assert.equal(e.indexesRebuilding, false);

    // A new playlist shares only the seed's artist with it, and brings a track no other
    // playlist has: only basket similarity through the artist index can find that one.
    cat.upsert({ id: 'fresh', title: 'fresh', artist: 'artist 9' });
    e.addPlaylist('new', 'newcomers', ['a0t1', 'a0t2', 'a0t3', 'fresh']);
    const fresh = cat.lookup('fresh')!;
    const has = (xs: { track: number }[]) => xs.some((x) => x.track === fresh);

    // This call starts the rebuild and is answered at once from the old index.
    const during = ask();
    assert.equal(e.indexesRebuilding, true, 'a rebuild is under way');
    assert.ok(during.length > 0 && !has(during), 'answered from the index before the rebuild');
    // It takes several turns of the event loop (41 baskets, 3 a turn); answers keep coming.
    let served = 0;
    for (let i = 0; i < 5; i++) {
      await turn();
      if (!e.indexesRebuilding) break;
      const r = ask();
      assert.ok(r.length > 0 && !has(r), 'still the previous index mid-rebuild');
      served++;
    }
    assert.ok(served >= 3, `answers served during the rebuild: ${served}`);

    // Once done, the new playlist is in the artist index and its track comes up.
    await waitFor(() => !e.indexesRebuilding, { what: 'the rebuild to finish' });
    const after = ask();
    assert.ok(has(after), 'the new index is used once built');
    assert.equal(after.find((x) => x.track === fresh)!.reason.kind, 'listeners');
  });

  it('runs one rebuild at a time however many answers ask for it', async () => {
    const e = engine();
    const a0 = e.catalog.lookup('a0t0')!;
    const ask = () => e.score({ tracks: new Map([[a0, 1]]) }, { mode: 'radio', limit: 20 });
    ask();
    e.addPlaylist('new', 'newcomers', ['a0t1', 'a0t2']);
    ask();
    assert.equal(e.indexesRebuilding, true);
    // Asking again while it runs neither restarts it nor starts a second one: it ends
    // within the turns one rebuild of 41 baskets takes.
    let turns = 0;
    while (e.indexesRebuilding) {
      ask();
      await turn();
      turns++;
      assert.ok(turns <= 20, `rebuild still running after ${turns} turns`);
    }
    assert.ok(turns >= 10, `${turns} turns: sliced, not at once`);
  });
});

describe('baskets per artist, packed (issue 24 round 7)', () => {
  it('lists each artist its live baskets once each, oldest first, as one JS array per artist did', () => {
    // Seeded: playlists of 1-12 tracks over 30 artists, some artists more than once in a
    // playlist, some playlists replaced or removed (dead baskets), tracks without an artist.
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const e = new Engine();
    for (let t = 0; t < 200; t++) e.catalog.upsert({ id: `t${t}`, title: `t${t}`, artist: `artist ${rand(30)}` });
    for (let p = 0; p < 300; p++) {
      const tracks = Array.from({ length: 1 + rand(12) }, () => (rand(10) === 0 ? `unknown${rand(50)}` : `t${rand(200)}`));
      e.addPlaylist(`p${rand(200)}`, null, tracks);
      if (rand(10) === 0) e.removePlaylist(`p${rand(200)}`);
    }
    const indexes = new BasketIndexes(e.catalog, e.baskets);
    const packed = indexes.byArtist();
    const naive: number[][] = [];
    for (let b = 0; b < e.baskets.size; b++) {
      if (e.baskets.dead[b]) continue;
      for (const t of e.baskets.items(b)) {
        const a = e.catalog.artist[t]!;
        if (a < 0) continue;
        const p = (naive[a] ??= []);
        if (p[p.length - 1] !== b) p.push(b);
      }
    }
    assert.equal(packed.keys, naive.length);
    for (let a = 0; a < e.catalog.artists.size + 2; a++) assert.deepEqual(packed.list(a), naive[a] ?? [], `artist ${a}`);
    assert.deepEqual(packed.list(-1), []);
    assert.ok(packed.data.length > 300, `${packed.data.length} entries`);
  });
});

describe('the indexes across a renumbering of the baskets', () => {
  /** Each artist's live baskets, oldest first, computed from the baskets themselves. */
  const naive = (e: Engine, skip = new Set<number>()) => {
    const out: number[][] = [];
    for (let b = 0; b < e.baskets.size; b++) {
      if (e.baskets.dead[b] || skip.has(b)) continue;
      for (const t of e.baskets.items(b)) {
        const a = e.catalog.artist[t]!;
        if (a < 0) continue;
        const p = (out[a] ??= []);
        if (p[p.length - 1] !== b) p.push(b);
      }
    }
    return out;
  };
  /** Replaces one queue basket until the baskets renumber (5,001 dead and more than the live ones). */
  const churn = (e: Engine) => {
    const g = e.baskets.generation;
    const t = (i: number) => e.catalog.lookup(`a${i % 10}t${i % 20}`)!;
    for (let i = 0; g === e.baskets.generation; i++) e.baskets.set('queue:q', 'queue', [t(i), t(i + 3), t(i + 7)]);
    return e.baskets.basketOf('queue:q')!;
  };

  it('names the same baskets by their new numbers, without a rebuild', () => {
    const e = engine();
    for (let p = 0; p < 40; p += 3) e.removePlaylist(`p${p}`);
    // Built once, never rebuilt afterwards: what it answers after the renumbering is the remapped index.
    const ix = new BasketIndexes(e.catalog, e.baskets, { large: 0, rebuildEveryMs: 1e12 });
    const before = ix.playlistsNamed(['mix'], 100);
    assert.ok(ix.byArtist().data.length > 20);
    const queue = churn(e);
    assert.ok(e.baskets.size < 100, `${e.baskets.size} basket numbers after the renumbering`);
    // The queue basket came after the build: the index does not know it yet, and knows every other.
    const want = naive(e, new Set([queue]));
    const got = ix.byArtist();
    for (let a = 0; a < 10; a++) assert.deepEqual(got.list(a), want[a] ?? [], `artist ${a}`);
    assert.deepEqual(ix.playlistsNamed(['mix'], 100), before);
    assert.equal(ix.rebuilding, false);
  });

  it('drops a background rebuild that a renumbering overtakes, and builds again right', async () => {
    const e = engine();
    const ix = new BasketIndexes(e.catalog, e.baskets, { large: 0, slice: 3, rebuildEveryMs: 0 });
    ix.byArtist();
    for (let p = 0; p < 40; p += 2) e.removePlaylist(`p${p}`);
    e.addPlaylist('late', 'late mix', ['a1t1', 'a2t2']);
    ix.byArtist();
    assert.equal(ix.rebuilding, true);
    await turn();
    const queue = churn(e);
    await waitFor(() => !ix.rebuilding, { what: 'the overtaken rebuild to stop' });
    // Until the next rebuild it answers from the first build, renumbered: without the baskets
    // set after it (the late playlist, the queue) and without the removed ones. Asking starts
    // a new rebuild over the new numbers.
    const first = naive(e, new Set([e.baskets.basketOf('playlist:late')!, queue]));
    const meanwhile = ix.byArtist();
    assert.equal(ix.rebuilding, true);
    for (let a = 0; a < 10; a++) assert.deepEqual(meanwhile.list(a), first[a] ?? [], `artist ${a}, before the new rebuild`);
    await waitFor(() => !ix.rebuilding, { what: 'the rebuild to finish' });
    const want = naive(e);
    const got = ix.byArtist();
    for (let a = 0; a < 10; a++) assert.deepEqual(got.list(a), want[a] ?? [], `artist ${a}`);
  });
});
