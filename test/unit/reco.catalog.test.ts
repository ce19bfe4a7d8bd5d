// The engine's catalog keeps each track's genres as a shared set number (issue 24 round
// 7): tracks with the same genres share one list, and changing or removing one track's
// genres leaves the others' as they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Catalog } from '../../src/reco/catalog.ts';

describe('genres per track (issue 24 round 7)', () => {
  it('answers each track its own genres through upserts and removals', () => {
    const cat = new Catalog();
    const names = (t: number) => cat.genresOf(t)?.map((g) => cat.genreNames.names[g]) ?? null;
    const a = cat.upsert({ id: 'a', title: 'a', artist: 'x', genres: ['Rock', 'Pop', 'Rock'] });
    const b = cat.upsert({ id: 'b', title: 'b', artist: 'x', genres: ['Rock', 'Pop'] });
    const c = cat.upsert({ id: 'c', title: 'c', artist: 'y', genres: ['Pop', 'Rock'] });
    const d = cat.ensure('d'); // seen only in listening data
    assert.deepEqual(names(a), ['rock', 'pop']);
    assert.deepEqual(names(b), ['rock', 'pop']);
    assert.deepEqual(names(c), ['pop', 'rock'], 'the order given');
    assert.equal(names(d), null);
    cat.upsert({ id: 'a', title: 'a', artist: 'x', genres: ['Jazz'] });
    assert.deepEqual(names(a), ['jazz']);
    assert.deepEqual(names(b), ['rock', 'pop'], 'b keeps the set it shared with a');
    cat.upsert({ id: 'b', title: 'b', artist: 'x' });
    assert.equal(names(b), null);
    cat.remove('c');
    assert.equal(names(c), null);
    const rock = cat.genreNames.find('rock')!;
    const jazz = cat.genreNames.find('jazz')!;
    assert.deepEqual(cat.topOfGenre(rock, 10), []);
    assert.deepEqual(cat.topOfGenre(jazz, 10), [a]);
    // Many tracks past the per-track arrays' first size keep theirs.
    for (let i = 0; i < 3000; i++) cat.upsert({ id: `t${i}`, title: 't', artist: 'z', genres: i % 3 ? ['Rock'] : [] });
    assert.deepEqual(names(cat.lookup('t1')!), ['rock']);
    assert.equal(names(cat.lookup('t2997')!), null);
    assert.deepEqual(names(a), ['jazz']);
  });
});

describe('features and durations per track (issue 24 round 7)', () => {
  it('keeps each track its own features through re-upserts; none for tracks without', () => {
    const cat = new Catalog();
    const a = cat.upsert({ id: 'a', title: 'a', artist: 'x', durationMs: 1000, features: { energy: 0.5, valence: 0.25 } });
    const b = cat.upsert({ id: 'b', title: 'b', artist: 'x', features: { energy: 0.75 } });
    const c = cat.upsert({ id: 'c', title: 'c', artist: 'x', durationMs: 2000 });
    const d = cat.ensure('d');
    assert.equal(cat.features(a)![1], 0.5);
    assert.equal(cat.features(a)![2], 0.25);
    assert.equal(cat.features(b)![1], 0.75);
    assert.equal(cat.features(c), null);
    assert.equal(cat.features(d), null);
    assert.equal(cat.featureSimilarity(a, b), 0.75);
    assert.equal(cat.featureSimilarity(a, c), null);
    cat.upsert({ id: 'a', title: 'a', artist: 'x', features: { energy: 1 } });
    assert.equal(cat.features(a)![1], 1);
    assert.ok(Number.isNaN(cat.features(a)![2]!));
    assert.equal(cat.features(b)![1], 0.75, 'b keeps its row');
    const e = cat.upsert({ id: 'e', title: 'e', artist: 'x', features: { energy: 0 } });
    assert.equal(cat.features(e)![1], 0);
    assert.deepEqual([cat.durationMs[a], cat.durationMs[b], cat.durationMs[c], cat.durationMs[d]], [0, 0, 2000, 0]);
  });
});

describe('tracks per artist, packed after a build (issue 24 round 7)', () => {
  it('answers as one array per artist did, through changes before and after packing', () => {
    const cat = new Catalog();
    const model = new Map<string, string>(); // track id -> artist name (live tracks)
    let seed = 3;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const check = () => {
      for (let a = 0; a < cat.artists.size + 1; a++) {
        const name = cat.artists.display[a];
        const want = [...model].filter(([, n]) => n === name).map(([id]) => cat.lookup(id)!);
        assert.deepEqual(
          [...cat.tracksOfArtist(a)].sort((x, y) => x - y),
          want.sort((x, y) => x - y),
          `artist ${a}`,
        );
        assert.deepEqual(cat.topOfArtist(a, 3), want.sort((x, y) => cat.popularity[y]! - cat.popularity[x]! || x - y).slice(0, 3));
      }
    };
    const step = () => {
      const id = `t${rand(300)}`;
      const r = rand(10);
      if (r < 7) {
        const artist = `artist ${rand(20)}`;
        cat.upsert({ id, title: id, artist });
        model.set(id, artist);
      } else if (r < 9) {
        cat.remove(id);
        model.delete(id);
      } else cat.addPopularity(cat.ensure(id), 1 + rand(5));
    };
    for (let i = 0; i < 2000; i++) step();
    check();
    cat.trim(); // packs
    check();
    for (let i = 0; i < 500; i++) step();
    check();
    cat.trim();
    check();
  });
});
