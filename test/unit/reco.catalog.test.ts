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
