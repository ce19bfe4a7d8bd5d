// mergeReasons (src/radio/metadata.ts): the reasons a radio or mix queue keeps per track.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REASONS, mergeReasons, REASON_POOL, shared } from '../../src/radio/metadata.ts';
import type { Reason } from '../../src/reco/stations.ts';

const r = (text: string) => ({ kind: 'similar', text });

describe('mergeReasons', () => {
  it("adds a batch's reasons at the end; a track already there moves to the end with its new reason", () => {
    const old = { a: r('a1'), b: r('b1'), c: r('c1') };
    const merged = mergeReasons(
      old,
      [
        { trackId: 'b', reason: r('b2') },
        { trackId: 'd', reason: r('d1') },
        { trackId: 'd', reason: r('d2') },
      ],
      null,
    );
    assert.deepEqual(Object.entries(merged), [
      ['a', r('a1')],
      ['c', r('c1')],
      ['b', r('b2')],
      ['d', r('d2')],
    ]);
    assert.deepEqual(old, { a: r('a1'), b: r('b1'), c: r('c1') }, 'the old reasons are left as they were');
  });

  it('keeps only tracks still in the queue, and the newest MAX_REASONS', () => {
    const old = Object.fromEntries(Array.from({ length: MAX_REASONS }, (_, i) => [`t${i}`, r(`${i}`)]));
    const items = Array.from({ length: 50 }, (_, i) => ({ trackId: `n${i}`, reason: r(`n${i}`) }));
    const inQueue = new Set([...Object.keys(old).filter((k) => k !== 't1'), ...items.slice(1).map((i) => i.trackId)]);
    const merged = mergeReasons(old, items, inQueue);
    const keys = Object.keys(merged);
    assert.equal(keys.length, MAX_REASONS);
    assert.ok(keys.every((k) => inQueue.has(k)));
    assert.ok(!('n0' in merged), 'not in the queue');
    assert.equal(keys[keys.length - 1], 'n49');
    // 199 old tracks are in the queue and 49 new ones: the 48 oldest go (t0, t2 ... t48).
    assert.equal(keys[0], 't49');
    assert.ok(!('t1' in merged));
    assert.equal(Object.keys(mergeReasons(undefined, items, null)).length, 50);
  });

  // Issue 24 round 6: built in dictionary mode with shared reason objects; what it holds,
  // its keys' order and its JSON are what Object.fromEntries over the kept entries made.
  it('answers what the plain Object.fromEntries merge answered: same entries, order and JSON (seeded random cases)', () => {
    const plain = (old: Record<string, Reason> | undefined, items: { trackId: string; reason: Reason }[], inQueue: ReadonlySet<string> | null) => {
      const fresh = new Map<string, Reason>();
      for (const i of items) {
        fresh.delete(i.trackId);
        fresh.set(i.trackId, i.reason);
      }
      const kept: [string, Reason][] = [];
      if (old) for (const t of Object.keys(old)) if (!fresh.has(t) && (inQueue === null || inQueue.has(t))) kept.push([t, old[t]!]);
      for (const [t, x] of fresh) if (inQueue === null || inQueue.has(t)) kept.push([t, x]);
      return Object.fromEntries(kept.length > MAX_REASONS ? kept.slice(-MAX_REASONS) : kept);
    };
    let seed = 24;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    // Track ids of both kinds, including integer-like ones (JSON puts those first, in order).
    const track = () => (rnd(4) === 0 ? String(rnd(400)) : `spotify:track:${rnd(400).toString(36)}`);
    for (let c = 0; c < 300; c++) {
      let mine: Record<string, Reason> | undefined = rnd(5) === 0 ? undefined : {};
      let theirs = mine;
      for (let b = 0; b < 1 + rnd(6); b++) {
        const items = Array.from({ length: rnd(80) }, () => ({ trackId: track(), reason: r(`t${rnd(30)}`) }));
        const inQueue = rnd(3) === 0 ? null : new Set(Array.from({ length: 300 }, track));
        mine = mergeReasons(mine, items, inQueue);
        theirs = plain(theirs, items, inQueue);
        assert.deepStrictEqual(mine, theirs);
        assert.deepEqual(Object.keys(mine), Object.keys(theirs));
        assert.equal(JSON.stringify(mine), JSON.stringify(theirs));
        assert.equal(Object.getPrototypeOf(mine), Object.prototype);
      }
    }
  });

  it('keeps one frozen object per distinct reason, and leaves the batch its own objects', () => {
    const items = [
      { trackId: 'a', reason: r('like x') },
      { trackId: 'b', reason: r('like x') },
      { trackId: 'c', reason: { kind: 'listeners', text: 'like x' } },
    ];
    const merged = mergeReasons(undefined, items, null);
    assert.equal(merged.a, merged.b, 'equal reasons: one object');
    assert.notEqual(merged.a, merged.c, 'another kind: another object');
    assert.deepEqual(merged.c, { kind: 'listeners', text: 'like x' });
    assert.ok(Object.isFrozen(merged.a));
    assert.ok(!Object.isFrozen(items[0]!.reason), "the batch's reasons (the answer's) are not frozen");
    assert.equal(mergeReasons(merged, [{ trackId: 'd', reason: r('like x') }], null).d, merged.a, 'across merges too');
    // Past REASON_POOL distinct reasons the pool starts over: answers stay right.
    for (let i = 0; i <= REASON_POOL; i++) shared(r(`n${i}`));
    const again = shared(r('like x'));
    assert.deepEqual(again, r('like x'));
    assert.ok(Object.isFrozen(again));
  });
});
