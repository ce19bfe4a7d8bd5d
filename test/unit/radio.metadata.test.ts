// mergeReasons (src/radio/metadata.ts): the reasons a radio or mix queue keeps per track.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REASONS, mergeReasons } from '../../src/radio/metadata.ts';

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
});
