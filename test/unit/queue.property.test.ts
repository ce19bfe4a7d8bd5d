// Property tests of the queue domain: random command sequences through decide + evolve,
// checked against a small model and a set of invariants after every step.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateKeyBetween } from 'fractional-indexing';
import { AppError } from '../../src/errors.ts';
import { MAX_TRACK_ID_LENGTH, type Placement, type QueueCommand } from '../../src/queues/decide.ts';
import { HISTORY_LIMIT, activeKey, foldEvents, initialState, type QueueEvent, type QueueItem, type QueueState } from '../../src/queues/queue.ts';
import { applyCommand, canonicalIds, itemIds, plain, testContext } from '../helpers/domain.ts';

const NUM_RUNS = 200;
const MAX_COMMANDS = 60;
const MAX_ITEMS = 30;
const QUEUE_ID = 'queue-p';
const GHOST = 'ghost-item';

// ---- abstract commands: item references are indices resolved against the state at run time ----

type AbsPlace =
  | { k: 'none' }
  | { k: 'pos'; n: number }
  | { k: 'after'; p: number }
  | { k: 'before'; p: number }
  | { k: 'ghost' }
  | { k: 'ambiguous'; p: number; n: number };

type Abs =
  | { t: 'create'; tracks: string[] }
  | { t: 'add'; tracks: string[]; place: AbsPlace }
  | { t: 'remove'; picks: number[]; ghost: boolean }
  | { t: 'move'; p: number; place: AbsPlace }
  | { t: 'clear'; upcomingOnly: boolean }
  | { t: 'shuffle'; on: boolean }
  | { t: 'repeat'; mode: 'off' | 'all' | 'one' }
  | { t: 'current'; p: number | null; ghost: boolean }
  | { t: 'next'; reason: 'user' | 'track_end' | undefined }
  | { t: 'previous' }
  | { t: 'update'; name: string | undefined };

const trackArb = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom('t1', 't2', 't3', 't4', 't5', 't6') },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constant('x'.repeat(MAX_TRACK_ID_LENGTH + 1)) },
);
const pickArb = fc.nat({ max: 1000 });
const placeArb: fc.Arbitrary<AbsPlace> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ k: 'none' as const }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pos' as const), n: fc.integer({ min: -2, max: MAX_ITEMS + 2 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('after' as const), p: pickArb }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('before' as const), p: pickArb }) },
  { weight: 1, arbitrary: fc.constant({ k: 'ghost' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('ambiguous' as const), p: pickArb, n: fc.nat({ max: 5 }) }) },
);
const absArb: fc.Arbitrary<Abs> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ t: fc.constant('create' as const), tracks: fc.array(trackArb, { maxLength: 3 }) }) },
  { weight: 14, arbitrary: fc.record({ t: fc.constant('add' as const), tracks: fc.array(trackArb, { minLength: 1, maxLength: 4 }), place: placeArb }) },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('remove' as const),
      picks: fc.array(pickArb, { minLength: 1, maxLength: 3 }),
      ghost: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('move' as const), p: pickArb, place: placeArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('clear' as const), upcomingOnly: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('shuffle' as const), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('repeat' as const), mode: fc.constantFrom('off' as const, 'all' as const, 'one' as const) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('current' as const), p: fc.option(pickArb, { nil: null }), ghost: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('next' as const), reason: fc.constantFrom('user' as const, 'track_end' as const, undefined) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'previous' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('update' as const), name: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }) }) },
);

function pick(state: QueueState, p: number): string {
  return state.items.length === 0 ? GHOST : state.items.at(p % state.items.length)!.itemId;
}

function placement(state: QueueState, a: AbsPlace): Placement {
  switch (a.k) {
    case 'none':
      return {};
    case 'pos':
      return { position: a.n };
    case 'after':
      return { afterItemId: pick(state, a.p) };
    case 'before':
      return { beforeItemId: pick(state, a.p) };
    case 'ghost':
      return { afterItemId: GHOST };
    case 'ambiguous':
      return { afterItemId: pick(state, a.p), position: a.n };
  }
}

function concrete(state: QueueState, a: Abs): QueueCommand {
  switch (a.t) {
    case 'create':
      return { type: 'create_queue', name: 'P', queueType: 'user', tracks: a.tracks };
    case 'add':
      return { type: 'add_tracks', tracks: a.tracks, ...placement(state, a.place) };
    case 'remove':
      return { type: 'remove_items', itemIds: [...a.picks.map((p) => pick(state, p)), ...(a.ghost ? [GHOST] : [])] };
    case 'move':
      return { type: 'move_item', itemId: pick(state, a.p), ...placement(state, a.place) };
    case 'clear':
      return { type: 'clear', upcomingOnly: a.upcomingOnly };
    case 'shuffle':
      return { type: 'set_shuffle', shuffle: a.on };
    case 'repeat':
      return { type: 'set_repeat', repeat: a.mode };
    case 'current':
      return { type: 'set_current', itemId: a.p === null ? null : a.ghost && a.p % 5 === 0 ? GHOST : pick(state, a.p) };
    case 'next':
      return a.reason === undefined ? { type: 'next' } : { type: 'next', reason: a.reason };
    case 'previous':
      return { type: 'previous' };
    case 'update':
      return a.name === undefined ? { type: 'update_queue' } : { type: 'update_queue', name: a.name };
  }
}

// ---- oracle: which errors a command may raise, and where things should end up ----

const has = (s: QueueState, id: string) => s.items.some((i) => i.itemId === id);
const nPlaces = (p: Placement) => [p.position, p.afterItemId, p.beforeItemId].filter((x) => x !== undefined).length;
const badTrack = (t: string) => t.length === 0 || t.length > MAX_TRACK_ID_LENGTH;

/** Error codes the command may fail with on this state; empty means it must succeed. */
function expectedErrors(s: QueueState, c: QueueCommand): string[] {
  if (c.type === 'create_queue') {
    if (s.version !== 0) return ['queue_exists'];
    const out: string[] = [];
    if (c.tracks?.some(badTrack)) out.push('invalid_track_id');
    if ((c.tracks?.length ?? 0) > MAX_ITEMS) out.push('queue_full');
    return out;
  }
  if (s.version === 0 || s.deleted) return ['queue_not_found'];
  const out: string[] = [];
  const anchors = (p: Placement, rest: QueueState) => {
    if (nPlaces(p) > 1) out.push('ambiguous_placement');
    else if (p.afterItemId !== undefined && !has(rest, p.afterItemId)) out.push('anchor_not_found');
    else if (p.beforeItemId !== undefined && !has(rest, p.beforeItemId)) out.push('anchor_not_found');
  };
  switch (c.type) {
    case 'add_tracks':
      anchors(c, s);
      if (c.tracks.some(badTrack)) out.push('invalid_track_id');
      if (s.items.length + c.tracks.length > MAX_ITEMS) out.push('queue_full');
      return out;
    case 'move_item':
      if (c.afterItemId === c.itemId || c.beforeItemId === c.itemId) out.push('invalid_anchor');
      if (!has(s, c.itemId)) out.push('item_not_found');
      anchors(c, s);
      return out;
    case 'remove_items':
      return c.itemIds.every((id) => has(s, id)) ? [] : ['item_not_found'];
    case 'set_current':
      return c.itemId === null || has(s, c.itemId) ? [] : ['item_not_found'];
    case 'next':
    case 'previous':
      return s.items.length === 0 ? ['queue_empty'] : [];
    default:
      return [];
  }
}

function insertionIndex(list: QueueItem[], p: Placement): number {
  if (p.afterItemId !== undefined) return list.findIndex((x) => x.itemId === p.afterItemId) + 1;
  if (p.beforeItemId !== undefined) return list.findIndex((x) => x.itemId === p.beforeItemId);
  if (p.position !== undefined) return Math.min(Math.max(0, p.position), list.length);
  return list.length;
}

function isSubsequence(sub: string[], of: string[]): boolean {
  let j = 0;
  for (const x of of) if (j < sub.length && sub[j] === x) j++;
  return j === sub.length;
}

// ---- one run ----

interface ShuffleSnapshot {
  items: QueueItem[]; // the canonical items when shuffle went on, minus what was removed since
  added: boolean;
}

function runScenario(seed: number, initial: string[], abs: Abs[]): void {
  const base = testContext({ seed, maxItems: MAX_ITEMS, userId: 'prop-user' });
  let generated: string[] = [];
  const ctx = {
    ...base,
    newId: () => {
      const id = base.newId();
      generated.push(id);
      return id;
    },
  };
  let state = initialState(QUEUE_ID);
  const all: QueueEvent[] = [];
  const model = new Map<string, string>(); // itemId -> trackId
  let snapshot: ShuffleSnapshot | null = null;
  const trace: string[] = [];

  const step = (a: Abs) => {
    const pre = state;
    const cmd = concrete(pre, a);
    generated = [];
    let result: { state: QueueState; events: QueueEvent[] };
    const errs = expectedErrors(pre, cmd);
    try {
      result = applyCommand(pre, cmd, ctx);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      trace.push(`${JSON.stringify(cmd)}  -> rejected ${e.code}`);
      assert.ok(errs.includes(e.code), `rejected with ${e.code}, expected ${errs.length ? errs.join('|') : 'success'}`);
      return;
    }
    trace.push(`${JSON.stringify(cmd)}  -> ${result.events.map((e) => e.type).join(', ') || 'no events'}`);
    assert.deepEqual(errs, [], `accepted, but expected one of ${errs.join('|')}`);
    state = result.state;
    all.push(...result.events);
    const post = state;
    const edited = result.events.some((e) => ['item_added', 'item_removed', 'item_moved', 'queue_cleared'].includes(e.type));

    // model of the items: accepted adds minus accepted removes and clears
    const preIds = itemIds(pre);
    let expectedPlay: string[] | null = null;
    switch (cmd.type) {
      case 'create_queue':
      case 'add_tracks': {
        const tracks = cmd.tracks ?? [];
        assert.equal(generated.length, tracks.length);
        for (const [k, t] of tracks.entries()) model.set(generated[k]!, t);
        if (cmd.type === 'add_tracks') {
          const at = insertionIndex([...pre.items], cmd);
          expectedPlay = [...preIds.slice(0, at), ...generated, ...preIds.slice(at)];
          // canonical order: old items keep theirs, new ones are contiguous, in order
          const canon = canonicalIds(post);
          const newCanon = canon.filter((id) => generated.includes(id));
          assert.deepEqual(newCanon, generated);
          const first = canon.indexOf(generated[0]!);
          assert.deepEqual(canon.slice(first, first + generated.length), generated);
          assert.deepEqual(
            canon.filter((id) => !generated.includes(id)),
            canonicalIds(pre),
          );
          if (pre.shuffle && cmd.afterItemId !== undefined) {
            // while shuffled, an add after an item also follows it in the order unshuffle restores
            assert.equal(canon[first - 1], cmd.afterItemId, 'shuffled add must follow its anchor in canonical order');
          }
          if (snapshot) snapshot.added = true;
        }
        break;
      }
      case 'remove_items':
        for (const id of cmd.itemIds) model.delete(id);
        expectedPlay = preIds.filter((id) => !cmd.itemIds.includes(id));
        break;
      case 'clear': {
        const cur = pre.currentItemId === null ? -1 : preIds.indexOf(pre.currentItemId);
        const gone = cmd.upcomingOnly ? preIds.slice(cur + 1) : preIds;
        for (const id of gone) model.delete(id);
        expectedPlay = preIds.filter((id) => !gone.includes(id));
        break;
      }
      case 'move_item': {
        const rest = pre.items.filter((i) => i.itemId !== cmd.itemId);
        const at = insertionIndex(rest, cmd);
        const restIds = rest.map((i) => i.itemId);
        expectedPlay = [...restIds.slice(0, at), cmd.itemId, ...restIds.slice(at)];
        if (pre.shuffle) assert.deepEqual(canonicalIds(post), canonicalIds(pre), 'a shuffled move must not change the canonical order');
        break;
      }
      case 'set_shuffle':
        if (cmd.shuffle && !pre.shuffle) {
          assert.deepEqual(canonicalIds(post), canonicalIds(pre));
          assert.deepEqual([...itemIds(post)].sort(), [...preIds].sort());
          if (pre.currentItemId !== null) assert.equal(post.items.at(0)!.itemId, pre.currentItemId, 'current item leads the shuffle');
          snapshot = { items: structuredClone([...pre.items]), added: false };
        } else if (!cmd.shuffle && pre.shuffle) {
          expectedPlay = canonicalIds(pre);
          if (snapshot) {
            const kept = snapshot.items.map((i) => i.itemId);
            if (!snapshot.added) {
              assert.deepEqual([...post.items], snapshot.items, 'shuffle off must restore the exact pre-shuffle items (no adds in between)');
            } else {
              assert.ok(isSubsequence(kept, itemIds(post)), 'shuffle off must keep the pre-shuffle order of the old items');
              for (const old of snapshot.items)
                assert.deepEqual(
                  post.items.find((i) => i.itemId === old.itemId),
                  old,
                );
            }
          }
          snapshot = null;
        } else {
          expectedPlay = preIds;
        }
        break;
      case 'next': {
        const i = pre.currentItemId === null ? -1 : preIds.indexOf(pre.currentItemId);
        let want: string | null;
        if (cmd.reason === 'track_end' && pre.repeat === 'one' && i >= 0) want = pre.currentItemId;
        else if (i + 1 < preIds.length) want = preIds[i + 1]!;
        else want = pre.repeat !== 'off' ? preIds[0]! : null;
        assert.equal(post.currentItemId, want, 'next');
        if (pre.currentItemId !== null) assert.equal(post.history.at(-1)?.itemId, pre.currentItemId, 'next records history');
        expectedPlay = preIds;
        break;
      }
      case 'previous': {
        const i = pre.currentItemId === null ? -1 : preIds.indexOf(pre.currentItemId);
        const want = i < 0 ? preIds[0] : i === 0 ? (pre.repeat === 'all' ? preIds.at(-1) : preIds[0]) : preIds[i - 1];
        assert.equal(post.currentItemId, want, 'previous');
        assert.deepEqual(post.history, pre.history, 'previous does not record history');
        expectedPlay = preIds;
        break;
      }
      case 'set_current':
        assert.equal(post.currentItemId, cmd.itemId);
        expectedPlay = preIds;
        break;
      default:
        expectedPlay = preIds;
    }
    if (expectedPlay) assert.deepEqual(itemIds(post), expectedPlay, `play order after ${cmd.type}`);
    if (snapshot && (cmd.type === 'remove_items' || cmd.type === 'clear')) {
      const live = new Set(itemIds(post));
      snapshot.items = snapshot.items.filter((i) => live.has(i.itemId));
    }
    if (!edited && cmd.type !== 'set_shuffle' && cmd.type !== 'create_queue')
      assert.deepEqual([...post.items], [...pre.items], `${cmd.type} must not touch the items`);

    checkInvariants(post, all, model);
  };

  try {
    step({ t: 'create', tracks: initial });
    for (const a of abs) step(a);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n--- commands (seed ${seed}) ---\n${trace.join('\n')}`, { cause: e });
  }
}

function checkInvariants(s: QueueState, all: QueueEvent[], model: Map<string, string>): void {
  const ids = itemIds(s);
  assert.equal(new Set(ids).size, ids.length, 'item ids are unique');

  // no lost or duplicated items
  assert.equal(s.items.length, model.size, 'item count matches the model');
  for (const i of s.items) assert.equal(model.get(i.itemId), i.trackId, `item ${i.itemId} matches the model`);

  // order keys
  for (let k = 1; k < s.items.length; k++) {
    const a = s.items.at(k - 1)!;
    const b = s.items.at(k)!;
    assert.ok(activeKey(a, s.shuffle) < activeKey(b, s.shuffle), `active keys strictly increase at ${k}`);
    if (!s.shuffle) assert.ok(a.key < b.key, `keys strictly increase at ${k}`);
  }
  const keys = s.items.map((i) => i.key).sort();
  for (let k = 1; k < keys.length; k++) assert.ok(keys[k - 1]! < keys[k]!, 'canonical keys are distinct');
  for (const i of s.items) {
    if (s.shuffle) assert.ok(i.shuffleKey !== undefined, `${i.itemId} has a shuffleKey while shuffled`);
    else assert.equal(i.shuffleKey, undefined, `${i.itemId} has no shuffleKey while unshuffled`);
    assert.doesNotThrow(() => generateKeyBetween(i.key, null), `valid key ${i.key}`);
    assert.doesNotThrow(() => generateKeyBetween(null, i.key), `valid key ${i.key}`);
    if (i.shuffleKey !== undefined) assert.doesNotThrow(() => generateKeyBetween(i.shuffleKey, null), `valid shuffleKey ${i.shuffleKey}`);
  }

  assert.ok(s.currentItemId === null || ids.includes(s.currentItemId), 'current item exists');
  assert.ok(s.history.length <= HISTORY_LIMIT);
  assert.equal(s.version, all.length, 'version counts the events');
  assert.deepEqual(
    all.map((e) => e.sequenceNumber),
    all.map((_, k) => k + 1),
  );
  assert.deepEqual(plain(foldEvents(initialState(QUEUE_ID), all)), plain(s), 'replaying all events gives the same state');
  // as a store would hand them back: through JSON
  assert.deepEqual(
    foldEvents(initialState(QUEUE_ID), JSON.parse(JSON.stringify(all)) as QueueEvent[]),
    s,
    'replaying JSON round-tripped events gives the same state',
  );
}

describe('queue domain properties', () => {
  it(`random command sequences keep the invariants (${NUM_RUNS} runs, up to ${MAX_COMMANDS} commands)`, () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.array(fc.constantFrom('t1', 't2', 't3', 't4'), { maxLength: 8 }),
        fc.array(absArb, { maxLength: MAX_COMMANDS, size: 'max' }),
        (seed, initial, abs) => runScenario(seed, initial, abs),
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('shuffle on then off with no edits in between restores the exact order', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.array(fc.constantFrom('t1', 't2', 't3'), { maxLength: 20 }),
        fc.array(fc.record({ p: pickArb, n: fc.nat({ max: 25 }) }), { maxLength: 10 }),
        fc.option(pickArb, { nil: null }),
        fc.array(
          fc.constantFrom<QueueCommand>({ type: 'next' }, { type: 'previous' }, { type: 'set_repeat', repeat: 'all' }, { type: 'next', reason: 'track_end' }),
          { maxLength: 5 },
        ),
        (seed, tracks, moves, cur, between) => {
          const ctx = testContext({ seed });
          let s = applyCommand(initialState(QUEUE_ID), { type: 'create_queue', name: 'P', queueType: 'user', tracks }, ctx).state;
          for (const m of moves) if (s.items.length) s = applyCommand(s, { type: 'move_item', itemId: pick(s, m.p), position: m.n }, ctx).state;
          if (cur !== null && s.items.length) s = applyCommand(s, { type: 'set_current', itemId: pick(s, cur) }, ctx).state;
          const before = structuredClone([...s.items]);
          s = applyCommand(s, { type: 'set_shuffle', shuffle: true }, ctx).state;
          for (const c of between) if (s.items.length) s = applyCommand(s, c, ctx).state;
          s = applyCommand(s, { type: 'set_shuffle', shuffle: false }, ctx).state;
          assert.deepEqual([...s.items], before);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
