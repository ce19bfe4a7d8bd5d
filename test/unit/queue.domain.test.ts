// Example-based tests of the queue decider and fold: one describe per command.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { MAX_TRACK_ID_LENGTH, type QueueCommand } from '../../src/queues/decide.ts';
import { HISTORY_LIMIT, Items, evolve, foldEvents, initialState, toView } from '../../src/queues/queue.ts';
import { applyCommand, canonicalIds, expectAppError, plain, scenario, testContext, type Scenario } from '../helpers/domain.ts';

const create = (tracks?: string[], extra: Partial<Extract<QueueCommand, { type: 'create_queue' }>> = {}): QueueCommand => ({
  type: 'create_queue',
  name: 'My queue',
  queueType: 'user',
  ...(tracks ? { tracks } : {}),
  ...extra,
});

/** A created queue holding tracks t1..tn as item-1..item-n. */
function withTracks(n: number, opts: Parameters<typeof scenario>[0] = {}): Scenario {
  const s = scenario(opts);
  s.when(create(Array.from({ length: n }, (_, i) => `t${i + 1}`)));
  return s;
}

describe('create_queue', () => {
  it('creates an empty queue', () => {
    const s = scenario({ userId: 'alice' });
    const events = s.when(create(undefined, { queueType: 'party', metadata: { mood: 'chill' } }));
    assert.equal(events.length, 1);
    const [e] = events;
    assert.equal(e!.type, 'queue_created');
    assert.equal(e!.sequenceNumber, 1);
    assert.equal(e!.queueId, 'queue-1');
    assert.equal(e!.userId, 'alice');
    assert.equal(e!.deviceId, null);
    assert.deepEqual(e!.data, { name: 'My queue', type: 'party', ownerId: 'alice', metadata: { mood: 'chill' } });
    const st = s.state;
    assert.equal(st.version, 1);
    assert.equal(st.name, 'My queue');
    assert.equal(st.type, 'party');
    assert.equal(st.ownerId, 'alice');
    assert.deepEqual(st.metadata, { mood: 'chill' });
    assert.equal(st.createdAt, e!.timestamp);
    assert.equal(st.updatedAt, e!.timestamp);
    assert.deepEqual([...st.items], []);
    assert.equal(st.currentItemId, null);
    assert.equal(st.shuffle, false);
    assert.equal(st.repeat, 'off');
    assert.deepEqual(st.history, []);
    assert.equal(st.deleted, false);
  });

  it('defaults metadata to {}', () => {
    const s = scenario();
    s.when(create());
    assert.deepEqual(s.state.metadata, {});
  });

  it('creates a queue with tracks, in order, with envelope data on the items', () => {
    const s = scenario({ userId: 'bob' });
    const events = s.when(create(['a', 'b', 'c']));
    assert.deepEqual(
      events.map((e) => e.type),
      ['queue_created', 'item_added', 'item_added', 'item_added'],
    );
    assert.deepEqual(
      events.map((e) => e.sequenceNumber),
      [1, 2, 3, 4],
    );
    // the fake clock advances 1 ms per event
    const times = events.map((e) => Date.parse(e.timestamp));
    assert.deepEqual(
      times.map((t) => t - times[0]!),
      [0, 1, 2, 3],
    );
    assert.equal(s.state.version, 4);
    assert.deepEqual(s.itemIds, ['item-1', 'item-2', 'item-3']);
    assert.deepEqual(s.trackIds, ['a', 'b', 'c']);
    assert.ok(s.state.items.every((i) => i.addedBy === 'bob'));
    assert.deepEqual(
      s.state.items.map((i) => i.addedAt),
      events.slice(1).map((e) => e.timestamp),
    );
    assert.equal(s.state.currentItemId, null);
  });

  it('creating with an empty track list adds nothing', () => {
    const s = scenario();
    assert.equal(s.when(create([])).length, 1);
    assert.deepEqual([...s.state.items], []);
  });

  it('creating twice is a conflict queue_exists', () => {
    const s = scenario();
    s.when(create());
    s.rejects(create(['x']), 'queue_exists', 'conflict');
  });

  it('validates the initial tracks and the item limit', () => {
    scenario().rejects(create(['ok', 'x'.repeat(MAX_TRACK_ID_LENGTH + 1)]), 'invalid_track_id', 'invalid');
    scenario({ maxItems: 2 }).rejects(create(['a', 'b', 'c']), 'queue_full', 'limit');
    const s = scenario({ maxItems: 2 });
    s.when(create(['a', 'b']));
    assert.equal(s.state.items.length, 2);
  });
});

describe('add_tracks', () => {
  it('appends at the end by default, with fresh ids', () => {
    const s = withTracks(3);
    const events = s.when({ type: 'add_tracks', tracks: ['x', 'y'] });
    assert.deepEqual(
      events.map((e) => e.type),
      ['item_added', 'item_added'],
    );
    assert.deepEqual(
      events.map((e) => e.sequenceNumber),
      [5, 6],
    );
    assert.deepEqual(s.trackIds, ['t1', 't2', 't3', 'x', 'y']);
    assert.deepEqual(s.itemIds, ['item-1', 'item-2', 'item-3', 'item-4', 'item-5']);
    assert.equal(s.state.version, 6);
  });

  it('adds to an empty queue', () => {
    const s = withTracks(0);
    s.when({ type: 'add_tracks', tracks: ['x'] });
    assert.deepEqual(s.trackIds, ['x']);
  });

  it('inserts at an index', () => {
    const cases: [number, string[]][] = [
      [0, ['x', 't1', 't2', 't3']],
      [1, ['t1', 'x', 't2', 't3']],
      [2, ['t1', 't2', 'x', 't3']],
      [3, ['t1', 't2', 't3', 'x']],
      [99, ['t1', 't2', 't3', 'x']], // past the end appends
      [-5, ['x', 't1', 't2', 't3']], // negative clamps to the start
    ];
    for (const [position, expected] of cases) {
      const s = withTracks(3);
      s.when({ type: 'add_tracks', tracks: ['x'], position });
      assert.deepEqual(s.trackIds, expected, `position ${position}`);
    }
  });

  it('inserts several tracks at an index, keeping their order', () => {
    const s = withTracks(3);
    s.when({ type: 'add_tracks', tracks: ['x', 'y', 'z'], position: 1 });
    assert.deepEqual(s.trackIds, ['t1', 'x', 'y', 'z', 't2', 't3']);
  });

  it('[Q3] inserts after an item', () => {
    for (const [anchor, expected] of [
      ['item-1', ['t1', 'x', 'y', 't2', 't3']],
      ['item-2', ['t1', 't2', 'x', 'y', 't3']],
      ['item-3', ['t1', 't2', 't3', 'x', 'y']],
    ] as const) {
      const s = withTracks(3);
      s.when({ type: 'add_tracks', tracks: ['x', 'y'], afterItemId: anchor });
      assert.deepEqual(s.trackIds, expected, `after ${anchor}`);
    }
  });

  it('[Q3] inserts before an item', () => {
    for (const [anchor, expected] of [
      ['item-1', ['x', 'y', 't1', 't2', 't3']],
      ['item-2', ['t1', 'x', 'y', 't2', 't3']],
      ['item-3', ['t1', 't2', 'x', 'y', 't3']],
    ] as const) {
      const s = withTracks(3);
      s.when({ type: 'add_tracks', tracks: ['x', 'y'], beforeItemId: anchor });
      assert.deepEqual(s.trackIds, expected, `before ${anchor}`);
    }
  });

  it('repeated inserts at the same spot keep working (keys stay ordered)', () => {
    const s = withTracks(2);
    for (let i = 0; i < 50; i++) s.when({ type: 'add_tracks', tracks: [`x${i}`], afterItemId: 'item-1' });
    assert.equal(s.trackIds[0], 't1');
    assert.equal(s.trackIds.at(-1), 't2');
    assert.deepEqual(
      s.trackIds.slice(1, -1),
      Array.from({ length: 50 }, (_, i) => `x${49 - i}`),
    );
    for (let i = 1; i < s.state.items.length; i++) assert.ok(s.state.items.at(i - 1)!.key < s.state.items.at(i)!.key);
  });

  it('adding the same track twice gives two items', () => {
    const s = withTracks(1);
    s.when({ type: 'add_tracks', tracks: ['t1'] });
    s.when({ type: 'add_tracks', tracks: ['dup', 'dup'] });
    assert.deepEqual(s.trackIds, ['t1', 't1', 'dup', 'dup']);
    assert.equal(new Set(s.itemIds).size, 4);
  });

  it('an empty track list is a no-op', () => {
    const s = withTracks(2);
    assert.deepEqual(s.when({ type: 'add_tracks', tracks: [] }), []);
    assert.equal(s.state.version, 3);
  });

  it('more than one placement is ambiguous', () => {
    const s = withTracks(3);
    s.rejects({ type: 'add_tracks', tracks: ['x'], position: 0, afterItemId: 'item-1' }, 'ambiguous_placement', 'invalid');
    s.rejects({ type: 'add_tracks', tracks: ['x'], afterItemId: 'item-1', beforeItemId: 'item-2' }, 'ambiguous_placement', 'invalid');
    s.rejects({ type: 'add_tracks', tracks: ['x'], position: 1, beforeItemId: 'item-2' }, 'ambiguous_placement', 'invalid');
  });

  it('[Q3] an unknown anchor is anchor_not_found', () => {
    const s = withTracks(3);
    const e1 = s.rejects({ type: 'add_tracks', tracks: ['x'], afterItemId: 'nope' }, 'anchor_not_found');
    assert.ok(e1 instanceof AppError);
    assert.equal(e1.details.afterItemId, 'nope');
    const e2 = s.rejects({ type: 'add_tracks', tracks: ['x'], beforeItemId: 'nope' }, 'anchor_not_found');
    assert.equal(e2.details.beforeItemId, 'nope');
    // a removed item is no anchor either
    s.when({ type: 'remove_items', itemIds: ['item-2'] });
    s.rejects({ type: 'add_tracks', tracks: ['x'], afterItemId: 'item-2' }, 'anchor_not_found');
  });

  it('track ids are 1 to MAX_TRACK_ID_LENGTH characters', () => {
    const s = withTracks(1);
    s.rejects({ type: 'add_tracks', tracks: ['x'.repeat(MAX_TRACK_ID_LENGTH + 1)] }, 'invalid_track_id', 'invalid');
    s.rejects({ type: 'add_tracks', tracks: [''] }, 'invalid_track_id', 'invalid');
    // one bad track rejects the whole command
    s.rejects({ type: 'add_tracks', tracks: ['fine', 'y'.repeat(200)] }, 'invalid_track_id', 'invalid');
    s.when({ type: 'add_tracks', tracks: ['z'.repeat(MAX_TRACK_ID_LENGTH)] });
    assert.equal(s.state.items.length, 2);
  });

  it('the item limit is a limit error queue_full, all or nothing', () => {
    const s = withTracks(2, { maxItems: 3 });
    const err = s.rejects({ type: 'add_tracks', tracks: ['a', 'b'] }, 'queue_full', 'limit');
    assert.deepEqual(err.details, { limit: 3, items: 2, adding: 2 });
    s.when({ type: 'add_tracks', tracks: ['a'] });
    assert.equal(s.state.items.length, 3);
    s.rejects({ type: 'add_tracks', tracks: ['b'] }, 'queue_full', 'limit');
    // removing makes room again
    s.when({ type: 'remove_items', itemIds: ['item-1'] });
    s.when({ type: 'add_tracks', tracks: ['b'] });
    assert.equal(s.state.items.length, 3);
  });

  it('records who added an item and when', () => {
    const s = withTracks(0, { userId: 'owner' });
    const [e] = s.when({ type: 'add_tracks', tracks: ['x'] }, { userId: 'guest' });
    assert.equal(s.state.items.at(0)!.addedBy, 'guest');
    assert.equal(s.state.items.at(0)!.addedAt, e!.timestamp);
    assert.equal(s.state.ownerId, 'owner');
  });
});

describe('remove_items', () => {
  it('removes items', () => {
    const s = withTracks(4);
    const events = s.when({ type: 'remove_items', itemIds: ['item-2', 'item-4'] });
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [
        ['item_removed', { itemId: 'item-2' }],
        ['item_removed', { itemId: 'item-4' }],
      ],
    );
    assert.deepEqual(s.itemIds, ['item-1', 'item-3']);
  });

  it('duplicate ids in one command are removed once', () => {
    const s = withTracks(3);
    assert.equal(s.when({ type: 'remove_items', itemIds: ['item-2', 'item-2'] }).length, 1);
    assert.deepEqual(s.itemIds, ['item-1', 'item-3']);
  });

  it('an unknown item is item_not_found, and nothing is removed', () => {
    const s = withTracks(3);
    const err = s.rejects({ type: 'remove_items', itemIds: ['item-1', 'ghost'] }, 'item_not_found', 'not_found');
    assert.equal(err.details.itemId, 'ghost');
    s.when({ type: 'remove_items', itemIds: ['item-1'] });
    // [CO10] an id that was in the queue and is gone now is a conflict, not a 404
    s.rejects({ type: 'remove_items', itemIds: ['item-1'] }, 'item_gone', 'conflict');
  });

  it('removing the current item clears currentItemId', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-2' });
    s.when({ type: 'remove_items', itemIds: ['item-1'] });
    assert.equal(s.state.currentItemId, 'item-2');
    s.when({ type: 'remove_items', itemIds: ['item-2'] });
    assert.equal(s.state.currentItemId, null);
    assert.deepEqual(s.itemIds, ['item-3']);
  });
});

describe('move_item', () => {
  it('moves to an index (the index in the resulting order)', () => {
    const cases: [string, number, string[]][] = [
      ['item-1', 2, ['item-2', 'item-3', 'item-1', 'item-4']],
      ['item-1', 3, ['item-2', 'item-3', 'item-4', 'item-1']],
      ['item-1', 99, ['item-2', 'item-3', 'item-4', 'item-1']],
      ['item-4', 0, ['item-4', 'item-1', 'item-2', 'item-3']],
      ['item-4', -1, ['item-4', 'item-1', 'item-2', 'item-3']],
      ['item-3', 1, ['item-1', 'item-3', 'item-2', 'item-4']],
    ];
    for (const [itemId, position, expected] of cases) {
      const s = withTracks(4);
      const events = s.when({ type: 'move_item', itemId, position });
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'item_moved');
      assert.deepEqual(s.itemIds, expected, `${itemId} to ${position}`);
    }
  });

  it('moving to where it already is emits nothing', () => {
    const s = withTracks(3);
    assert.deepEqual(s.when({ type: 'move_item', itemId: 'item-2', position: 1 }), []);
    assert.deepEqual(s.when({ type: 'move_item', itemId: 'item-2', afterItemId: 'item-1' }), []);
    assert.deepEqual(s.when({ type: 'move_item', itemId: 'item-2', beforeItemId: 'item-3' }), []);
    assert.deepEqual(s.when({ type: 'move_item', itemId: 'item-3' }), []); // no placement = the end
    assert.equal(s.state.version, 4);
  });

  it('moves after an item', () => {
    const s = withTracks(4);
    s.when({ type: 'move_item', itemId: 'item-4', afterItemId: 'item-1' });
    assert.deepEqual(s.itemIds, ['item-1', 'item-4', 'item-2', 'item-3']);
    s.when({ type: 'move_item', itemId: 'item-1', afterItemId: 'item-3' });
    assert.deepEqual(s.itemIds, ['item-4', 'item-2', 'item-3', 'item-1']);
  });

  it('moves before an item', () => {
    const s = withTracks(4);
    s.when({ type: 'move_item', itemId: 'item-4', beforeItemId: 'item-1' });
    assert.deepEqual(s.itemIds, ['item-4', 'item-1', 'item-2', 'item-3']);
    s.when({ type: 'move_item', itemId: 'item-4', beforeItemId: 'item-3' });
    assert.deepEqual(s.itemIds, ['item-1', 'item-2', 'item-4', 'item-3']);
  });

  it('moves to the end without a placement', () => {
    const s = withTracks(3);
    s.when({ type: 'move_item', itemId: 'item-1' });
    assert.deepEqual(s.itemIds, ['item-2', 'item-3', 'item-1']);
  });

  it('a moved item keeps its id, track and being current', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-1' });
    s.when({ type: 'move_item', itemId: 'item-1', position: 2 });
    assert.equal(s.state.currentItemId, 'item-1');
    assert.deepEqual(s.trackIds, ['t2', 't3', 't1']);
  });

  it('moving relative to itself is invalid', () => {
    const s = withTracks(3);
    s.rejects({ type: 'move_item', itemId: 'item-2', afterItemId: 'item-2' }, 'invalid_anchor', 'invalid');
    s.rejects({ type: 'move_item', itemId: 'item-2', beforeItemId: 'item-2' }, 'invalid_anchor', 'invalid');
  });

  it('rejects unknown items and anchors, and ambiguous placements', () => {
    const s = withTracks(3);
    s.rejects({ type: 'move_item', itemId: 'ghost', position: 0 }, 'item_not_found', 'not_found');
    s.rejects({ type: 'move_item', itemId: 'item-1', afterItemId: 'ghost' }, 'anchor_not_found', 'conflict');
    s.rejects({ type: 'move_item', itemId: 'item-1', beforeItemId: 'ghost' }, 'anchor_not_found', 'conflict');
    s.rejects({ type: 'move_item', itemId: 'item-1', position: 1, afterItemId: 'item-2' }, 'ambiguous_placement', 'invalid');
  });
});

describe('clear', () => {
  it('clears everything', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-2' });
    const events = s.when({ type: 'clear' });
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [['queue_cleared', { itemIds: ['item-1', 'item-2', 'item-3'] }]],
    );
    assert.deepEqual([...s.state.items], []);
    assert.equal(s.state.currentItemId, null);
  });

  it('clearing an empty queue emits nothing', () => {
    const s = withTracks(0);
    assert.deepEqual(s.when({ type: 'clear' }), []);
    assert.deepEqual(s.when({ type: 'clear', upcomingOnly: true }), []);
  });

  it('upcomingOnly keeps the current item and what came before it', () => {
    const s = withTracks(5);
    s.when({ type: 'set_current', itemId: 'item-3' });
    const events = s.when({ type: 'clear', upcomingOnly: true });
    assert.deepEqual(
      events.map((e) => e.data),
      [{ itemIds: ['item-4', 'item-5'] }],
    );
    assert.deepEqual(s.itemIds, ['item-1', 'item-2', 'item-3']);
    assert.equal(s.state.currentItemId, 'item-3');
  });

  it('upcomingOnly with the last item current emits nothing', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-3' });
    assert.deepEqual(s.when({ type: 'clear', upcomingOnly: true }), []);
    assert.equal(s.state.items.length, 3);
  });

  it('upcomingOnly follows the play order while shuffled', () => {
    const s = withTracks(6, { seed: 7 });
    s.when({ type: 'set_current', itemId: 'item-4' });
    s.when({ type: 'set_shuffle', shuffle: true });
    const played = s.itemIds;
    s.when({ type: 'move_item', itemId: played[3]!, position: 1 });
    const order = s.itemIds;
    assert.equal(order[0], 'item-4');
    s.when({ type: 'clear', upcomingOnly: true });
    assert.deepEqual(s.itemIds, ['item-4']);
  });
});

describe('set_shuffle', () => {
  it('[Q4] shuffle on puts the current item first and keeps every item', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const s = withTracks(8, { seed });
      s.when({ type: 'set_current', itemId: 'item-5' });
      const events = s.when({ type: 'set_shuffle', shuffle: true });
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'shuffle_changed');
      assert.equal(s.state.shuffle, true);
      assert.equal(s.itemIds[0], 'item-5', `seed ${seed}`);
      assert.equal(s.state.currentItemId, 'item-5');
      assert.deepEqual([...s.itemIds].sort(), ['item-1', 'item-2', 'item-3', 'item-4', 'item-5', 'item-6', 'item-7', 'item-8']);
      assert.ok(s.state.items.every((i) => i.shuffleKey !== undefined));
    }
  });

  it('is deterministic for a given seed, and the seed matters', () => {
    const order = (seed: number) => {
      const s = withTracks(10, { seed });
      s.when({ type: 'set_shuffle', shuffle: true });
      return s.itemIds;
    };
    assert.deepEqual(order(42), order(42));
    assert.deepEqual(order(7), order(7));
    const distinct = new Set([1, 2, 3, 4, 5].map((seed) => order(seed).join(',')));
    assert.ok(distinct.size > 1, 'different seeds should give different orders');
    const canonical = Array.from({ length: 10 }, (_, i) => `item-${i + 1}`).join(',');
    assert.ok(
      [...distinct].some((o) => o !== canonical),
      'shuffling changes the order',
    );
  });

  it('[Q4] shuffle off restores the exact pre-shuffle order', () => {
    const s = withTracks(10, { seed: 3 });
    s.when({ type: 'move_item', itemId: 'item-9', position: 2 });
    s.when({ type: 'set_current', itemId: 'item-4' });
    const before = structuredClone([...s.state.items]);
    s.when({ type: 'set_shuffle', shuffle: true });
    assert.notDeepEqual(
      s.itemIds,
      before.map((i) => i.itemId),
    );
    s.when({ type: 'next' });
    const events = s.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual(
      events.map((e) => e.data),
      [{ shuffle: false }],
    );
    assert.equal(s.state.shuffle, false);
    assert.deepEqual([...s.state.items], before);
  });

  it('setting the shuffle it already has emits nothing', () => {
    const s = withTracks(3);
    assert.deepEqual(s.when({ type: 'set_shuffle', shuffle: false }), []);
    s.when({ type: 'set_shuffle', shuffle: true });
    const order = s.itemIds;
    assert.deepEqual(s.when({ type: 'set_shuffle', shuffle: true }), []);
    assert.deepEqual(s.itemIds, order);
  });

  it('shuffles an empty queue and one without a current item', () => {
    const e = withTracks(0);
    e.when({ type: 'set_shuffle', shuffle: true });
    assert.equal(e.state.shuffle, true);
    e.when({ type: 'add_tracks', tracks: ['a', 'b'] });
    e.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual(e.trackIds, ['a', 'b']);

    const s = withTracks(5, { seed: 11 });
    s.when({ type: 'set_shuffle', shuffle: true });
    assert.deepEqual([...s.itemIds].sort(), ['item-1', 'item-2', 'item-3', 'item-4', 'item-5']);
  });

  it('[Q4] adds while shuffled go into the play order there, and follow their anchor after unshuffle', () => {
    const s = withTracks(6, { seed: 5 });
    const canonical = s.itemIds;
    s.when({ type: 'set_shuffle', shuffle: true });
    const anchor = s.itemIds[2]!;
    s.when({ type: 'add_tracks', tracks: ['x', 'y'], afterItemId: anchor });
    const play = s.itemIds;
    const ai = play.indexOf(anchor);
    assert.deepEqual(play.slice(ai + 1, ai + 3), ['item-7', 'item-8']);
    assert.deepEqual(canonicalIds(s.state), [
      ...canonical.slice(0, canonical.indexOf(anchor) + 1),
      'item-7',
      'item-8',
      ...canonical.slice(canonical.indexOf(anchor) + 1),
    ]);
    s.when({ type: 'set_shuffle', shuffle: false });
    const ci = canonical.indexOf(anchor);
    assert.deepEqual(s.itemIds, [...canonical.slice(0, ci + 1), 'item-7', 'item-8', ...canonical.slice(ci + 1)]);
  });

  it('adds at an index while shuffled go to the end of the order restored by unshuffle', () => {
    const s = withTracks(6, { seed: 9 });
    const canonical = s.itemIds;
    s.when({ type: 'set_shuffle', shuffle: true });
    s.when({ type: 'add_tracks', tracks: ['x'], position: 4 });
    assert.equal(s.itemIds[4], 'item-7');
    s.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual(s.itemIds, [...canonical, 'item-7']);
  });

  it('adds before an item while shuffled stay just before it after unshuffle', () => {
    const s = withTracks(6, { seed: 9 });
    const canonical = s.itemIds;
    s.when({ type: 'set_shuffle', shuffle: true });
    s.when({ type: 'add_tracks', tracks: ['y'], beforeItemId: canonical[2]! });
    s.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual(s.itemIds, [...canonical.slice(0, 2), 'item-7', ...canonical.slice(2)]);
  });

  it('[Q4] moves while shuffled change the play order only and do not survive unshuffle', () => {
    const s = withTracks(6, { seed: 13 });
    const before = structuredClone([...s.state.items]);
    s.when({ type: 'set_shuffle', shuffle: true });
    const last = s.itemIds.at(-1)!;
    const [ev] = s.when({ type: 'move_item', itemId: last, position: 0 });
    assert.equal(ev!.type, 'item_moved');
    assert.equal((ev!.data as { key?: string }).key, undefined);
    assert.equal(s.itemIds[0], last);
    s.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual([...s.state.items], before);
  });

  it('add and move while shuffled, then unshuffle: adds survive next to their anchor, moves do not', () => {
    const s = withTracks(5, { seed: 21 });
    s.when({ type: 'set_current', itemId: 'item-2' });
    const canonical = s.itemIds;
    s.when({ type: 'set_shuffle', shuffle: true });
    assert.equal(s.itemIds[0], 'item-2');
    s.when({ type: 'add_tracks', tracks: ['new'], afterItemId: 'item-4' });
    s.when({ type: 'move_item', itemId: 'item-1', afterItemId: 'item-6' });
    s.when({ type: 'move_item', itemId: 'item-6', position: 0 });
    assert.equal(s.itemIds[0], 'item-6');
    s.when({ type: 'set_shuffle', shuffle: false });
    const ci = canonical.indexOf('item-4');
    assert.deepEqual(s.itemIds, [...canonical.slice(0, ci + 1), 'item-6', ...canonical.slice(ci + 1)]);
    assert.equal(s.state.currentItemId, 'item-2');
    assert.ok(s.state.items.every((i) => i.shuffleKey === undefined));
  });

  it('removes while shuffled stay removed after unshuffle', () => {
    const s = withTracks(5, { seed: 2 });
    s.when({ type: 'set_shuffle', shuffle: true });
    s.when({ type: 'remove_items', itemIds: ['item-3'] });
    s.when({ type: 'set_shuffle', shuffle: false });
    assert.deepEqual(s.itemIds, ['item-1', 'item-2', 'item-4', 'item-5']);
  });

  it('re-shuffling draws a new order and still leads with the current item', () => {
    const s = withTracks(8, { seed: 4 });
    s.when({ type: 'set_current', itemId: 'item-8' });
    s.when({ type: 'set_shuffle', shuffle: true });
    s.when({ type: 'set_shuffle', shuffle: false });
    s.when({ type: 'set_current', itemId: 'item-3' });
    s.when({ type: 'set_shuffle', shuffle: true });
    assert.equal(s.itemIds[0], 'item-3');
  });
});

describe('set_repeat', () => {
  it('changes the repeat mode; the same mode emits nothing', () => {
    const s = withTracks(1);
    assert.deepEqual(s.when({ type: 'set_repeat', repeat: 'off' }), []);
    for (const repeat of ['all', 'one', 'off'] as const) {
      const events = s.when({ type: 'set_repeat', repeat });
      assert.deepEqual(
        events.map((e) => [e.type, e.data]),
        [['repeat_changed', { repeat }]],
      );
      assert.equal(s.state.repeat, repeat);
    }
    s.when({ type: 'set_repeat', repeat: 'all' });
    assert.deepEqual(s.when({ type: 'set_repeat', repeat: 'all' }), []);
  });
});

describe('set_current', () => {
  it('sets the current item and records the previous one in history', () => {
    const s = withTracks(3);
    const [e1] = s.when({ type: 'set_current', itemId: 'item-2' });
    assert.deepEqual(e1!.data, { itemId: 'item-2', previousItemId: null, reason: 'set' });
    assert.equal(s.state.currentItemId, 'item-2');
    assert.deepEqual(s.state.history, []);
    const [e2] = s.when({ type: 'set_current', itemId: 'item-3' });
    assert.deepEqual(e2!.data, { itemId: 'item-3', previousItemId: 'item-2', reason: 'set' });
    assert.deepEqual(s.state.history, [{ itemId: 'item-2', trackId: 't2', playedAt: e2!.timestamp }]);
  });

  it('null clears the current item', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-1' });
    s.when({ type: 'set_current', itemId: null });
    assert.equal(s.state.currentItemId, null);
    assert.deepEqual(
      s.state.history.map((h) => h.itemId),
      ['item-1'],
    );
    assert.deepEqual(s.when({ type: 'set_current', itemId: null }), []);
  });

  it('setting the current item again emits nothing', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-1' });
    assert.deepEqual(s.when({ type: 'set_current', itemId: 'item-1' }), []);
  });

  it('an unknown item is item_not_found', () => {
    const s = withTracks(3);
    s.rejects({ type: 'set_current', itemId: 'ghost' }, 'item_not_found', 'not_found');
  });

  it('the view reports the current index', () => {
    const s = withTracks(3);
    assert.equal(toView(s.state).currentIndex, null);
    s.when({ type: 'set_current', itemId: 'item-3' });
    const v = toView(s.state);
    assert.equal(v.currentIndex, 2);
    assert.equal(v.currentItemId, 'item-3');
    assert.deepEqual(Object.keys(v.items[0]!).sort(), ['addedAt', 'addedBy', 'itemId', 'trackId']);
  });
});

describe('next / previous', () => {
  const cur = (s: Scenario) => s.state.currentItemId;

  it('[Q5] repeat off: next walks the queue, then ends with no current item', () => {
    const s = withTracks(3);
    const [e0] = s.when({ type: 'next' });
    assert.deepEqual(e0!.data, { itemId: 'item-1', previousItemId: null, reason: 'next' });
    s.when({ type: 'next' });
    assert.equal(cur(s), 'item-2');
    const [e2] = s.when({ type: 'next', reason: 'track_end' });
    assert.deepEqual(e2!.data, { itemId: 'item-3', previousItemId: 'item-2', reason: 'next' });
    const [e3] = s.when({ type: 'next' });
    assert.deepEqual(e3!.data, { itemId: null, previousItemId: 'item-3', reason: 'end_of_queue' });
    assert.equal(cur(s), null);
    assert.deepEqual(
      s.state.history.map((h) => h.itemId),
      ['item-1', 'item-2', 'item-3'],
    );
    // next again starts from the top
    s.when({ type: 'next' });
    assert.equal(cur(s), 'item-1');
  });

  it('repeat off: track_end at the end also ends the queue', () => {
    const s = withTracks(2);
    s.when({ type: 'set_current', itemId: 'item-2' });
    s.when({ type: 'next', reason: 'track_end' });
    assert.equal(cur(s), null);
  });

  it('[Q5] repeat all: next wraps around', () => {
    const s = withTracks(3);
    s.when({ type: 'set_repeat', repeat: 'all' });
    s.when({ type: 'set_current', itemId: 'item-3' });
    const [e] = s.when({ type: 'next' });
    assert.deepEqual(e!.data, { itemId: 'item-1', previousItemId: 'item-3', reason: 'next' });
    s.when({ type: 'set_current', itemId: 'item-3' });
    s.when({ type: 'next', reason: 'track_end' });
    assert.equal(cur(s), 'item-1');
  });

  it('[Q5] repeat one: track_end stays on the item, a user next moves on', () => {
    const s = withTracks(3);
    s.when({ type: 'set_repeat', repeat: 'one' });
    s.when({ type: 'set_current', itemId: 'item-2' });
    const [e] = s.when({ type: 'next', reason: 'track_end' });
    assert.deepEqual(e!.data, { itemId: 'item-2', previousItemId: 'item-2', reason: 'repeat' });
    assert.equal(cur(s), 'item-2');
    assert.deepEqual(
      s.state.history.map((h) => h.itemId),
      ['item-2'],
    ); // the replay counts as played
    s.when({ type: 'next', reason: 'track_end' });
    assert.equal(cur(s), 'item-2');
    s.when({ type: 'next' });
    assert.equal(cur(s), 'item-3');
    s.when({ type: 'next' }); // a user skip at the end wraps under repeat one
    assert.equal(cur(s), 'item-1');
  });

  it('repeat one: track_end without a current item starts at the top', () => {
    const s = withTracks(3);
    s.when({ type: 'set_repeat', repeat: 'one' });
    s.when({ type: 'next', reason: 'track_end' });
    assert.equal(cur(s), 'item-1');
  });

  it('next follows the shuffled play order', () => {
    const s = withTracks(6, { seed: 8 });
    s.when({ type: 'set_current', itemId: 'item-1' });
    s.when({ type: 'set_shuffle', shuffle: true });
    const order = s.itemIds;
    const seen = [cur(s)];
    for (let i = 1; i < order.length; i++) {
      s.when({ type: 'next' });
      seen.push(cur(s));
    }
    assert.deepEqual(seen, order);
  });

  it('previous steps back without recording history', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-3' });
    const [e] = s.when({ type: 'previous' });
    assert.deepEqual(e!.data, { itemId: 'item-2', previousItemId: 'item-3', reason: 'previous' });
    assert.equal(cur(s), 'item-2');
    assert.deepEqual(s.state.history, []);
  });

  it('previous at the start: stays under repeat off/one, wraps under repeat all', () => {
    const s = withTracks(3);
    s.when({ type: 'set_current', itemId: 'item-1' });
    assert.deepEqual(s.when({ type: 'previous' }), []);
    s.when({ type: 'set_repeat', repeat: 'one' });
    assert.deepEqual(s.when({ type: 'previous' }), []);
    s.when({ type: 'set_repeat', repeat: 'all' });
    s.when({ type: 'previous' });
    assert.equal(cur(s), 'item-3');
  });

  it('previous without a current item goes to the first item', () => {
    const s = withTracks(3);
    s.when({ type: 'previous' });
    assert.equal(cur(s), 'item-1');
  });

  it('next and previous on an empty queue are queue_empty', () => {
    const s = withTracks(0);
    s.rejects({ type: 'next' }, 'queue_empty', 'conflict');
    s.rejects({ type: 'next', reason: 'track_end' }, 'queue_empty', 'conflict');
    s.rejects({ type: 'previous' }, 'queue_empty', 'conflict');
  });

  it('[Q5] history is recorded on next and bounded to HISTORY_LIMIT', () => {
    const s = withTracks(3);
    s.when({ type: 'set_repeat', repeat: 'all' });
    const played: string[] = [];
    s.when({ type: 'next' });
    for (let i = 0; i < HISTORY_LIMIT + 50; i++) {
      played.push(cur(s)!);
      const [e] = s.when({ type: 'next' });
      assert.equal(s.state.history.at(-1)!.playedAt, e!.timestamp);
    }
    assert.equal(s.state.history.length, HISTORY_LIMIT);
    assert.deepEqual(
      s.state.history.map((h) => h.itemId),
      played.slice(-HISTORY_LIMIT),
    );
    assert.deepEqual(
      s.state.history.map((h) => h.trackId),
      played.slice(-HISTORY_LIMIT).map((id) => `t${id.slice(5)}`),
    );
  });

  it('history survives removal of the played item', () => {
    const s = withTracks(3);
    s.when({ type: 'next' });
    s.when({ type: 'next' });
    s.when({ type: 'remove_items', itemIds: ['item-1'] });
    assert.deepEqual(
      s.state.history.map((h) => [h.itemId, h.trackId]),
      [['item-1', 't1']],
    );
  });
});

describe('update_queue', () => {
  it('updates the name and/or metadata', () => {
    const s = scenario();
    s.when(create(undefined, { metadata: { a: 1 } }));
    s.when({ type: 'update_queue', name: 'Renamed' });
    assert.equal(s.state.name, 'Renamed');
    assert.deepEqual(s.state.metadata, { a: 1 });
    const [e] = s.when({ type: 'update_queue', metadata: { b: 2 } });
    assert.deepEqual(e!.data, { metadata: { b: 2 } });
    assert.equal(s.state.name, 'Renamed');
    assert.deepEqual(s.state.metadata, { b: 2 }); // metadata is replaced, not merged
    s.when({ type: 'update_queue', name: 'Both', metadata: {} });
    assert.equal(s.state.name, 'Both');
    assert.deepEqual(s.state.metadata, {});
    assert.equal(s.state.updatedAt, s.events.at(-1)!.timestamp);
  });

  it('an empty update emits nothing', () => {
    const s = withTracks(0);
    assert.deepEqual(s.when({ type: 'update_queue' }), []);
  });
});

const everyCommand: QueueCommand[] = [
  { type: 'add_tracks', tracks: ['x'] },
  { type: 'remove_items', itemIds: ['item-1'] },
  { type: 'move_item', itemId: 'item-1', position: 1 },
  { type: 'clear' },
  { type: 'clear', upcomingOnly: true },
  { type: 'set_shuffle', shuffle: true },
  { type: 'set_shuffle', shuffle: false },
  { type: 'set_repeat', repeat: 'all' },
  { type: 'set_current', itemId: 'item-1' },
  { type: 'set_current', itemId: null },
  { type: 'next' },
  { type: 'next', reason: 'track_end' },
  { type: 'previous' },
  { type: 'update_queue', name: 'n' },
  { type: 'update_queue' },
  { type: 'delete_queue' },
];

describe('delete_queue', () => {
  it('deletes the queue; every later command is queue_not_found', () => {
    const s = withTracks(2);
    const [e] = s.when({ type: 'delete_queue' });
    assert.equal(e!.type, 'queue_deleted');
    assert.equal(s.state.deleted, true);
    for (const cmd of everyCommand) s.rejects(cmd, 'queue_not_found', 'not_found');
  });

  it('re-creating a deleted queue is still a conflict', () => {
    const s = withTracks(2);
    s.when({ type: 'delete_queue' });
    s.rejects(create(), 'queue_exists', 'conflict');
  });
});

describe('a queue that was never created', () => {
  it('rejects every command but create with queue_not_found', () => {
    const s = scenario();
    for (const cmd of everyCommand) s.rejects(cmd, 'queue_not_found', 'not_found');
  });
});

describe('the harness and the fold', () => {
  it('evolve does not mutate its input', () => {
    const s = withTracks(4, { seed: 3 });
    s.when({ type: 'set_current', itemId: 'item-2' });
    const cmds: QueueCommand[] = [
      { type: 'add_tracks', tracks: ['x'], position: 1 },
      { type: 'move_item', itemId: 'item-4', position: 0 },
      { type: 'set_shuffle', shuffle: true },
      { type: 'next' },
      { type: 'remove_items', itemIds: ['item-1'] },
      { type: 'set_shuffle', shuffle: false },
      { type: 'clear', upcomingOnly: true },
      { type: 'update_queue', name: 'x', metadata: { k: 1 } },
      { type: 'delete_queue' },
    ];
    for (const cmd of cmds) {
      const before = structuredClone(plain(s.state));
      // The item list frozen too: its chunks are shared with the states made from it.
      const frozen = deepFreeze({ ...structuredClone(plain(s.state)), items: Items.from(structuredClone([...s.state.items])) });
      const r = applyCommand(frozen, cmd, s.ctx);
      assert.deepEqual(plain(frozen), before);
      s.state = r.state;
      s.events.push(...r.events);
    }
  });

  it('replaying the events gives the same state', () => {
    const s = withTracks(5, { seed: 17 });
    s.given(
      { type: 'set_current', itemId: 'item-3' },
      { type: 'set_shuffle', shuffle: true },
      { type: 'add_tracks', tracks: ['a', 'b'], afterItemId: 'item-1' },
      { type: 'next' },
      { type: 'set_shuffle', shuffle: false },
      { type: 'remove_items', itemIds: ['item-2'] },
    );
    assert.deepEqual(plain(foldEvents(initialState('queue-1'), s.events)), plain(s.state));
    assert.deepEqual(
      s.events.map((e) => e.sequenceNumber),
      s.events.map((_, i) => i + 1),
    );
    assert.equal(s.state.version, s.events.length);
  });

  it('expectAppError fails on other errors', () => {
    assert.throws(
      () =>
        expectAppError(() => {
          throw new Error('boom');
        }, 'x'),
      assert.AssertionError,
    );
    assert.throws(() => expectAppError(() => 1, 'x'), assert.AssertionError);
  });

  it('the context is deterministic', () => {
    const a = testContext({ seed: 9 });
    const b = testContext({ seed: 9 });
    assert.deepEqual([a.newId(), a.newId(), a.random(), a.tick()], [b.newId(), b.newId(), b.random(), b.tick()]);
    assert.equal(testContext().newId(), 'item-1');
    // evolve stamps updatedAt from the envelope
    const st = evolve(initialState('q'), {
      type: 'queue_created',
      data: { name: 'n', type: 'user', ownerId: 'o', metadata: {} },
      queueId: 'q',
      sequenceNumber: 1,
      userId: 'o',
      deviceId: null,
      timestamp: 'T',
    });
    assert.equal(st.updatedAt, 'T');
  });
});

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
