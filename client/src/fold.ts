// The mirror's fold: the server's own `evolve` (src/queues/queue.ts), applied to the part
// of a queue a client holds. A mirror holds the header and one contiguous range of the
// play order: the items whose places lie between `lo` and `hi` (null: from the start / to
// the end), `offset` of them before it. A prefix (the first window, extended by loadMore)
// has `lo` null; a window centred on the current item has both. An event about an item
// outside the range changes the count (and `offset` when it is before the range); an event
// it cannot apply without what it does not hold asks for a resync.
import {
  activeKey,
  encodeWindowCursor,
  evolve,
  findItemById,
  indexOfItem,
  initialState,
  Items,
  upgradeState,
  type QueueEvent,
  type QueueItem,
  type QueueState,
  type QueueView,
} from '../../src/queues/queue.ts';

/** A place in the play order: an item's active order key and its id. */
export interface Bound {
  key: string;
  itemId: string;
}

export type ItemKeys = Record<string, { key: string; shuffleKey?: string }>;

/** What a mirror holds of a queue. */
export interface Held {
  state: QueueState;
  /** Items in the whole queue. */
  count: number;
  /** The last place held; null when the items are held to the end of the queue. */
  hi: Bound | null;
  /** The first place held; null when the items are held from the start of the queue. */
  lo: Bound | null;
  /** Items of the queue before `lo`: the index in the play order of the first item held. */
  offset: number;
  /**
   * Active order keys of items the mirror does not hold, learned from events (an add or a
   * move outside the range): a later removal or move of such an item is placed with it.
   * Not stored (the fold runs without it after a restart).
   */
  known?: ReadonlyMap<string, string>;
}

/** At most this many keys of items not held are remembered. */
const KNOWN_LIMIT = 2000;
const NO_KEYS: ReadonlyMap<string, string> = new Map();

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

type Side = 'before' | 'in' | 'after';

/** Where a place is relative to what `h` holds. */
export function sideOf(h: Held, key: string, itemId: string): Side {
  if (h.lo !== null && (cmp(key, h.lo.key) || cmp(itemId, h.lo.itemId)) < 0) return 'before';
  if (h.hi !== null && (cmp(key, h.hi.key) || cmp(itemId, h.hi.itemId)) > 0) return 'after';
  return 'in';
}

export function inRange(h: Held, key: string, itemId: string): boolean {
  return sideOf(h, key, itemId) === 'in';
}

/** A stored or older Held in the current shape (fields added with windows that do not start at 0). */
export function normalizeHeld(h: Held): Held {
  const lo = h.lo ?? null;
  const offset = typeof h.offset === 'number' ? h.offset : 0;
  // From storage the items are an array (JSON): upgradeState makes them a list again.
  return { state: upgradeState(h.state), count: h.count, hi: h.hi ?? null, lo: offset === 0 ? null : lo, offset, known: NO_KEYS };
}

const boundOf = (item: QueueItem, shuffle: boolean): Bound => ({ key: activeKey(item, shuffle), itemId: item.itemId });

/**
 * A queue read (socket snapshot or GET with keys) as held state: the header and its window,
 * which starts at `window.offset`.
 */
export function heldFromView(view: QueueView, keys: ItemKeys): Held {
  const votes = new Map(view.votes.map((v) => [v.itemId, v.votes]));
  const items: QueueItem[] = view.items.map((i) => {
    const k = keys[i.itemId];
    if (!k) throw new Error(`the window has no order key for item ${i.itemId}`);
    const item: QueueItem = { itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy, addedAt: i.addedAt, key: k.key };
    if (k.shuffleKey !== undefined) item.shuffleKey = k.shuffleKey;
    const v = votes.get(i.itemId);
    if (v?.length) item.votes = v.map((x) => ({ userId: x.userId, vote: x.vote as 1 | -1 }));
    return item;
  });
  const state: QueueState = {
    ...initialState(view.id),
    type: view.type,
    name: view.name,
    ownerId: view.ownerId,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    version: view.version,
    items: Items.from(items),
    currentItemId: view.currentItemId,
    shuffle: view.shuffle,
    repeat: view.repeat,
    history: view.history,
    metadata: view.metadata,
    collaborators: view.collaborators,
    isPublic: view.isPublic,
    settings: view.settings,
  };
  const first = items[0];
  const last = items[items.length - 1];
  const offset = view.window?.offset ?? 0;
  const hi = view.window.nextCursor === null ? null : last ? boundOf(last, state.shuffle) : { key: '', itemId: '' };
  // A window past the end holds nothing: its place is after every item (keys are base-62 ASCII; DEL sorts after them).
  const lo = offset === 0 ? null : first ? boundOf(first, state.shuffle) : { key: '\x7f', itemId: '' };
  return { state, count: view.itemCount, hi, lo, offset, known: NO_KEYS };
}

function forget(known: ReadonlyMap<string, string> | undefined, ids: Iterable<string>): ReadonlyMap<string, string> {
  const k = known ?? NO_KEYS;
  let out: Map<string, string> | null = null;
  for (const id of ids) {
    if (!k.has(id)) continue;
    out ??= new Map(k);
    out.delete(id);
  }
  return out ?? k;
}

function learn(known: ReadonlyMap<string, string> | undefined, id: string, key: string): ReadonlyMap<string, string> {
  const out = new Map(known ?? NO_KEYS);
  out.delete(id);
  out.set(id, key);
  if (out.size > KNOWN_LIMIT) out.delete(out.keys().next().value!);
  return out;
}

/** Appends a page read at the held state's version (the items after `hi`). */
export function withPage(h: Held, view: QueueView, keys: ItemKeys): Held {
  const page = heldFromView(view, keys);
  const have = new Set(h.state.items.map((i) => i.itemId));
  const added = page.state.items.filter((i) => !have.has(i.itemId));
  const items = Items.from(h.state.items.slice().concat(added));
  return norm({
    ...h,
    state: { ...h.state, items },
    count: view.itemCount,
    hi: page.hi ?? null,
    known: forget(
      h.known,
      added.map((i) => i.itemId),
    ),
  });
}

/**
 * Prepends a page read at the held state's version that should end right before the first
 * place held (a read by offset, one item longer than the gap, so it reaches into the range).
 * 'short': the page does not reach the held range (items were added before it since the
 * offset was computed), read again; 'offset': it does, but the mirror's offset disagrees
 * with the server's (the held range must be read again).
 */
export function withPageBefore(h: Held, view: QueueView, keys: ItemKeys): Held | 'short' | 'offset' {
  if (h.lo === null) return 'short';
  const page = heldFromView(view, keys);
  const shuffle = h.state.shuffle;
  const before = page.state.items.filter((i) => sideOf(h, activeKey(i, shuffle), i.itemId) === 'before');
  // The items before `lo` in a contiguous page are its first ones; the page ends right before
  // the held range when it holds a place at or after `lo` too, or reaches the end of the queue.
  const reached = before.length < page.state.items.length || view.window.offset + view.items.length >= view.itemCount;
  if (!reached || view.window.offset >= h.offset) return 'short';
  if (view.window.offset + before.length !== h.offset) return 'offset';
  const items = Items.from(before.concat(h.state.items.slice()));
  const first = before[0];
  const lo = view.window.offset === 0 || !first ? null : boundOf(first, shuffle);
  return norm({
    ...h,
    state: { ...h.state, items },
    count: view.itemCount,
    lo,
    offset: view.window.offset,
    known: forget(
      h.known,
      before.map((i) => i.itemId),
    ),
  });
}

/**
 * The cursor that reads the items after what `h` holds: after the place `hi`, whatever item
 * is there now. The server starts a page at the first item at or after a cursor's place and
 * skips that item when it has the cursor's item id (the last item of the window it gave the
 * cursor for). The item held last may have moved past `hi` since (the fold then dropped it
 * from the range); with nothing left between its old place and its new one, the server would
 * find it there and skip it, and the mirror would never hold it. So the cursor names the
 * place right after `hi`: its item id with a NUL appended. No item id sorts between the two,
 * and none has a NUL (the server's ids are UUIDs), so the page starts at the first item
 * after `hi`.
 */
export function cursorAfter(h: Held): string | null {
  if (h.hi === null) return null;
  return cursorAt(h.hi.key, `${h.hi.itemId}\0`, h.state.shuffle);
}

/** The cursor that reads from the first place held (the first item at or after `lo`). */
export function cursorFrom(h: Held): string | null {
  if (h.lo === null) return null;
  return cursorAt(h.lo.key, '', h.state.shuffle); // no item id sorts before '': the window starts at the first item of that key
}

function cursorAt(key: string, itemId: string, shuffle: boolean): string {
  const pseudo: QueueItem = { itemId, trackId: '', addedBy: '', addedAt: '', key, shuffleKey: key };
  return encodeWindowCursor(pseudo, shuffle);
}

/** A range that reaches the start or the end of the queue says so (null bounds). */
function norm(h: Held): Held {
  let out = h;
  if (out.lo !== null && out.offset === 0) out = { ...out, lo: null };
  if (out.hi !== null && out.offset + out.state.items.length === out.count) out = { ...out, hi: null };
  return out;
}

/**
 * How many of `unknown` items not held, removed from places the mirror cannot tell, were
 * before the range, when the counts leave one answer (e.g. nothing is before it, or nothing
 * after it); null when they do not. `offset` and `loaded` are before the removal, `count` after.
 */
function removedBefore(offset: number, unknown: number, loaded: number, count: number): number | null {
  const after = count - loaded - offset; // items after the range if all unknown ones were before it: +x otherwise
  const min = Math.max(0, -after);
  const max = Math.min(unknown, offset);
  return min === max ? min : null;
}

/**
 * Folds one event (the next in sequence) into what is held. `resync` is true when the
 * held items (or where they start) can no longer be trusted (shuffle switched on a partial
 * mirror, an item the mirror does not hold moved into its range, history needs an item it
 * does not hold, an item removed from a place it cannot tell): the header and count are
 * still right, the items must be read again.
 */
export function foldHeld(h: Held, e: QueueEvent): { held: Held; resync: boolean } {
  const r = step(h, e);
  return { held: norm(r.held), resync: r.resync };
}

function step(h: Held, e: QueueEvent): { held: Held; resync: boolean } {
  const s = h.state;
  const bump = (): QueueState => ({ ...s, version: e.sequenceNumber, updatedAt: e.timestamp });
  const complete = h.hi === null && h.lo === null;
  switch (e.type) {
    case 'item_added': {
      if (findItemById(s, e.data.itemId)) return { held: { ...h, state: bump() }, resync: false };
      const key = s.shuffle && e.data.shuffleKey !== undefined ? e.data.shuffleKey : e.data.key;
      const side = sideOf(h, key, e.data.itemId);
      if (side === 'in') return { held: { ...h, state: evolve(s, e), count: h.count + 1 }, resync: false };
      const known = learn(h.known, e.data.itemId, key);
      return { held: { ...h, state: bump(), count: h.count + 1, offset: h.offset + (side === 'before' ? 1 : 0), known }, resync: false };
    }
    case 'item_removed':
    case 'queue_cleared': {
      const ids = e.type === 'item_removed' ? [e.data.itemId] : e.data.itemIds;
      const count = h.count - ids.length;
      let before = 0;
      let unknown = 0;
      for (const id of ids) {
        if (findItemById(s, id)) continue;
        const key = h.known?.get(id);
        if (key === undefined) unknown++;
        else if (sideOf(h, key, id) === 'before') before++;
      }
      const state = evolve(s, e);
      const known = forget(h.known, ids);
      const x = unknown === 0 ? 0 : removedBefore(h.offset - before, unknown, state.items.length, count);
      if (x === null) return { held: { ...h, state, count, offset: h.offset - before, known }, resync: true };
      return { held: { ...h, state, count, offset: h.offset - before - x, known }, resync: false };
    }
    case 'item_moved': {
      if (complete) return { held: { ...h, state: evolve(s, e) }, resync: false };
      const item = findItemById(s, e.data.itemId);
      if (item) {
        let state = evolve(s, e);
        const moved = findItemById(state, e.data.itemId)!;
        const key = activeKey(moved, state.shuffle);
        const side = sideOf(h, key, moved.itemId);
        if (side === 'in') return { held: { ...h, state }, resync: false };
        state = { ...state, items: state.items.removed(indexOfItem(state, moved.itemId)) };
        return { held: { ...h, state, offset: h.offset + (side === 'before' ? 1 : 0), known: learn(h.known, moved.itemId, key) }, resync: false };
      }
      const key = s.shuffle ? e.data.shuffleKey : e.data.key;
      if (key === undefined) return { held: { ...h, state: bump() }, resync: true };
      const to = sideOf(h, key, e.data.itemId);
      const knownKey = h.known?.get(e.data.itemId);
      const known = learn(h.known, e.data.itemId, key);
      if (to === 'in')
        return {
          held: { ...h, state: bump(), offset: h.offset - (knownKey !== undefined && sideOf(h, knownKey, e.data.itemId) === 'before' ? 1 : 0), known },
          resync: true,
        };
      let from: Side | null = knownKey !== undefined ? sideOf(h, knownKey, e.data.itemId) : null;
      if (from === null) {
        // Where it came from: the counts may leave one answer.
        const after = h.count - s.items.length - h.offset;
        if (h.offset === 0) from = 'after';
        else if (after === 0) from = 'before';
      }
      if (from === null) return { held: { ...h, state: bump(), known }, resync: true };
      const offset = h.offset + (to === 'before' ? 1 : 0) - (from === 'before' ? 1 : 0);
      return { held: { ...h, state: bump(), offset, known }, resync: false };
    }
    case 'shuffle_changed':
      // Every order key of the active order changes: what was learned of places is void.
      return { held: { ...h, state: evolve(s, e), known: NO_KEYS }, resync: !complete };
    case 'current_item_changed': {
      const prev = e.data.previousItemId;
      const missing = !complete && prev !== null && e.data.reason !== 'previous' && !findItemById(s, prev);
      return { held: { ...h, state: evolve(s, e) }, resync: missing };
    }
    default:
      return { held: { ...h, state: evolve(s, e) }, resync: false };
  }
}

/** The index of the current item in the whole play order, when the mirror holds it. */
export function currentIndexOf(h: Held): number | null {
  const i = indexOfItem(h.state, h.state.currentItemId);
  return i < 0 ? null : h.offset + i;
}
