// Issue 24, part 3: a list going on (a playlist station, a queue's autoplay) keeps the
// list's artists: more of the seed artists' tracks are candidates, and the radio's artist
// rules (not twice in a row, at most 3 in 20) do not apply to it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stationBatch } from '../../src/radio/batch.ts';
import { BLENDS, Engine } from '../../src/reco/engine.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import { DEFAULT_SPREAD, LIST_SPREAD, rerank } from '../../src/reco/rerank.ts';
import { continuationSeeds, parseStation, resolveStation } from '../../src/reco/stations.ts';
import { generateCatalog } from '../helpers/catalog.ts';

describe('continuation: the list keeps its artists', () => {
  it('LIST_SPREAD keeps the scored order, one artist back to back; DEFAULT_SPREAD spreads it', () => {
    const cands = Array.from({ length: 30 }, (_, i) => ({ track: i, score: 100 - i, reason: { kind: 'similar' as const, seed: -1 } }));
    const artistOf = (t: number) => (t < 10 ? 0 : 1 + (t % 5));
    const list = rerank(cands, { count: 10, artistOf, exclude: new Set(), tail: [0, 0], ...LIST_SPREAD });
    assert.deepEqual(
      list.map((s) => s.track),
      Array.from({ length: 10 }, (_, i) => i),
    );
    const radio = rerank(cands, { count: 10, artistOf, exclude: new Set(), tail: [], ...DEFAULT_SPREAD });
    assert.ok(radio.filter((s) => artistOf(s.track) === 0).length <= DEFAULT_SPREAD.maxPerArtist);
  });

  it('takes more of the seed artists\u2019 tracks as candidates than a radio does', () => {
    const engine = new Engine();
    const cat = engine.catalog;
    // Artist X: 80 tracks, x0 the most popular; a few tracks of others share playlists with the seeds.
    for (let i = 0; i < 80; i++) cat.upsert({ id: `x${i}`, title: `x${i}`, artist: 'X' });
    for (let i = 0; i < 20; i++) cat.upsert({ id: `y${i}`, title: `y${i}`, artist: `Y${i}` });
    for (let i = 2; i < 80; i++) for (let n = 0; n < 80 - i; n++) cat.addPopularity(cat.lookup(`x${i}`)!, 1);
    // Popular tracks elsewhere: the popular fill of a short candidate list does not reach x70.
    for (let i = 0; i < 300; i++) {
      cat.upsert({ id: `z${i}`, title: `z${i}`, artist: `Z${i}` });
      for (let n = 0; n < 50; n++) cat.addPopularity(cat.lookup(`z${i}`)!, 1);
    }
    for (let p = 0; p < 10; p++) engine.addPlaylist(`p${p}`, null, ['x0', 'x1', `y${p}`, `y${p + 10}`]);
    const seeds = continuationSeeds([cat.lookup('x0')!, cat.lookup('x1')!]);
    const deep = cat.lookup('x70')!; // the 69th most popular of X's other tracks
    const list = engine.score({ tracks: seeds }, { mode: 'continuation', limit: 100 });
    const radio = engine.score({ tracks: seeds }, { mode: 'radio', limit: 100 });
    assert.ok(BLENDS.continuation.contentPerArtist > 70 && BLENDS.radio.contentPerArtist < 70);
    assert.ok(
      list.some((s) => s.track === deep),
      'continuation reaches deep into the seed artist',
    );
    assert.ok(!radio.some((s) => s.track === deep), 'radio stops at its 40 per artist');
    // The seed artist's tracks come before popular tracks that share nothing with the seeds.
    const rank = (t: number) => list.findIndex((s) => s.track === t);
    const zs = list.filter((s) => cat.id(s.track).startsWith('z')).map((s) => rank(s.track));
    assert.ok(
      zs.every((r) => r > rank(deep)),
      `x70 at ${rank(deep)}, z at ${zs.slice(0, 3)}`,
    );
  });

  it('a playlist station of one artist plays more of that artist than a radio may (3 in 20)', () => {
    const g = generateCatalog();
    const reco = new Recommender();
    for (const t of g.tracks) reco.engine.catalog.upsert({ ...t, durationMs: t.duration * 1000 });
    for (const p of g.playlists) reco.engine.addPlaylist(p.id, p.name, p.tracks);
    reco.engine.addPlaylist('one-artist', 'a0', [g.trackId(0, 0), g.trackId(0, 1), g.trackId(0, 2), g.trackId(0, 3)]);
    const stationId = 'playlist:one-artist';
    const resolved = resolveStation(reco, parseStation(stationId)!, null);
    assert.equal(resolved.mode, 'continuation');
    const items = stationBatch(reco, { userId: 'u', stationId, resolved, preferences: {}, count: 20, queueTracks: [], salt: 's' });
    const own = items.filter((i) => i.trackId.startsWith('a0t')).map((i) => i.trackId);
    assert.ok(own.length > DEFAULT_SPREAD.maxPerArtist, `artist 0's other tracks: ${own.join(', ')}`);
    assert.ok(!own.some((t) => ['a0t0', 'a0t1', 'a0t2', 'a0t3'].includes(t)), 'the playlist itself is not played back');
    // A track station on the same artist keeps the radio rules.
    const track = resolveStation(reco, parseStation(`track:${g.trackId(0, 0)}`)!, null);
    const radio = stationBatch(reco, { userId: 'u', stationId: 'track:a0t0', resolved: track, preferences: {}, count: 20, queueTracks: [], salt: 's' });
    assert.ok(radio.filter((i) => i.trackId.startsWith('a0t')).length <= DEFAULT_SPREAD.maxPerArtist);
  });
});
