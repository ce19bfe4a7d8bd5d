// The mirror's fold: the server's own `evolve` (src/queues/queue.ts), applied to the part
// of a queue a client holds. A mirror holds the header and a prefix of the play order
// (the first window, extended by loadMore); `hi` is the last place it holds (null: to the
// end, then this is exactly evolve). An event about an item beyond `hi` only changes the
// count; an event it cannot apply without the items it does not hold asks for a resync.
import {
  activeKey,
  encodeWindowCursor,
  evolve,
  findItemById,
  indexOfItem,
  initialState,
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
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function inRange(h: Held, key: string, itemId: string): boolean {
  return h.hi === null || (cmp(key, h.hi.key) || cmp(itemId, h.hi.itemId)) <= 0;
}

/** A queue read (socket snapshot or GET with keys) as held state: the header and its window from offset 0. */
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
    type: view.type, name: view.name, ownerId: view.ownerId, createdAt: view.createdAt, updatedAt: view.updatedAt,
    version: view.version, items, currentItemId: view.currentItemId, shuffle: view.shuffle, repeat: view.repeat,
    history: view.history, metadata: view.metadata, collaborators: view.collaborators, isPublic: view.isPublic,
    settings: view.settings,
  };
  const last = items[items.length - 1];
  const hi = view.window.nextCursor === null ? null : last ? { key: activeKey(last, state.shuffle), itemId: last.itemId } : { key: '', itemId: '' };
  return { state, count: view.itemCount, hi };
}

/** Appends a page read at the held state's version (the items after `hi`). */
export function withPage(h: Held, view: QueueView, keys: ItemKeys): Held {
  const page = heldFromView(view, keys);
  const have = new Set(h.state.items.map((i) => i.itemId));
  const items = [...h.state.items, ...page.state.items.filter((i) => !have.has(i.itemId))];
  return { state: { ...h.state, items }, count: view.itemCount, hi: page.hi ?? null };
}

/** The cursor that reads the items after what `h` holds. */
export function cursorAfter(h: Held): string | null {
  if (h.hi === null) return null;
  const pseudo: QueueItem = { itemId: h.hi.itemId, trackId: '', addedBy: '', addedAt: '', key: h.hi.key, shuffleKey: h.hi.key };
  return encodeWindowCursor(pseudo, h.state.shuffle);
}

/**
 * Folds one event (the next in sequence) into what is held. `resync` is true when the
 * held items can no longer be trusted (shuffle switched on a partial mirror, an item
 * the mirror does not hold moved into its range, history needs an item it does not hold):
 * the header and count are still right, the items must be read again.
 */
export function foldHeld(h: Held, e: QueueEvent): { held: Held; resync: boolean } {
  const s = h.state;
  const bump = (): QueueState => ({ ...s, version: e.sequenceNumber, updatedAt: e.timestamp });
  const complete = h.hi === null;
  switch (e.type) {
    case 'item_added': {
      if (findItemById(s, e.data.itemId)) return { held: { ...h, state: bump() }, resync: false };
      const key = s.shuffle && e.data.shuffleKey !== undefined ? e.data.shuffleKey : e.data.key;
      const state = inRange(h, key, e.data.itemId) ? evolve(s, e) : bump();
      return { held: { ...h, state, count: h.count + 1 }, resync: false };
    }
    case 'item_removed':
      return { held: { ...h, state: evolve(s, e), count: h.count - 1 }, resync: false };
    case 'queue_cleared':
      return { held: { ...h, state: evolve(s, e), count: h.count - e.data.itemIds.length }, resync: false };
    case 'item_moved': {
      if (complete) return { held: { ...h, state: evolve(s, e) }, resync: false };
      const item = findItemById(s, e.data.itemId);
      if (item) {
        let state = evolve(s, e);
        const moved = findItemById(state, e.data.itemId)!;
        if (!inRange(h, activeKey(moved, state.shuffle), moved.itemId)) state = { ...state, items: state.items.filter((i) => i.itemId !== moved.itemId) };
        return { held: { ...h, state }, resync: false };
      }
      const key = s.shuffle ? e.data.shuffleKey : e.data.key;
      if (key !== undefined && inRange(h, key, e.data.itemId)) return { held: { ...h, state: bump() }, resync: true };
      return { held: { ...h, state: bump() }, resync: false };
    }
    case 'shuffle_changed':
      return { held: { ...h, state: evolve(s, e) }, resync: !complete };
    case 'current_item_changed': {
      const prev = e.data.previousItemId;
      const missing = !complete && prev !== null && e.data.reason !== 'previous' && !findItemById(s, prev);
      return { held: { ...h, state: evolve(s, e) }, resync: missing };
    }
    default:
      return { held: { ...h, state: evolve(s, e) }, resync: false };
  }
}

/** The index of the current item in the whole play order, when the mirror can tell. */
export function currentIndexOf(h: Held): number | null {
  const i = indexOfItem(h.state, h.state.currentItemId);
  return i < 0 ? null : i; // a held prefix: its indexes are the queue's
}
