// Properties of the fast fold and of windows ([QW1]-[QW4]): after any sequence of commands
// the items stay sorted and findable in O(log n), older states are never disturbed by the
// index hand-over, windows are exact slices of the play order, and cursor paging across
// concurrent adds and removes returns every item that stayed exactly once, in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AppError } from '../../src/errors.ts';
import { decide, type QueueCommand } from '../../src/queues/decide.ts';
import { activeKey, evolve, findItemById, indexOfItem, initialState, toView, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { mulberry32 } from '../helpers/random.ts';

function step(state: QueueState, cmd: QueueCommand, rnd: () => number, ids: { n: number }): QueueState {
  let bodies: ReturnType<typeof decide>;
  try {
    bodies = decide(state, cmd, { userId: 'u', newId: () => `i${++ids.n}`, random: rnd, maxItems: 10_000 });
  } catch (err) {
    if (err instanceof AppError) return state;
    throw err;
  }
  const ts = new Date(Date.UTC(2025, 0, 1) + ids.n).toISOString();
  return bodies.reduce(
    (s, b, i) => evolve(s, { ...b, queueId: s.id, sequenceNumber: state.version + i + 1, userId: 'u', deviceId: null, timestamp: ts } as QueueEvent),
    state,
  );
}

function randomCommand(s: QueueState, rnd: () => number): QueueCommand {
  const pick = () => s.items.at(Math.floor(rnd() * s.items.length))?.itemId ?? 'none';
  const place = () => {
    const r = rnd();
    return r < 0.3 ? {} : r < 0.5 ? { position: Math.floor(rnd() * (s.items.length + 2)) } : r < 0.75 ? { afterItemId: pick() } : { beforeItemId: pick() };
  };
  const r = rnd();
  if (s.items.length < 3 || r < 0.35)
    return { type: 'add_tracks', tracks: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `t${Math.floor(rnd() * 9)}`), ...place() };
  if (r < 0.5) return { type: 'remove_items', itemIds: [pick()] };
  if (r < 0.7) return { type: 'move_item', itemId: pick(), ...place() };
  if (r < 0.8) return { type: 'next' };
  if (r < 0.86) return { type: 'set_shuffle', shuffle: !s.shuffle };
  if (r < 0.93) return { type: 'vote_item', itemId: pick(), vote: 1 };
  if (r < 0.96) return { type: 'update_settings', fairOrder: !s.settings.fairOrder };
  return { type: 'clear', upcomingOnly: true };
}

function created(rnd: () => number, ids: { n: number }, tracks: number): QueueState {
  return step(initialState('q'), { type: 'create_queue', name: 'w', queueType: 'user', tracks: Array.from({ length: tracks }, (_, i) => `c${i}`) }, rnd, ids);
}

/** Sorted by (active key, item id), every item findable at its index. */
function checkIndex(s: QueueState, what: string): void {
  for (let i = 0; i < s.items.length; i++) {
    const it = s.items.at(i)!;
    if (i > 0) {
      const p = s.items.at(i - 1)!;
      const a = activeKey(p, s.shuffle);
      const b = activeKey(it, s.shuffle);
      assert.ok(a < b || (a === b && p.itemId < it.itemId), `${what}: not sorted at ${i}`);
    }
    assert.equal(findItemById(s, it.itemId), it, `${what}: lookup of ${it.itemId}`);
    assert.equal(indexOfItem(s, it.itemId), i, `${what}: index of ${it.itemId}`);
  }
  assert.equal(indexOfItem(s, 'no-such-item'), -1);
}

describe('the fold and windows', () => {
  it('items stay sorted and findable; an older state is never disturbed by a later evolve', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const rnd = mulberry32(seed);
        const ids = { n: 0 };
        let s = created(rnd, ids, 5);
        for (let k = 0; k < 80; k++) {
          const before = s;
          const beforeIds = before.items.map((i) => i.itemId);
          s = step(s, randomCommand(s, rnd), rnd, ids);
          checkIndex(s, `seed ${seed} step ${k}`);
          // The old state: same items, and lookups on it still right (its index is rebuilt).
          assert.deepEqual(
            before.items.map((i) => i.itemId),
            beforeIds,
          );
          if (k % 10 === 0) checkIndex(before, `old state, seed ${seed} step ${k}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('[QW1][QW2] windows are exact slices of the play order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.nat({ max: 60 }),
        fc.nat({ max: 70 }),
        fc.integer({ min: 0, max: 40 }),
        (seed, grow, offset, limit) => {
          const rnd = mulberry32(seed);
          const ids = { n: 0 };
          let s = created(rnd, ids, 3);
          for (let k = 0; k < grow; k++) s = step(s, randomCommand(s, rnd), rnd, ids);
          const all = s.items.map((i) => i.itemId);
          const v = toView(s, { offset, limit });
          assert.deepEqual(
            v.items.map((i) => i.itemId),
            all.slice(offset, offset + limit),
          );
          assert.equal(v.itemCount, all.length);
          assert.equal(v.window.offset, Math.min(offset, all.length));
          assert.equal(v.window.nextCursor === null, offset + limit >= all.length || limit === 0);
          assert.equal(v.currentIndex, s.currentItemId === null ? null : all.indexOf(s.currentItemId));
          const around = toView(s, { around: 'current', limit });
          const cur = s.currentItemId;
          if (cur !== null && limit > 0)
            assert.ok(
              around.items.some((i) => i.itemId === cur),
              'the current item is in its window',
            );
          assert.deepEqual(
            around.items.map((i) => i.itemId),
            all.slice(around.window.offset, around.window.offset + limit),
          );
          if (all.length > 0) {
            const a = Math.floor(rnd() * all.length);
            assert.deepEqual(
              toView(s, { after: all[a]!, limit }).items.map((i) => i.itemId),
              all.slice(a + 1, a + 1 + limit),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('[QW3] paging with cursors across concurrent adds and removes returns every item that stayed exactly once, in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 25 }), (seed, limit) => {
        const rnd = mulberry32(seed);
        const ids = { n: 0 };
        let s = created(rnd, ids, 60);
        const original = s.items.map((i) => i.itemId);
        const removed = new Set<string>();
        const seen: string[] = [];
        let v = toView(s, { limit });
        seen.push(...v.items.map((i) => i.itemId));
        while (v.window.nextCursor !== null) {
          // Others edit between two pages: adds anywhere, removes anywhere (the last item seen too).
          for (let k = 0; k < 3; k++) {
            if (rnd() < 0.5 || s.items.length < 5) {
              s = step(s, { type: 'add_tracks', tracks: ['new'], position: Math.floor(rnd() * (s.items.length + 1)) }, rnd, ids);
            } else {
              const victim = rnd() < 0.2 ? seen[seen.length - 1]! : s.items.at(Math.floor(rnd() * s.items.length))!.itemId;
              if (findItemById(s, victim)) {
                removed.add(victim);
                s = step(s, { type: 'remove_items', itemIds: [victim] }, rnd, ids);
              }
            }
          }
          v = toView(s, { cursor: v.window.nextCursor, limit });
          seen.push(...v.items.map((i) => i.itemId));
        }
        assert.equal(new Set(seen).size, seen.length, 'no item twice');
        const stayed = original.filter((id) => !removed.has(id));
        assert.deepEqual(
          seen.filter((id) => stayed.includes(id)),
          stayed,
        );
      }),
      { numRuns: 150 },
    );
  });

  it('[QW3] the last item of a page, moved to a later place before the next page is read, is in that page at its new place', () => {
    for (const shuffle of [false, true]) {
      const rnd = mulberry32(3);
      const ids = { n: 0 };
      let s = created(rnd, ids, 6);
      if (shuffle) s = step(s, { type: 'set_shuffle', shuffle: true }, rnd, ids);
      const order = () => s.items.map((i) => i.itemId);
      const [, , c, d, e, f] = order();
      const first = toView(s, { limit: 3 });
      assert.equal(first.items[2]!.itemId, c);
      // C moves right after D, and D goes: nothing is left between C's old place and its new one.
      s = step(s, { type: 'move_item', itemId: c!, afterItemId: d! }, rnd, ids);
      s = step(s, { type: 'remove_items', itemIds: [d!] }, rnd, ids);
      assert.deepEqual(order().slice(2), [c, e, f]);
      const next = toView(s, { cursor: first.window.nextCursor!, limit: 3 });
      assert.deepEqual(
        next.items.map((i) => i.itemId),
        [c, e, f],
        `shuffle ${shuffle}`,
      );
      // Not moved, the cursor's item is not read twice.
      const again = toView(s, { limit: 3 });
      assert.deepEqual(
        toView(s, { cursor: again.window.nextCursor!, limit: 3 }).items.map((i) => i.itemId),
        [e, f],
      );
    }
  });

  it('[QW3] a cursor from before a shuffle switch is stale; a forged one is refused', () => {
    const rnd = mulberry32(7);
    const ids = { n: 0 };
    let s = created(rnd, ids, 30);
    const cursor = toView(s, { limit: 10 }).window.nextCursor!;
    s = step(s, { type: 'set_shuffle', shuffle: true }, rnd, ids);
    assert.throws(
      () => toView(s, { cursor }),
      (e: unknown) => e instanceof AppError && e.code === 'cursor_stale',
    );
    assert.throws(
      () => toView(s, { cursor: 'bm9wZQ' }),
      (e: unknown) => e instanceof AppError && e.code === 'invalid_cursor',
    );
    assert.throws(
      () => toView(s, { after: 'i999' }),
      (e: unknown) => e instanceof AppError && e.code === 'item_not_found',
    );
    const gone = s.items.at(3)!.itemId;
    s = step(s, { type: 'remove_items', itemIds: [gone] }, rnd, ids);
    assert.throws(
      () => toView(s, { after: gone }),
      (e: unknown) => e instanceof AppError && e.code === 'item_gone',
    );
  });
});
