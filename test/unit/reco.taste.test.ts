// A listener's plays as a user station's seeds (issue 24 round 6): the taste-seed options
// (recency decay, window, the bonus of a completed play) and the user station's handling
// of skipped plays (outcome matching, a factor on their weight), which
// bench/eval/next-track.ts varies; the defaults are what the station does.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Profile, TASTE } from '../../src/reco/profile.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import { parseStation, resolveStation, USER_SKIPS, USER_TASTE } from '../../src/reco/stations.ts';
import { JITTER, stationBatch } from '../../src/radio/batch.ts';

/** Plays tracks 0..n-1 in order; the ones in `skips` skipped early, the rest completed. */
function played(n: number, skips: ReadonlySet<number> = new Set()): Profile {
  const p = new Profile();
  for (let t = 0; t < n; t++) p.fold({ track: t, artist: -1, action: skips.has(t) ? 'skip' : 'complete', position: skips.has(t) ? 10 : 200 });
  return p;
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

describe('taste seeds', () => {
  it('by default: the newest play 1 + the completion bonus, the one before 0.7 of that, older than the window 0.02', () => {
    assert.deepEqual(TASTE, { decay: 0.7, window: 20, completeBonus: 0.1 });
    const { tracks } = played(25).tasteSeeds(30);
    close(tracks.get(24)!, 1 + 0.1);
    close(tracks.get(23)!, 0.7 + 0.1);
    close(tracks.get(4)!, 0.02 + 0.1);
  });

  it('take another decay, window and completion bonus', () => {
    const { tracks } = played(6).tasteSeeds(30, { decay: 0.5, window: 3, completeBonus: 0 });
    close(tracks.get(5)!, 1);
    close(tracks.get(4)!, 0.5);
    close(tracks.get(3)!, 0.25);
    close(tracks.get(2)!, 0.02);
  });

  it('give skipped plays no completion bonus, and report their outcome', () => {
    const { tracks, skipped } = played(3, new Set([1])).tasteSeeds(30);
    close(tracks.get(1)!, 0.7);
    close(tracks.get(0)!, 0.49 + 0.1);
    assert.deepEqual([...skipped].sort(), [
      [0, false],
      [1, true],
      [2, false],
    ]);
  });
});

describe('a user station’s skipped plays', () => {
  afterEach(() => {
    Object.assign(USER_SKIPS, { matchOutcome: true, seedWeight: 1 });
    for (const k of Object.keys(USER_TASTE)) delete USER_TASTE[k as keyof typeof USER_TASTE];
  });

  function station(): { reco: Recommender; seeds: () => ReturnType<typeof resolveStation>['seeds'] } {
    const reco = new Recommender();
    for (const [i, [trackId, action]] of [
      ['a', 'complete'],
      ['b', 'skip'],
      ['c', 'complete'],
    ].entries())
      reco.ingest({
        userId: 'u',
        sessionId: null,
        trackId: trackId!,
        action: action as 'complete' | 'skip',
        position: action === 'skip' ? 10 : 200,
        source: null,
        contextType: null,
        hour: 12,
        context: null,
        occurredAt: new Date(Date.UTC(2026, 0, 1, 12, 4 * i)).toISOString(),
      });
    return { reco, seeds: () => resolveStation(reco, parseStation('user:me')!, reco.peekProfile('u')).seeds };
  }

  it('stay seeds with their outcome to match, weighted as the profile says', () => {
    const { reco, seeds } = station();
    const cat = reco.engine.catalog;
    const s = seeds();
    const b = cat.lookup('b')!;
    close(s.tracks.get(b)!, 0.7);
    assert.equal(s.skipped?.get(b), true);
    assert.equal(s.skipped?.get(cat.lookup('a')!), false);
  });

  it('weigh USER_SKIPS.seedWeight times that, and match as kept without outcome matching', () => {
    const { reco, seeds } = station();
    const b = reco.engine.catalog.lookup('b')!;
    const a = reco.engine.catalog.lookup('a')!;
    Object.assign(USER_SKIPS, { matchOutcome: false, seedWeight: 2 });
    const s = seeds();
    close(s.tracks.get(b)!, 1.4);
    close(s.tracks.get(a)!, 0.49 + 0.1);
    assert.equal(s.skipped?.get(b), false);
  });

  it('follow USER_TASTE', () => {
    const { reco, seeds } = station();
    USER_TASTE.completeBonus = 0;
    close(seeds().tracks.get(reco.engine.catalog.lookup('c')!)!, 1);
  });
});

describe('the jitter width per mode', () => {
  afterEach(() => {
    JITTER.session = 0.06;
  });

  it('is ±3% by default, and 0 leaves the engine order, the same for any salt', () => {
    assert.deepEqual(JITTER, { radio: 0.06, continuation: 0.06, session: 0.06 });
    const reco = new Recommender();
    // Sessions where x is followed by tracks t0..t29, the earlier ones more often.
    for (let i = 0; i < 30; i++) for (let k = 0; k <= i; k++) for (const t of ['x', `t${29 - i}`]) reco.engine.addSessionPlay(`s${i}-${k}`, t, false);
    reco.ingest({
      userId: 'u',
      sessionId: null,
      trackId: 'x',
      action: 'complete',
      position: 200,
      source: null,
      contextType: null,
      hour: 12,
      context: null,
      occurredAt: '2026-01-01T12:00:00Z',
    });
    const batch = (salt: string) =>
      stationBatch(reco, {
        userId: 'u',
        stationId: 'user:me',
        resolved: resolveStation(reco, parseStation('user:me')!, reco.peekProfile('u')),
        preferences: {},
        count: 20,
        queueTracks: [],
        salt,
      }).map((i) => i.trackId);
    JITTER.session = 0;
    const a = batch('one');
    assert.deepEqual(batch('two'), a);
    assert.deepEqual(a.slice(0, 5), ['t0', 't1', 't2', 't3', 't4']);
  });
});
