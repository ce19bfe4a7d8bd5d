// The SDK's windowed fold (client/src/fold.ts) against the server's whole fold: a mirror
// that holds only the first K items of a queue, fed the same random events as the whole
// state, always holds exactly the whole state's items up to its last place, the right
// count and the same header (or says that it must read its window again).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type DecideContext, type QueueCommand } from '../../src/queues/decide.ts';
import { activeKey, evolve, initialState, toView, windowKeys, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { foldHeld, heldFromView, inRange, withPage, cursorAfter, type Held } from '../../client/src/fold.ts';
import { mulberry32 } from '../helpers/random.ts';

function held(full: QueueState, limit: number): Held {
  const view = toView(full, { limit });
  return heldFromView(view, windowKeys(full, view));
}

const header = (s: QueueState) => ({
  version: s.version, currentItemId: s.currentItemId, shuffle: s.shuffle, repeat: s.repeat, history: s.history, name: s.name,
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
        let bodies;
        try {
          bodies = decide(full, cmd, ctx);
        } catch {
          return [];
        }
        return bodies.map((b) => {
          const e = { ...b, queueId: full.id, sequenceNumber: ++seq, userId: 'u', deviceId: null, timestamp: new Date(1e12 + seq).toISOString() } as QueueEvent;
          full = evolve(full, e);
          return e;
        });
      };
      apply({ type: 'create_queue', name: 'p', queueType: 'user', tracks: Array.from({ length: 30 + Math.floor(rnd() * 40) }, (_, i) => `t${i}`) });
      const limit = 5 + Math.floor(rnd() * 20);
      let h = held(full, limit);
      for (let step = 0; step < 60; step++) {
        const n = full.items.length;
        const pick = () => full.items[Math.floor(rnd() * n)]?.itemId;
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
          assert.deepEqual(h.state.items, want, `seed ${seed} run ${run}: items after ${e.type}`);
        }
        if (rnd() < 0.1 && h.hi !== null) {
          // loadMore: the page after the cursor, read at the same version.
          const view = toView(full, { cursor: cursorAfter(h)!, limit: 10 });
          h = withPage(h, view, windowKeys(full, view));
          pages++;
          assert.deepEqual(h.state.items, full.items.slice(0, h.state.items.length), `seed ${seed} run ${run}: after a page`);
        }
      }
    }
    assert.ok(resyncs > 0 && pages > 0, `the runs exercised re-reads (${resyncs}) and pages (${pages})`);
  });
});
