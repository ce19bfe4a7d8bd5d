// The offline conflict policies (src/offline/policy.ts, docs/OFFLINE.md) on the pure
// domain: given a queue's events, a change replayed on the state is rewritten, kept or refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/errors.ts';
import { emptyHistory, foldHistory, neighbourPlacement, planQueueChange, type PolicyContext } from '../../src/offline/policy.ts';
import type { QueueEvent } from '../../src/queues/queue.ts';
import { applyCommand, canonicalIds, scenario } from '../helpers/domain.ts';

const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({ deviceId: 'phone', addedInBatch: new Set(), ...over });
const T = Date.UTC(2024, 0, 1);

/** a, b, c, d; then c and a removed: what an offline device comes back to. */
function removedTwo() {
  const s = scenario().given({ type: 'create_queue', name: 'q', queueType: 'user' }, { type: 'add_tracks', tracks: ['a', 'b', 'c', 'd'] });
  const [a, b, c, d] = s.itemIds as [string, string, string, string];
  s.given({ type: 'remove_items', itemIds: [c, a] });
  return { s, a, b, c, d, history: foldHistory(emptyHistory(), s.events) };
}

function refused(fn: () => unknown, code: string, resolution: string): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === code && e.details.resolution === resolution);
}

describe('offline policies', () => {
  it("[OF3] the history keeps every item's last order key, even after it was removed", () => {
    const { c, history } = removedTwo();
    assert.equal(history.upTo, 7);
    assert.ok(history.items.has(c));
    assert.equal(history.items.get(c)!.addedSeq, 4);
    // Events out of order or repeated are not folded twice.
    const again = foldHistory(history, [{ sequenceNumber: 3 } as QueueEvent, { sequenceNumber: 9 } as QueueEvent]);
    assert.equal(again.upTo, 7);
  });

  it('[OF3] a gone anchor resolves to its nearest surviving neighbour; an unknown one to the end', () => {
    const { s, a, b, c, d, history } = removedTwo();
    assert.deepEqual(neighbourPlacement(s.state, history, c, 'after'), { afterItemId: b });
    assert.deepEqual(neighbourPlacement(s.state, history, c, 'before'), { beforeItemId: d });
    assert.deepEqual(neighbourPlacement(s.state, history, a, 'after'), { beforeItemId: b }, 'nothing before a survives');
    assert.deepEqual(neighbourPlacement(s.state, history, 'never', 'after'), {});
    assert.deepEqual(neighbourPlacement(s.state, history, c, 'after', b), { beforeItemId: d }, 'the moved item is not its own neighbour');
  });

  it('[OF3] an add after a removed anchor is merged next to the neighbour; with its anchor present it applies as sent', () => {
    const { s, b, c, history } = removedTwo();
    const p = planQueueChange({ clientTs: T }, { type: 'add_tracks', tracks: ['x'], afterItemId: c }, s.state, history, ctx());
    assert.equal(p.note?.resolution, 'merged');
    assert.equal(p.note?.reason.code, 'anchor_gone');
    assert.deepEqual(p.command, { type: 'add_tracks', tracks: ['x'], position: undefined, afterItemId: b, beforeItemId: undefined });
    const r = applyCommand(s.state, p.command, s.ctx);
    assert.deepEqual(
      r.state.items.map((i) => i.trackId),
      ['b', 'x', 'd'],
    );
    const plain = planQueueChange({ clientTs: T }, { type: 'add_tracks', tracks: ['y'], afterItemId: b }, s.state, history, ctx());
    assert.deepEqual(plain, { command: { type: 'add_tracks', tracks: ['y'], afterItemId: b } });
  });

  it('[OF4] a remove keeps only the items still there', () => {
    const { s, a, b, history } = removedTwo();
    const p = planQueueChange({ clientTs: T }, { type: 'remove_items', itemIds: [a, b] }, s.state, history, ctx());
    assert.deepEqual(p, { command: { type: 'remove_items', itemIds: [b] } });
    const none = planQueueChange({ clientTs: T }, { type: 'remove_items', itemIds: [a] }, s.state, history, ctx());
    assert.deepEqual(applyCommand(s.state, none.command, s.ctx).events, []);
  });

  it('[OF5][OF6] a move or set_current of a removed item is dropped; a move next to a removed anchor is merged', () => {
    const { s, a, d, c, b, history } = removedTwo();
    refused(() => planQueueChange({ clientTs: T }, { type: 'move_item', itemId: a, position: 0 }, s.state, history, ctx()), 'item_gone', 'dropped');
    refused(() => planQueueChange({ clientTs: T }, { type: 'set_current', itemId: c }, s.state, history, ctx()), 'item_gone', 'dropped');
    const p = planQueueChange({ clientTs: T }, { type: 'move_item', itemId: d, beforeItemId: c }, s.state, history, ctx());
    assert.equal(p.note?.resolution, 'merged');
    assert.deepEqual(
      applyCommand(s.state, p.command, s.ctx).state.items.map((i) => i.itemId),
      [b, d],
      'before c: nothing after c but d itself, so after b',
    );
  });

  it('[OF8] a setting changed by someone else after baseVersion wins when newer, loses when older; own changes never count', () => {
    const s = scenario().given({ type: 'create_queue', name: 'q', queueType: 'user' }, { type: 'add_tracks', tracks: ['a'] });
    const base = s.state.version;
    const r = applyCommand(s.state, { type: 'set_repeat', repeat: 'all' }, s.ctx, { deviceId: 'laptop' });
    const history = foldHistory(emptyHistory(), [...s.events, ...r.events]);
    const changedAt = Date.parse(r.events[0]!.timestamp);
    const cmd = { type: 'set_repeat', repeat: 'one' } as const;
    refused(() => planQueueChange({ baseVersion: base, clientTs: changedAt - 1 }, cmd, r.state, history, ctx()), 'setting_changed_later', 'server_wins');
    const later = planQueueChange({ baseVersion: base, clientTs: changedAt + 1 }, cmd, r.state, history, ctx());
    assert.equal(later.note?.resolution, 'client_wins');
    // A base after the change: the client saw it, nothing to compare.
    assert.deepEqual(planQueueChange({ baseVersion: r.state.version, clientTs: 0 }, cmd, r.state, history, ctx()), { command: cmd });
    // The laptop's own later change does not lose against its earlier one.
    assert.deepEqual(planQueueChange({ baseVersion: base, clientTs: 0 }, cmd, r.state, history, ctx({ deviceId: 'laptop' })), { command: cmd });
  });

  it('[OF9] clear with a baseVersion removes what the client saw and keeps newer items of others', () => {
    const s = scenario().given({ type: 'create_queue', name: 'q', queueType: 'user' }, { type: 'add_tracks', tracks: ['a', 'b'] });
    const base = s.state.version;
    const r = applyCommand(s.state, { type: 'add_tracks', tracks: ['new'] }, s.ctx, { deviceId: 'laptop' });
    const history = foldHistory(emptyHistory(), [...s.events, ...r.events]);
    const p = planQueueChange({ baseVersion: base, clientTs: T }, { type: 'clear' }, r.state, history, ctx());
    assert.equal(p.note?.resolution, 'merged');
    assert.equal(p.command.type, 'remove_items');
    assert.deepEqual(
      applyCommand(r.state, p.command, s.ctx).state.items.map((i) => i.trackId),
      ['new'],
    );
    assert.deepEqual(planQueueChange({ clientTs: T }, { type: 'clear' }, r.state, history, ctx()), { command: { type: 'clear' } });
    assert.deepEqual(planQueueChange({ baseVersion: r.state.version, clientTs: T }, { type: 'clear' }, r.state, history, ctx()), {
      command: { type: 'clear' },
    });
  });

  it('[OF3] a merged add keeps the canonical order around the gone anchor while shuffled', () => {
    const { s, b, c } = removedTwo();
    s.given({ type: 'set_shuffle', shuffle: true });
    const history = foldHistory(emptyHistory(), s.events);
    const p = planQueueChange({ clientTs: T }, { type: 'add_tracks', tracks: ['x'], afterItemId: c }, s.state, history, ctx());
    const r = applyCommand(s.state, p.command, s.ctx);
    const off = applyCommand(r.state, { type: 'set_shuffle', shuffle: false }, s.ctx).state;
    const x = r.events[0]!.data as { itemId: string };
    const order = canonicalIds(off);
    assert.equal(order[order.indexOf(b) + 1], x.itemId);
  });
});
