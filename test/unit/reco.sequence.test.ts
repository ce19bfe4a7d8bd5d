// The engine's sequence score (issue 24 round 5): what followed the listener's last
// plays in other sessions, longer matched runs weighing more, sessions from another
// context type weighing less; and the user station's seeds that carry it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLENDS, Engine } from '../../src/reco/engine.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import { parseStation, resolveStation } from '../../src/reco/stations.ts';

function sessions(e: Engine, prefix: string, n: number, tracks: string[], contextType?: string): void {
  for (let i = 0; i < n; i++) for (const t of tracks) e.addSessionPlay(`${prefix}${i}`, t, false, contextType);
}

function rank(e: Engine, played: string[], o: { seq?: number; contextType?: string; contextMismatch?: number; only?: boolean } = {}): string[] {
  const idx = played.map((t) => e.catalog.lookup(t)!);
  const tracks = new Map(idx.map((t, i) => [t, 0.7 ** (idx.length - 1 - i)] as [number, number]));
  return e
    .score(
      { tracks, sequence: idx, contextType: o.contextType },
      {
        mode: 'session',
        limit: 3,
        // only: the sequence score alone (co-occurrence and neighbours off).
        blend: { seq: o.seq ?? BLENDS.session.seq, contextMismatch: o.contextMismatch ?? BLENDS.session.contextMismatch, ...(o.only ? { co: 0, knn: 0 } : {}) },
      },
    )
    .map((r) => e.catalog.id(r.track));
}

describe('sequence score', () => {
  it('is on for user stations (the session blend) and off for the other blends', () => {
    assert.ok(BLENDS.session.seq > 0);
    assert.equal(BLENDS.radio.seq, 0);
    assert.equal(BLENDS.continuation.seq, 0);
  });

  it('what followed the longest run of the last plays comes first, though co-occurrence says otherwise', () => {
    const e = new Engine();
    // After x, most sessions went on to b; the few that came to x from p went on to a.
    sessions(e, 'qx', 8, ['q', 'x', 'b']);
    sessions(e, 'px', 3, ['p', 'x', 'a']);
    // p also leads elsewhere, so a's co-occurrence with p is weak.
    sessions(e, 'pz', 12, ['p', 'z', 'c']);
    assert.equal(rank(e, ['p', 'x'], { seq: 0 })[0], 'b', 'without the sequence score, what follows x most often');
    // a: 3 sessions matching both plays (4 each) = 12; b: 8 matching x alone = 8.
    assert.equal(rank(e, ['p', 'x'], { only: true })[0], 'a');
    assert.equal(rank(e, ['q', 'x'], { only: true })[0], 'b');
  });

  // Issue 24 round 6: blend reads the per-track sequence scores only in a call that walked a
  // sequence, and spread marks a basket's own seeds in a byte per track: nothing may linger.
  it('a call leaves nothing behind: scores and scale are the same before and after other calls', () => {
    const e = new Engine();
    sessions(e, 'qx', 8, ['q', 'x', 'b']);
    sessions(e, 'px', 3, ['p', 'x', 'a']);
    sessions(e, 'pz', 12, ['p', 'z', 'c']);
    e.addPlaylist('l1', 'mix', ['p', 'x', 'a', 'z', 'q']);
    e.addPlaylist('l2', 'mix', ['p', 'x', 'b', 'c']);
    const seeds = (ids: string[]) => new Map(ids.map((t) => [e.catalog.lookup(t)!, 1] as [number, number]));
    const radio = () => e.score({ tracks: seeds(['x']) }, { mode: 'radio', limit: 5 });
    const list = () => e.score({ tracks: seeds(['p', 'x', 'z']) }, { mode: 'continuation', limit: 5 });
    const first = radio();
    const firstList = list();
    const played = ['p', 'x'].map((t) => e.catalog.lookup(t)!);
    const user = () => e.score({ tracks: seeds(['p', 'x']), sequence: played }, { mode: 'session', limit: 5 });
    const firstUser = user();
    rank(e, ['q', 'x']);
    assert.deepEqual(radio(), first, 'after calls that walked a sequence and one whose seeds share baskets');
    assert.deepEqual(list(), firstList);
    assert.deepEqual(user(), firstUser);
  });

  it('a match of three plays in a row outweighs a match of two', () => {
    const e = new Engine();
    sessions(e, 'two', 6, ['r', 'y', 'x', 'b']);
    sessions(e, 'three', 2, ['w', 'y', 'x', 'a']);
    // a: 2 x 4^2 = 32 against b: 6 x 4 = 24; from r, y, x: b 6 x 16 against a 2 x 4.
    assert.equal(rank(e, ['w', 'y', 'x'], { only: true })[0], 'a');
    assert.equal(rank(e, ['r', 'y', 'x'], { only: true })[0], 'b');
    assert.equal(rank(e, ['w', 'y', 'x'], { seq: 0 })[0], 'b', 'without it, what follows x most often');
  });

  it('sessions from the listener’s context type count more', () => {
    const e = new Engine();
    sessions(e, 'radio', 5, ['x', 'a'], 'radio');
    sessions(e, 'coll', 5, ['x', 'b'], 'user_collection');
    assert.equal(rank(e, ['x'], { contextType: 'radio', contextMismatch: 0.25 })[0], 'a');
    assert.equal(rank(e, ['x'], { contextType: 'user_collection', contextMismatch: 0.25 })[0], 'b');
    assert.equal(rank(e, ['x'], { contextType: 'radio', contextMismatch: 0.25, only: true })[0], 'a', 'through the sequence score too');
    const b = e.baskets.basketOf('session:radio0')!;
    assert.equal(e.baskets.context[b], e.baskets.findContext('radio'));
    assert.notEqual(e.baskets.findContext('radio'), 0);
    assert.equal(e.baskets.findContext('charts'), 0, 'an unknown context type is 0');
    assert.equal(e.baskets.findContext(null), 0);
  });

  it('a user station carries the listener’s last plays in order and their context type', () => {
    const reco = new Recommender();
    const at = Date.parse('2026-01-01T12:00:00Z');
    for (const [i, t] of ['t1', 't2', 't3'].entries())
      reco.ingest({
        userId: 'u',
        sessionId: null,
        trackId: t,
        action: i === 1 ? 'skip' : 'complete',
        position: i === 1 ? 10 : 200,
        source: null,
        contextType: 'editorial_playlist',
        hour: 12,
        context: null,
        occurredAt: new Date(at + i * 200_000).toISOString(),
      });
    const r = resolveStation(reco, parseStation('user:me')!, reco.peekProfile('u'));
    const cat = reco.engine.catalog;
    assert.deepEqual(
      r.seeds.sequence?.map((t) => cat.id(t)),
      ['t1', 't2', 't3'],
    );
    assert.equal(r.seeds.contextType, 'editorial_playlist');
    assert.equal(r.mode, 'session');
  });
});
