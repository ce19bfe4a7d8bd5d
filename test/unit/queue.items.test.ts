// The item list of a queue state (src/queues/items.ts, issue 21): random changes checked
// against a plain array doing the same, every read method after every step, and every
// older list still as it was (lists are shared between states, never changed in place).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Items } from '../../src/queues/items.ts';
import type { QueueItem } from '../../src/queues/queue.ts';
import { mulberry32 } from '../helpers/random.ts';

let made = 0;
const item = (): QueueItem => {
  const n = made++;
  return { itemId: `i${n}`, trackId: `t${n % 7}`, addedBy: 'u', addedAt: '2026-12-07T00:00:00.000Z', key: `k${n}` };
};

/** Every read of `list` agrees with the array `want`. */
function check(list: Items, want: readonly QueueItem[], rnd: () => number, what: string): void {
  const n = want.length;
  assert.equal(list.length, n, `${what}: length`);
  assert.deepEqual([...list], want, `${what}: iteration`);
  for (let k = 0; k < 8 && n > 0; k++) {
    const i = Math.floor(rnd() * n);
    assert.equal(list.at(i), want[i], `${what}: at(${i})`);
    assert.equal(list.at(i - n), want[i], `${what}: at(${i - n})`);
    assert.equal(list.indexOf(want[i]!), i, `${what}: indexOf`);
    assert.ok(list.includes(want[i]!), `${what}: includes`);
  }
  assert.equal(list.at(n), undefined);
  assert.equal(list.at(-n - 1), undefined);
  for (let k = 0; k < 4; k++) {
    const a = Math.floor(rnd() * (n + 3)) - 1;
    const b = Math.floor(rnd() * (n + 3)) - 1;
    assert.deepEqual(list.slice(a, b), want.slice(a, b), `${what}: slice(${a}, ${b})`);
  }
  assert.deepEqual(list.slice(), want.slice());
  assert.deepEqual(list.slice(-3), want.slice(-3));
  const odd = (it: QueueItem) => Number(it.trackId.slice(1)) % 2 === 1;
  assert.deepEqual(list.filter(odd), want.filter(odd), `${what}: filter`);
  assert.deepEqual(
    list.map((it, i) => `${i}:${it.itemId}`),
    want.map((it, i) => `${i}:${it.itemId}`),
    `${what}: map`,
  );
  const seen: string[] = [];
  list.forEach((it, i) => {
    seen.push(`${i}:${it.itemId}`);
  });
  assert.deepEqual(
    seen,
    want.map((it, i) => `${i}:${it.itemId}`),
  );
  const t3 = (it: QueueItem) => it.trackId === 't3';
  assert.equal(list.findIndex(t3), want.findIndex(t3));
  assert.equal(list.find(t3), want.find(t3));
  assert.equal(list.some(t3), want.some(t3));
  assert.equal(list.every(odd), want.every(odd));
  assert.deepEqual(list.toArray(), want);
  assert.equal(JSON.stringify(list), JSON.stringify(want));
  // partitionPoint: the items are in insertion order here, so "made before item x" is a prefix only
  // on sorted lists; check it on a predicate that holds for a prefix: index below a cut.
  const cut = Math.floor(rnd() * (n + 1));
  const early = new Set(want.slice(0, cut));
  assert.equal(
    list.partitionPoint((it) => early.has(it)),
    cut,
    `${what}: partitionPoint`,
  );
}

describe('item list (chunked, shared between states)', () => {
  it('agrees with an array through 3,000 random inserts, removals and replacements, and older lists stay as they were', () => {
    for (const seed of [1, 2, 3]) {
      const rnd = mulberry32(seed);
      let list = Items.EMPTY;
      let want: QueueItem[] = [];
      const kept: { list: Items; want: QueueItem[] }[] = [];
      for (let step = 0; step < 3000; step++) {
        const r = rnd();
        // Grows to a few thousand (several chunks, splits), then shrinks back (merges).
        const grow = step < 1800 ? 0.75 : 0.2;
        if (r < grow || want.length === 0) {
          const at = rnd() < 0.3 ? want.length : Math.floor(rnd() * (want.length + 1));
          const it = item();
          list = list.inserted(at, it);
          want = want.toSpliced(at, 0, it);
        } else if (r < grow + (1 - grow) * 0.8) {
          const at = Math.floor(rnd() * want.length);
          list = list.removed(at);
          want = want.toSpliced(at, 1);
        } else {
          const at = Math.floor(rnd() * want.length);
          const it = item();
          list = list.replaced(at, it);
          want = want.with(at, it);
        }
        if (step % 97 === 0 || step === 2999) check(list, want, rnd, `seed ${seed} step ${step}`);
        if (step % 211 === 0) kept.push({ list, want });
      }
      for (const [k, old] of kept.entries()) check(old.list, old.want, rnd, `seed ${seed}: kept list ${k}`);
    }
  });

  it('removes down to empty, and builds from an array or another list', () => {
    const rnd = mulberry32(9);
    const want = Array.from({ length: 700 }, item);
    let list = Items.from(want);
    check(list, want, rnd, 'from 700');
    assert.equal(Items.from(list), list, 'a list is taken as it is');
    const rest = [...want];
    while (rest.length > 0) {
      const at = Math.floor(rnd() * rest.length);
      list = list.removed(at);
      rest.splice(at, 1);
      if (rest.length % 50 === 0) check(list, rest, rnd, `${rest.length} left`);
    }
    assert.equal(list.length, 0);
    assert.equal(Items.from([]), Items.EMPTY);
    check(Items.from(new Set(want.slice(0, 5))), want.slice(0, 5), rnd, 'from an iterable');
  });

  it('a chunk that shrinks next to a nearly full one is merged and split again, losing nothing', () => {
    const rnd = mulberry32(11);
    // Two chunks of 128; the first grows to 248, then the second shrinks to 31: merged they
    // are 279, past the most a chunk holds, so they are split again.
    let want = Array.from({ length: 256 }, item);
    let list = Items.from(want);
    for (let k = 0; k < 120; k++) {
      const it = item();
      list = list.inserted(k, it);
      want = want.toSpliced(k, 0, it);
    }
    for (let k = 0; k < 97; k++) {
      list = list.removed(248);
      want = want.toSpliced(248, 1);
      check(list, want, rnd, `after ${k + 1} removals`);
    }
  });

  it('refuses indexes out of range instead of making a wrong list', () => {
    const list = Items.from(Array.from({ length: 3 }, item));
    assert.throws(() => list.inserted(4, item()), RangeError);
    assert.throws(() => list.inserted(-1, item()), RangeError);
    assert.throws(() => list.removed(3), RangeError);
    assert.throws(() => list.replaced(-1, item()), RangeError);
    assert.throws(() => Items.EMPTY.removed(0), RangeError);
  });

  it('at 9,000 items, an insert and a removal far apart shift the indexes between them only', () => {
    const want = Array.from({ length: 9000 }, item);
    const list = Items.from(want);
    const added = item();
    const next = list.inserted(4500, added).removed(100);
    assert.equal(next.length, 9000);
    for (const i of [0, 99]) assert.equal(next.at(i), want[i]);
    for (const i of [100, 2000, 4498]) assert.equal(next.at(i), want[i + 1]);
    assert.equal(next.at(4499), added);
    for (const i of [4500, 4501, 8999]) assert.equal(next.at(i), want[i]);
    assert.deepEqual([...list], want, 'the list it came from is unchanged');
  });
});
