// The queue aggregate: its events, its state, and the pure fold between them.
// Nothing here does I/O; time and ids arrive inside events.
import { conflict, invalid, notFound } from '../errors.ts';
import { Items } from './items.ts';

export * from '../model/queue.ts';
export { Items } from './items.ts';
import type {
  Collaborator,
  ItemList,
  ItemVote,
  PlayedEntry,
  QueueEvent,
  QueueEventType,
  QueueFold,
  QueueItem,
  QueueMember,
  QueueSettings,
  QueueState,
  QueueType,
  RepeatMode,
} from '../model/queue.ts';

export const HISTORY_LIMIT = 100;
export const GONE_LIMIT = 500;

/** Events after which who may use the queue (and so the member index) may differ. */
export const ACCESS_EVENT_TYPES: ReadonlySet<QueueEventType> = new Set([
  'queue_created',
  'collaborator_joined',
  'collaborator_left',
  'permission_changed',
  'ownership_transferred',
  'visibility_changed',
  'queue_deleted',
]);

export const DEFAULT_SETTINGS: QueueSettings = { fairOrder: false, voteOrder: false };

export function initialState(queueId: string): QueueState {
  return {
    id: queueId,
    type: 'user',
    name: '',
    ownerId: '',
    createdAt: '',
    updatedAt: '',
    version: 0,
    items: Items.EMPTY,
    currentItemId: null,
    shuffle: false,
    repeat: 'off',
    history: [],
    metadata: {},
    deleted: false,
    collaborators: [],
    isPublic: false,
    settings: { ...DEFAULT_SETTINGS },
    goneItemIds: [],
  };
}

/**
 * A state as stored, brought up to the current shape: its items (an array in JSON) as a
 * list, and projections written before collaboration have no collaborators, visibility,
 * settings or removed ids. Returns the same object when nothing is missing.
 */
export function upgradeState(state: QueueState): QueueState {
  const s = state as Partial<QueueState> & QueueState;
  const listed = s.items instanceof Items;
  if (listed && s.collaborators !== undefined && s.isPublic !== undefined && s.settings !== undefined && s.goneItemIds !== undefined) return state;
  return {
    ...state,
    items: listed ? s.items : Items.from((s.items ?? []) as Iterable<QueueItem>),
    collaborators: s.collaborators ?? [],
    isPublic: s.isPublic ?? false,
    settings: { ...DEFAULT_SETTINGS, ...(s.settings ?? {}) },
    goneItemIds: s.goneItemIds ?? [],
  };
}

/** The collaborator entry of a user, or undefined (the owner has none). */
export function collaboratorOf(state: QueueState, userId: string): Collaborator | undefined {
  return state.collaborators.find((c) => c.userId === userId);
}

/** Sum of an item's votes. */
export function scoreOf(item: QueueItem): number {
  let n = 0;
  for (const v of item.votes ?? []) n += v.vote;
  return n;
}

/** Everyone with a role on the queue, owner first: the rows of the member index. */
export function membersOf(state: QueueState): QueueMember[] {
  if (state.version === 0) return [];
  return [{ userId: state.ownerId, role: 'owner' as const }, ...state.collaborators.map((c) => ({ userId: c.userId, role: c.role }))];
}

function remember(gone: string[], ids: string[]): string[] {
  const out = [...gone, ...ids];
  return out.length > GONE_LIMIT ? out.slice(out.length - GONE_LIMIT) : out;
}

export function activeKey(item: QueueItem, shuffle: boolean): string {
  return shuffle && item.shuffleKey !== undefined ? item.shuffleKey : item.key;
}

/** Plain code-unit comparison: fractional-indexing keys are ASCII and ordered that way. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortItems(items: QueueItem[], shuffle: boolean): QueueItem[] {
  return items.sort((a, b) => compareKeys(activeKey(a, shuffle), activeKey(b, shuffle)) || compareKeys(a.itemId, b.itemId));
}

/**
 * The index in `items` (sorted by active key, then item id) of the first item at or after
 * (key, itemId): where an item with that key goes, or where it is. O(log n).
 */
export function lowerBound(items: ItemList, shuffle: boolean, key: string, itemId: string): number {
  return items.partitionPoint((it) => (compareKeys(activeKey(it, shuffle), key) || compareKeys(it.itemId, itemId)) < 0);
}

// Items by id, kept beside each item list so a lookup is O(1) instead of a scan. The
// index of a list is handed over to the list evolve derives from it (and updated there):
// the older list then has none and builds it again only if it is ever asked (rare: the
// service keeps working on the newest state). States stay immutable; only this cache moves.
const indexes = new WeakMap<ItemList, Map<string, QueueItem>>();

/** Items of `items` by id (built once per list, O(n); then carried from state to state). */
export function itemIndex(items: ItemList): Map<string, QueueItem> {
  const known = indexes.get(items);
  if (known !== undefined) return known;
  const m = new Map<string, QueueItem>();
  items.forEach((i) => {
    m.set(i.itemId, i);
  });
  indexes.set(items, m);
  return m;
}

/** Moves the index of `from` to `to` (a changed copy of it) for the caller to update. */
function handOver(from: ItemList, to: ItemList): Map<string, QueueItem> {
  const m = itemIndex(from);
  indexes.delete(from);
  indexes.set(to, m);
  return m;
}

/** The item with this id, or undefined. O(1) once the array's index exists. */
export function findItemById(state: QueueState, itemId: string): QueueItem | undefined {
  return itemIndex(state.items).get(itemId);
}

/** The item, or 409 item_gone when it was in the queue and was removed, or 404 item_not_found. */
export function findItem(state: QueueState, itemId: string): QueueItem {
  const item = findItemById(state, itemId);
  if (item) return item;
  if (state.goneItemIds.includes(itemId)) throw conflict('item_gone', `item ${itemId} was removed from the queue`, { itemId });
  throw notFound('item_not_found', `item ${itemId} is not in the queue`, { itemId });
}

/** The position of an item in the play order, or -1. O(log n). */
export function indexOfItem(state: QueueState, itemId: string | null): number {
  if (itemId === null) return -1;
  const item = itemIndex(state.items).get(itemId);
  if (item === undefined) return -1;
  const i = lowerBound(state.items, state.shuffle, activeKey(item, state.shuffle), item.itemId);
  return state.items.at(i) === item ? i : state.items.indexOf(item);
}

/** `items` with `item` inserted at its place in the order: O(log n) search, one chunk copied. */
function withInserted(items: ItemList, item: QueueItem, shuffle: boolean): ItemList {
  const out = items.inserted(lowerBound(items, shuffle, activeKey(item, shuffle), item.itemId), item);
  handOver(items, out).set(item.itemId, item);
  return out;
}

/** Fold one event into the state. Returns a new state; the input is not mutated. */
export function evolve(state: QueueState, event: QueueEvent): QueueState {
  const s: QueueState = { ...upgradeState(state), version: event.sequenceNumber, updatedAt: event.timestamp };
  switch (event.type) {
    case 'queue_created':
      return { ...s, name: event.data.name, type: event.data.type, ownerId: event.data.ownerId, metadata: event.data.metadata, createdAt: event.timestamp };
    case 'item_added': {
      const item: QueueItem = { itemId: event.data.itemId, trackId: event.data.trackId, addedBy: event.userId, addedAt: event.timestamp, key: event.data.key };
      if (event.data.shuffleKey !== undefined) item.shuffleKey = event.data.shuffleKey;
      if (findItemById(s, item.itemId)) return s; // an id is added once; a second add changes nothing
      return { ...s, items: withInserted(s.items, item, s.shuffle) };
    }
    case 'item_removed': {
      const at = indexOfItem(s, event.data.itemId);
      let items = s.items;
      if (at >= 0) {
        items = s.items.removed(at);
        handOver(s.items, items).delete(event.data.itemId);
      }
      return {
        ...s,
        items,
        currentItemId: s.currentItemId === event.data.itemId ? null : s.currentItemId,
        goneItemIds: remember(s.goneItemIds, [event.data.itemId]),
      };
    }
    case 'item_moved': {
      const at = indexOfItem(s, event.data.itemId);
      if (at < 0) return s;
      const moved = { ...s.items.at(at)! };
      if (event.data.key !== undefined) moved.key = event.data.key;
      if (event.data.shuffleKey !== undefined) moved.shuffleKey = event.data.shuffleKey;
      const rest = s.items.removed(at);
      const items = rest.inserted(lowerBound(rest, s.shuffle, activeKey(moved, s.shuffle), moved.itemId), moved);
      handOver(s.items, items).set(moved.itemId, moved);
      return { ...s, items };
    }
    case 'queue_cleared': {
      const gone = new Set(event.data.itemIds);
      return {
        ...s,
        items: Items.from(s.items.filter((i) => !gone.has(i.itemId))),
        currentItemId: s.currentItemId !== null && gone.has(s.currentItemId) ? null : s.currentItemId,
        goneItemIds: remember(s.goneItemIds, event.data.itemIds),
      };
    }
    case 'shuffle_changed': {
      const keys = event.data.shuffleKeys ?? {};
      const items = s.items.map((i) => {
        const { shuffleKey: _drop, ...rest } = i;
        return event.data.shuffle && keys[i.itemId] !== undefined ? { ...rest, shuffleKey: keys[i.itemId] } : rest;
      });
      return { ...s, shuffle: event.data.shuffle, items: Items.from(sortItems(items, event.data.shuffle)) };
    }
    case 'repeat_changed':
      return { ...s, repeat: event.data.repeat };
    case 'current_item_changed': {
      let history = s.history;
      const prev = event.data.previousItemId !== null ? findItemById(s, event.data.previousItemId) : undefined;
      if (prev && event.data.reason !== 'previous') {
        history = [...history, { itemId: prev.itemId, trackId: prev.trackId, playedAt: event.timestamp }].slice(-HISTORY_LIMIT);
      }
      return { ...s, currentItemId: event.data.itemId, history };
    }
    case 'queue_updated':
      return {
        ...s,
        name: event.data.name ?? s.name,
        metadata: event.data.metadata !== undefined ? event.data.metadata : s.metadata,
      };
    case 'queue_deleted':
      return { ...s, deleted: true };
    case 'collaborator_joined': {
      const { userId, role, via } = event.data;
      const rest = s.collaborators.filter((c) => c.userId !== userId);
      return { ...s, collaborators: [...rest, { userId, role, via, joinedAt: event.timestamp }] };
    }
    case 'collaborator_left':
      return { ...s, collaborators: s.collaborators.filter((c) => c.userId !== event.data.userId) };
    case 'permission_changed':
      return { ...s, collaborators: s.collaborators.map((c) => (c.userId === event.data.userId ? { ...c, role: event.data.role } : c)) };
    case 'ownership_transferred': {
      // The new owner leaves the collaborator list; the previous owner stays on as an admin.
      const { fromUserId, toUserId } = event.data;
      const rest = s.collaborators.filter((c) => c.userId !== toUserId && c.userId !== fromUserId);
      return { ...s, ownerId: toUserId, collaborators: [...rest, { userId: fromUserId, role: 'admin', via: 'transfer', joinedAt: event.timestamp }] };
    }
    case 'visibility_changed':
      return { ...s, isPublic: event.data.isPublic };
    case 'queue_settings_changed':
      return {
        ...s,
        settings: {
          fairOrder: event.data.fairOrder ?? s.settings.fairOrder,
          voteOrder: event.data.voteOrder ?? s.settings.voteOrder,
        },
      };
    case 'item_voted': {
      const { itemId, userId, vote } = event.data;
      const at = indexOfItem(s, itemId);
      if (at < 0) return s;
      const i = s.items.at(at)!;
      const others = (i.votes ?? []).filter((v) => v.userId !== userId);
      const votes = vote === 0 ? others : [...others, { userId, vote }];
      const { votes: _old, ...rest } = i;
      const voted: QueueItem = votes.length > 0 ? { ...rest, votes } : rest;
      const items = s.items.replaced(at, voted);
      handOver(s.items, items).set(itemId, voted);
      return { ...s, items };
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

export function foldEvents(state: QueueState, events: QueueEvent[]): QueueState {
  return events.reduce(evolve, state);
}

/** The fold the storage adapters run in their transactions (wired in src/stores.ts). */
export const queueFold: QueueFold = {
  evolve,
  upgrade: upgradeState,
  members: membersOf,
  touchesAccess: (type) => ACCESS_EVENT_TYPES.has(type),
};

/** Items a window holds when the client asks for no size, and at most. */
export const DEFAULT_WINDOW = 200;
export const MAX_WINDOW = 1000;

/**
 * Which items of the play order a read or an answer carries ([QW1]-[QW4] in docs/SPEC.md).
 * At most one of offset / after / around / cursor; none: the first `limit` items.
 */
export interface WindowQuery {
  limit?: number;
  offset?: number;
  /** Start after this item. */
  after?: string;
  /** Centre the window on the current item. */
  around?: 'current';
  /** Start where the previous window's nextCursor points. */
  cursor?: string;
}

export interface QueueWindow {
  /** Index in the play order of the first item of the window. */
  offset: number;
  limit: number;
  /** Pass as `cursor` for the items after this window; null when it reaches the end. */
  nextCursor: string | null;
}

/**
 * A cursor names the last item a window held and where it stood in the order (its active
 * key), so the next window starts right after it even if items were added or removed
 * before it meanwhile, or it was removed itself. A shuffle switch makes it stale.
 */
export function encodeWindowCursor(item: QueueItem, shuffle: boolean): string {
  // btoa/atob, not Buffer: this module is also the client SDK's fold and runs in browsers.
  // The content is ASCII (keys and item ids are), so the Latin-1 of btoa is exact.
  return btoa(JSON.stringify([shuffle ? 1 : 0, activeKey(item, shuffle), item.itemId]))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

function decodeWindowCursor(cursor: string): [0 | 1, string, string] | null {
  try {
    if (!/^[A-Za-z0-9_-]{1,600}$/.test(cursor)) return null;
    const v = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
    if (
      Array.isArray(v) &&
      v.length === 3 &&
      (v[0] === 0 || v[0] === 1) &&
      typeof v[1] === 'string' &&
      typeof v[2] === 'string' &&
      v[1].length <= 256 &&
      v[2].length <= 128
    )
      return v as [0 | 1, string, string];
  } catch {
    /* not ours */
  }
  return null;
}

/** Resolves a window query against a state: the index of its first item and its size. */
export function resolveWindow(state: QueueState, q: WindowQuery = {}): { start: number; limit: number } {
  const limit = Math.max(0, Math.min(q.limit ?? DEFAULT_WINDOW, MAX_WINDOW));
  const n = state.items.length;
  if (q.cursor !== undefined) {
    const c = decodeWindowCursor(q.cursor);
    if (c === null) throw invalid('invalid_cursor', 'cursor is not one this service gave out', { cursor: q.cursor });
    if ((c[0] === 1) !== state.shuffle)
      throw conflict('cursor_stale', 'shuffle was switched since this cursor was given out: read from the start again', { cursor: q.cursor });
    const at = lowerBound(state.items, state.shuffle, c[1], c[2]);
    // The named item itself, still at the cursor's place, was in the previous window. Moved
    // since to a later place (it can be the first item at or after the cursor's place when
    // nothing is left in between), it is in this page, where it is now.
    const it = state.items.at(at);
    return { start: it !== undefined && it.itemId === c[2] && activeKey(it, state.shuffle) === c[1] ? at + 1 : at, limit };
  }
  if (q.after !== undefined) {
    return { start: indexOfItem(state, findItem(state, q.after).itemId) + 1, limit };
  }
  if (q.around === 'current') {
    const cur = indexOfItem(state, state.currentItemId);
    if (cur < 0) return { start: 0, limit };
    // The current item in the middle; a window that would pass the end is shifted back.
    return { start: Math.max(0, Math.min(cur - Math.floor((limit - 1) / 2), n - limit)), limit };
  }
  return { start: Math.min(Math.max(0, q.offset ?? 0), n), limit };
}

/** The public shape of a queue: order keys stay internal. */
export interface QueueView {
  id: string;
  name: string;
  type: QueueType;
  ownerId: string;
  version: number;
  /** All items of the queue; `items` holds only the window. */
  itemCount: number;
  /** A window of the play order (the first DEFAULT_WINDOW items unless asked otherwise). */
  items: { itemId: string; trackId: string; addedBy: string; addedAt: string }[];
  window: QueueWindow;
  currentItemId: string | null;
  currentIndex: number | null;
  shuffle: boolean;
  repeat: RepeatMode;
  history: PlayedEntry[];
  metadata: Record<string, unknown>;
  isPublic: boolean;
  settings: QueueSettings;
  collaborators: Collaborator[];
  /** The items of the window that have votes, in play order, with their score. */
  votes: { itemId: string; score: number; votes: ItemVote[] }[];
  createdAt: string;
  updatedAt: string;
}

/** The queue's header and one window of its items: O(window), not O(queue). */
export function toView(state: QueueState, window: WindowQuery = {}): QueueView {
  const s = upgradeState(state);
  const { start, limit } = resolveWindow(s, window);
  const slice = s.items.slice(start, start + limit);
  const idx = indexOfItem(s, s.currentItemId);
  const last = slice[slice.length - 1];
  return {
    id: s.id,
    name: s.name,
    type: s.type,
    ownerId: s.ownerId,
    version: s.version,
    itemCount: s.items.length,
    items: slice.map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy, addedAt: i.addedAt })),
    window: { offset: start, limit, nextCursor: last !== undefined && start + slice.length < s.items.length ? encodeWindowCursor(last, s.shuffle) : null },
    currentItemId: s.currentItemId,
    currentIndex: idx < 0 ? null : idx,
    shuffle: s.shuffle,
    repeat: s.repeat,
    history: s.history,
    metadata: s.metadata,
    isPublic: s.isPublic,
    settings: s.settings,
    collaborators: s.collaborators,
    votes: slice.filter((i) => i.votes?.length).map((i) => ({ itemId: i.itemId, score: scoreOf(i), votes: i.votes! })),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/** The order keys of the items of a view's window, for clients that place later events themselves [CO13]. */
export function windowKeys(state: QueueState, view: QueueView): Record<string, { key: string; shuffleKey?: string }> {
  const out: Record<string, { key: string; shuffleKey?: string }> = {};
  const index = itemIndex(state.items);
  for (const v of view.items) {
    const i = index.get(v.itemId);
    if (i) out[i.itemId] = i.shuffleKey === undefined ? { key: i.key } : { key: i.key, shuffleKey: i.shuffleKey };
  }
  return out;
}
