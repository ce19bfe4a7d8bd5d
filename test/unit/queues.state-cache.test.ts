// The queue state cache (src/queues/state-cache.ts): bounded by queues and by items, newer
// states win, and eviction (second chance) keeps the queues that are read over the ones
// that are not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueState } from '../../src/queues/queue.ts';
import { StateCache, weightOf } from '../../src/queues/state-cache.ts';

/** Only what the cache reads of a state: its version, its items, its history and its metadata. */
const state = (version: number, items: number, metadata: Record<string, unknown> = {}, history = 0) =>
  ({
    version,
    items: Array.from({ length: items }, (_, i) => ({ itemId: `i${i}` })),
    history: Array.from({ length: history }, (_, i) => ({ itemId: `i${i}`, trackId: `t${i}`, playedAt: 'x' })),
    metadata,
  }) as unknown as QueueState;
/** A radio queue's metadata: a reason (kind, text) per track, as src/radio/metadata.ts keeps them. */
const reasons = (n: number) => ({
  radio: {
    stationId: 'track:x',
    batches: 1,
    reasons: Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, { kind: 'similar', text: `similar to ${i}` }])),
  },
});

describe('StateCache', () => {
  it('keeps the newest state of a queue: an older one never replaces it', () => {
    const c = new StateCache(10, 1000);
    c.set('q', state(3, 2));
    c.set('q', state(2, 5));
    assert.equal(c.get('q')?.version, 3);
    c.set('q', state(4, 1));
    assert.equal(c.get('q')?.version, 4);
    c.delete('q');
    assert.equal(c.get('q'), undefined);
  });

  it('past its count of queues drops one nobody read since, not the ones read', () => {
    const c = new StateCache(3, 1000);
    for (const id of ['a', 'b', 'c']) c.set(id, state(1, 1));
    c.get('a');
    c.get('c');
    c.set('d', state(1, 1));
    assert.equal(c.size, 3);
    assert.equal(c.get('b'), undefined, 'b was the one not read');
    for (const id of ['a', 'c', 'd']) assert.ok(c.get(id), `${id} stays`);
  });

  it('when every queue was read, still makes room (the oldest read goes first)', () => {
    const c = new StateCache(2, 1000);
    c.set('a', state(1, 1));
    c.set('b', state(1, 1));
    c.get('a');
    c.get('b');
    c.set('c', state(1, 1));
    assert.equal(c.size, 2);
    assert.ok(c.get('c'), 'the state just set stays');
    assert.equal([c.get('a'), c.get('b')].filter(Boolean).length, 1);
  });

  it('is bounded by the items held together, counted across updates', () => {
    const c = new StateCache(100, 10);
    c.set('a', state(1, 4));
    c.set('b', state(1, 4));
    c.get('a');
    c.set('b', state(2, 5)); // 9 items now
    assert.ok(c.get('a') && c.get('b'));
    c.set('c', state(1, 3)); // 12 > 10: something goes
    let held = 0;
    for (const id of ['a', 'b', 'c']) held += c.get(id)?.items.length ?? 0;
    assert.ok(held <= 10, `${held} items held`);
    assert.ok(c.get('c'), 'the state just set stays');
  });

  it('never keeps a state larger than its item bound, and forgets the older one it would have replaced', () => {
    const c = new StateCache(10, 5);
    c.set('big', state(1, 6));
    assert.equal(c.get('big'), undefined);
    c.set('q', state(1, 2));
    c.set('q', state(2, 6));
    assert.equal(c.get('q'), undefined, 'a stale version 1 must not be served');
  });

  it('weighs a state by its items, its history and its metadata (five values an item)', () => {
    assert.equal(weightOf(state(1, 10)), 10);
    assert.equal(weightOf(state(1, 10, {}, 4)), 14);
    // 100 reasons of two values each, plus stationId and batches: 202 values, 41 items' worth.
    assert.equal(weightOf(state(1, 10, reasons(100))), 10 + 41);
  });

  it('counts metadata against the item budget: queues with many reasons push out others sooner', () => {
    const c = new StateCache(100, 300);
    // Items alone (20 each) would fit all ten; with 100 reasons (41 more each) only four do.
    for (let i = 0; i < 10; i++) c.set(`q${i}`, state(1, 20, reasons(100)));
    assert.ok(c.weight <= 300, `weight ${c.weight}`);
    assert.equal(c.size, 4);
    assert.ok(c.get('q9'), 'the state just set stays');
    // An update that drops the metadata frees its weight.
    c.set('q9', state(2, 20));
    assert.equal(c.weight, 3 * 61 + 20);
    c.delete('q9');
    assert.equal(c.weight, 3 * 61);
  });
});
