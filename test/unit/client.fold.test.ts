// The SDK's windowed fold (client/src/fold.ts) against the server's whole fold: a mirror
// that holds only the first K items of a queue, fed the same random events as the whole
// state, always holds exactly the whole state's items up to its last place, the right
// count and the same header (or says that it must read its window again).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type DecideContext, type QueueCommand } from '../../src/queues/decide.ts';
import { activeKey, evolve, initialState, toView, windowKeys, type QueueEvent, type QueueState, type WindowQuery } from '../../src/queues/queue.ts';
import { foldHeld, heldFromView, inRange, withPage, withPageBefore, cursorAfter, cursorFrom, type Held } from '../../client/src/fold.ts';
import { mulberry32 } from '../helpers/random.ts';

function held(full: QueueState, limit: number, at: WindowQuery = {}): Held {
  const view = toView(full, { ...at, limit });
  return heldFromView(view, windowKeys(full, view));
}

const header = (s: QueueState) => ({
  version: s.version,
  currentItemId: s.currentItemId,
  shuffle: s.shuffle,
  repeat: s.repeat,
  history: s.history,
  name: s.name,
});

/** The events `cmd` makes on `state`, numbered from `seq + 1` (none when it is refused). */
function decided(state: QueueState, cmd: QueueCommand, ctx: DecideContext, seq: number): QueueEvent[] {
  let bodies: ReturnType<typeof decide>;
  try {
    bodies = decide(state, cmd, ctx);
  } catch {
    return [];
  }
  return bodies.map(
    (b, i) =>
      ({
        ...b,
        queueId: state.id,
        sequenceNumber: seq + i + 1,
        userId: 'u',
        deviceId: null,
        timestamp: new Date(1e12 + seq + i + 1).toISOString(),
      }) as QueueEvent,
  );
}

describe('client fold of a window: a page after it', () => {
  // Seed 167006 of the property test below, cut down: the window's last item moves past the
  // next item, which then leaves, so nothing lies between the place the window ends at and
  // the moved item's new place. The mirror no longer holds that item (it moved out of its
  // range); the page after the window must bring it.
  for (const shuffle of [false, true]) {
    it(`[SDK][QW3][QW7] the last item held moves past the next one, which is removed: the next page has it${shuffle ? ' (shuffled)' : ''}`, () => {
      let seq = 0;
      let ids = 0;
      let full = initialState('q');
      const ctx: DecideContext = { userId: 'u', newId: () => `i${ids++}`, random: mulberry32(1), maxItems: 10_000 };
      const apply = (cmd: QueueCommand) => {
        const events = decided(full, cmd, ctx, seq);
        assert.ok(events.length > 0, `${cmd.type} makes events`);
        seq += events.length;
        for (const e of events) full = evolve(full, e);
        return events;
      };
      apply({ type: 'create_queue', name: 'p', queueType: 'user', tracks: ['A', 'B', 'C', 'D', 'E', 'F'] });
      if (shuffle) apply({ type: 'set_shuffle', shuffle: true });
      let h = held(full, 3);
      const [, , last, next] = full.items;
      assert.equal(h.hi?.itemId, last!.itemId, 'the window ends at its third item');
      assert.equal(toView(full, { cursor: cursorAfter(h)!, limit: 10 }).window.offset, 3, 'a page after it starts after its last item');
      // The third item moves to right after the fourth; the fourth is removed.
      for (const cmd of [
        { type: 'move_item', itemId: last!.itemId, afterItemId: next!.itemId },
        { type: 'remove_items', itemIds: [next!.itemId] },
      ] satisfies QueueCommand[])
        for (const e of apply(cmd)) {
          const out = foldHeld(h, e);
          assert.equal(out.resync, false, `${e.type} is placed without a re-read`);
          h = out.held;
        }
      assert.deepEqual(
        h.state.items.map((i) => i.itemId),
        full.items.slice(0, 2).map((i) => i.itemId),
        'the moved item left the window',
      );
      assert.equal(full.items.at(2)!.itemId, last!.itemId, 'in the whole queue it follows the window at once');
      const view = toView(full, { cursor: cursorAfter(h)!, limit: 10 });
      assert.equal(view.window.offset, 2, 'the page starts at the moved item');
      h = withPage(h, view, windowKeys(full, view));
      assert.deepEqual(
        h.state.items.map((i) => i.itemId),
        full.items.map((i) => i.itemId),
        'the page after the window brings the moved item and the rest',
      );
      assert.deepEqual([...h.state.items], [...full.items]);
      assert.equal(h.hi, null);
    });
  }
});

describe('client fold of a window (property)', () => {
  it('[SDK][QW7] random events: a window mirror equals the whole state up to its last place, or asks to read again', () => {
    const seed = Number(process.env.QS_CLIENT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    let ids = 0;
    let resyncs = 0;
    let pages = 0;
    for (let run = 0; run < 60; run++) {
      let seq = 0;
      let full = initialState(`q${run}`);
      const ctx: DecideContext = { userId: 'u', newId: () => `i${ids++}`, random: rnd, maxItems: 10_000 };
      const apply = (cmd: QueueCommand) => {
        const events = decided(full, cmd, ctx, seq);
        seq += events.length;
        for (const e of events) full = evolve(full, e);
        return events;
      };
      apply({ type: 'create_queue', name: 'p', queueType: 'user', tracks: Array.from({ length: 30 + Math.floor(rnd() * 40) }, (_, i) => `t${i}`) });
      const limit = 5 + Math.floor(rnd() * 20);
      let h = held(full, limit);
      for (let step = 0; step < 60; step++) {
        const n = full.items.length;
        const pick = () => full.items.at(Math.floor(rnd() * n))?.itemId;
        const r = rnd();
        let cmd: QueueCommand;
        if (r < 0.3 || n === 0) cmd = { type: 'add_tracks', tracks: [`n${step}`], ...(rnd() < 0.5 ? { position: Math.floor(rnd() * (n + 1)) } : {}) };
        else if (r < 0.45) cmd = { type: 'remove_items', itemIds: [pick()!] };
        else if (r < 0.7) cmd = { type: 'move_item', itemId: pick()!, position: Math.floor(rnd() * n) };
        else if (r < 0.8) cmd = { type: 'next' };
        else if (r < 0.85) cmd = { type: 'set_current', itemId: pick()! };
        else if (r < 0.9) cmd = { type: 'set_shuffle', shuffle: rnd() < 0.5 };
        else if (r < 0.95) cmd = { type: 'vote_item', itemId: pick()!, vote: 1 };
        else cmd = { type: 'clear', upcomingOnly: true };
        for (const e of apply(cmd)) {
          const out = foldHeld(h, e);
          h = out.held;
          assert.equal(h.count, full.items.length, `seed ${seed} run ${run}: count after ${e.type}`);
          if (out.resync) {
            resyncs++;
            h = held(full, Math.max(limit, h.state.items.length));
            continue;
          }
          assert.deepEqual(header(h.state), header(full), `seed ${seed} run ${run}: header after ${e.type}`);
          const want = full.items.filter((i) => inRange(h, activeKey(i, full.shuffle), i.itemId));
          assert.deepEqual([...h.state.items], want, `seed ${seed} run ${run}: items after ${e.type}`);
        }
        if (rnd() < 0.1 && h.hi !== null) {
          // loadMore: the page after the cursor, read at the same version.
          const view = toView(full, { cursor: cursorAfter(h)!, limit: 10 });
          h = withPage(h, view, windowKeys(full, view));
          pages++;
          assert.deepEqual([...h.state.items], full.items.slice(0, h.state.items.length), `seed ${seed} run ${run}: after a page`);
        }
      }
    }
    assert.ok(resyncs > 0 && pages > 0, `the runs exercised re-reads (${resyncs}) and pages (${pages})`);
  });
});

describe('client fold of a window that does not start at 0 (property)', () => {
  it("[SDK][QW2][QW7] random events: a mid-queue window holds the whole state's items at its offset, or asks to read again; pages both ways", () => {
    const seed = Number(process.env.QS_CLIENT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    let ids = 0;
    const seen = { resyncs: 0, before: 0, pagesBefore: 0, pagesAfter: 0, shortPages: 0, placedRemovals: 0 };
    for (let run = 0; run < 80; run++) {
      let seq = 0;
      let full = initialState(`m${run}`);
      const ctx: DecideContext = { userId: 'u', newId: () => `i${ids++}`, random: rnd, maxItems: 10_000 };
      // Each event is folded into the whole state as the window folds it, one by one.
      const apply = (cmd: QueueCommand) => {
        const events = decided(full, cmd, ctx, seq);
        seq += events.length;
        return events;
      };
      const run1 = (cmd: QueueCommand) => {
        for (const e of apply(cmd)) full = evolve(full, e);
      };
      run1({ type: 'create_queue', name: 'p', queueType: 'user', tracks: Array.from({ length: 60 + Math.floor(rnd() * 80) }, (_, i) => `t${i}`) });
      run1({ type: 'set_current', itemId: full.items.at(20 + Math.floor(rnd() * 30))!.itemId });
      const limit = 5 + Math.floor(rnd() * 20);
      // Centred on the current item, or from an offset in the middle.
      const start: WindowQuery = rnd() < 0.5 ? { around: 'current' } : { offset: 10 + Math.floor(rnd() * 40) };
      let h = held(full, limit, start);
      assert.ok(h.offset > 0 && h.lo !== null, `seed ${seed} run ${run}: the window starts mid-queue`);
      const check = (what: string) => {
        assert.equal(h.count, full.items.length, `seed ${seed} run ${run}: count after ${what}`);
        assert.deepEqual(
          [...h.state.items],
          full.items.slice(h.offset, h.offset + h.state.items.length),
          `seed ${seed} run ${run}: items at the offset after ${what}`,
        );
        const want = full.items.filter((i) => inRange(h, activeKey(i, full.shuffle), i.itemId));
        assert.deepEqual([...h.state.items], want, `seed ${seed} run ${run}: the range after ${what}`);
      };
      for (let step = 0; step < 80; step++) {
        const n = full.items.length;
        const pick = () => full.items.at(Math.floor(rnd() * n))?.itemId;
        const r = rnd();
        let cmd: QueueCommand;
        if (r < 0.3 || n === 0) cmd = { type: 'add_tracks', tracks: [`n${step}`], ...(rnd() < 0.7 ? { position: Math.floor(rnd() * (n + 1)) } : {}) };
        else if (r < 0.5) cmd = { type: 'remove_items', itemIds: [pick()!] };
        else if (r < 0.72) cmd = { type: 'move_item', itemId: pick()!, position: Math.floor(rnd() * n) };
        else if (r < 0.8) cmd = { type: 'next' };
        else if (r < 0.83) cmd = { type: 'previous' };
        else if (r < 0.86) cmd = { type: 'set_current', itemId: pick()! };
        else if (r < 0.89) cmd = { type: 'set_shuffle', shuffle: rnd() < 0.5 };
        else if (r < 0.95) cmd = { type: 'vote_item', itemId: pick()!, vote: 1 };
        else if (r < 0.97) cmd = { type: 'remove_items', itemIds: [pick()!, pick()!].filter((x, i, a) => a.indexOf(x) === i) };
        else cmd = { type: 'clear', upcomingOnly: true };
        for (const e of apply(cmd)) {
          full = evolve(full, e);
          const was = h.offset;
          const out = foldHeld(h, e);
          h = out.held;
          assert.equal(
            h.count,
            full.items.length,
            `seed ${seed} run ${run} step ${step}: count after ${e.type} ${JSON.stringify(e.data)} was ${was} now ${h.offset} held ${h.state.items.length} lo ${JSON.stringify(h.lo)} hi ${JSON.stringify(h.hi)}`,
          );
          if (out.resync) {
            seen.resyncs++;
            const cursor = cursorFrom(h);
            // What the mirror reads again: around the current item after a shuffle (the order is
            // new), else from its first place (or the start), as many as it held.
            h = held(full, Math.max(limit, h.state.items.length), e.type === 'shuffle_changed' ? { around: 'current' } : cursor === null ? {} : { cursor });
            check(`the re-read after ${e.type}`);
            continue;
          }
          if (e.type === 'item_removed' && h.offset !== was) seen.placedRemovals++;
          if (h.offset > was) seen.before++;
          assert.deepEqual(header(h.state), header(full), `seed ${seed} run ${run}: header after ${e.type}`);
          check(e.type);
        }
        if (rnd() < 0.12 && h.lo !== null) {
          // loadBefore: a page by offset, one longer than the gap; sometimes read as if the
          // offset were stale (too far back, or short of the range), which the keys catch.
          const skew = rnd() < 0.3 ? Math.floor(rnd() * 5) - 2 : 0;
          const from = Math.max(0, h.offset - 6 + skew);
          const view = toView(full, { offset: from, limit: h.offset - from + 1 + Math.min(skew, 0) });
          const r2 = withPageBefore(h, view, windowKeys(full, view));
          if (r2 === 'offset')
            assert.fail(
              `seed ${seed} run ${run}: a page read at the same version disagrees with the offset: ${JSON.stringify({ off: h.offset, lo: h.lo, hi: h.hi, held: h.state.items.length, count: h.count, vo: view.window.offset, page: view.items.map((i) => [i.itemId, windowKeys(full, view)[i.itemId]]), fullIdx: full.items.findIndex((i) => i.itemId === h.state.items.at(0)?.itemId) })}`,
            );
          if (r2 === 'short') seen.shortPages++;
          else {
            h = r2;
            seen.pagesBefore++;
            check('a page before');
          }
        }
        if (rnd() < 0.08 && h.hi !== null) {
          const view = toView(full, { cursor: cursorAfter(h)!, limit: 6 });
          h = withPage(h, view, windowKeys(full, view));
          seen.pagesAfter++;
          check('a page after');
        }
      }
    }
    if (process.env.QS_CLIENT_VERBOSE) console.log(seen);
    assert.ok(
      seen.resyncs > 0 && seen.pagesBefore > 0 && seen.pagesAfter > 0 && seen.before > 0 && seen.shortPages > 0,
      `the runs exercised re-reads, pages and adds before: ${JSON.stringify(seen)}`,
    );
  });
});
