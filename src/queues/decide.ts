// Commands on a queue and the pure decider that turns one into events.
// Ids, time and randomness come in through DecideContext so the domain stays pure.
import { generateNKeysBetween } from 'fractional-indexing';
import { AppError, conflict, invalid, notFound } from '../errors.ts';
import {
  activeKey,
  type QueueEventBody,
  type QueueItem,
  type QueueState,
  type QueueType,
  type RepeatMode,
} from './queue.ts';

/** Where to put items: `afterItemId` / `beforeItemId` anchor on an item; `position` is an index in the play order. */
export interface Placement {
  position?: number;
  afterItemId?: string;
  beforeItemId?: string;
}

export type QueueCommand =
  | { type: 'create_queue'; name: string; queueType: QueueType; metadata?: Record<string, unknown>; tracks?: string[] }
  | ({ type: 'add_tracks'; tracks: string[] } & Placement)
  | { type: 'remove_items'; itemIds: string[] }
  | ({ type: 'move_item'; itemId: string } & Placement)
  | { type: 'clear'; upcomingOnly?: boolean }
  | { type: 'set_shuffle'; shuffle: boolean }
  | { type: 'set_repeat'; repeat: RepeatMode }
  | { type: 'set_current'; itemId: string | null }
  | { type: 'next'; reason?: 'user' | 'track_end' }
  | { type: 'previous' }
  | { type: 'update_queue'; name?: string; metadata?: Record<string, unknown> }
  | { type: 'delete_queue' };

export interface DecideContext {
  userId: string;
  newId: () => string;
  random: () => number;
  maxItems: number;
}

export const MAX_TRACK_ID_LENGTH = 128;

export function decide(state: QueueState, cmd: QueueCommand, ctx: DecideContext): QueueEventBody[] {
  if (cmd.type === 'create_queue') {
    if (state.version !== 0) throw conflict('queue_exists', 'a queue with this id already exists');
    const created: QueueEventBody = {
      type: 'queue_created',
      data: { name: cmd.name, type: cmd.queueType, ownerId: ctx.userId, metadata: cmd.metadata ?? {} },
    };
    const adds = cmd.tracks?.length ? addTracks({ ...state, items: [] }, { tracks: cmd.tracks }, ctx) : [];
    return [created, ...adds];
  }
  if (state.version === 0 || state.deleted) throw notFound('queue_not_found', 'queue not found');
  switch (cmd.type) {
    case 'add_tracks':
      return addTracks(state, cmd, ctx);
    case 'remove_items': {
      const ids = [...new Set(cmd.itemIds)];
      for (const id of ids) findItem(state, id);
      return ids.map((itemId) => ({ type: 'item_removed', data: { itemId } }));
    }
    case 'move_item':
      return moveItem(state, cmd);
    case 'clear': {
      const cur = currentIndex(state);
      const gone = cmd.upcomingOnly ? state.items.slice(cur + 1) : state.items;
      return gone.length ? [{ type: 'queue_cleared', data: { itemIds: gone.map((i) => i.itemId) } }] : [];
    }
    case 'set_shuffle':
      return setShuffle(state, cmd.shuffle, ctx);
    case 'set_repeat':
      return state.repeat === cmd.repeat ? [] : [{ type: 'repeat_changed', data: { repeat: cmd.repeat } }];
    case 'set_current': {
      if (cmd.itemId !== null) findItem(state, cmd.itemId);
      if (cmd.itemId === state.currentItemId) return [];
      return [current(state, cmd.itemId, 'set')];
    }
    case 'next':
      return next(state, cmd.reason ?? 'user');
    case 'previous':
      return previous(state);
    case 'update_queue': {
      if (cmd.name === undefined && cmd.metadata === undefined) return [];
      const data: { name?: string; metadata?: Record<string, unknown> } = {};
      if (cmd.name !== undefined) data.name = cmd.name;
      if (cmd.metadata !== undefined) data.metadata = cmd.metadata;
      return [{ type: 'queue_updated', data }];
    }
    case 'delete_queue':
      return [{ type: 'queue_deleted', data: {} }];
    default: {
      const _exhaustive: never = cmd;
      throw invalid('unknown_command', `unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

function findItem(state: QueueState, itemId: string): QueueItem {
  const item = state.items.find((i) => i.itemId === itemId);
  if (!item) throw notFound('item_not_found', `item ${itemId} is not in the queue`, { itemId });
  return item;
}

function currentIndex(state: QueueState): number {
  return state.currentItemId === null ? -1 : state.items.findIndex((i) => i.itemId === state.currentItemId);
}

function current(state: QueueState, itemId: string | null, reason: 'set' | 'next' | 'previous' | 'repeat' | 'end_of_queue'): QueueEventBody {
  return { type: 'current_item_changed', data: { itemId, previousItemId: state.currentItemId, reason } };
}

/**
 * The index in `list` (sorted by `keyOf`) before which new items go.
 * Anchors must name items of the queue; `position` past the end appends.
 */
function insertionIndex(list: QueueItem[], p: Placement, what: string): number {
  if (p.afterItemId !== undefined) {
    const i = list.findIndex((x) => x.itemId === p.afterItemId);
    if (i < 0) throw conflict('anchor_not_found', `cannot ${what}: afterItemId ${p.afterItemId} is not in the queue`, { afterItemId: p.afterItemId });
    return i + 1;
  }
  if (p.beforeItemId !== undefined) {
    const i = list.findIndex((x) => x.itemId === p.beforeItemId);
    if (i < 0) throw conflict('anchor_not_found', `cannot ${what}: beforeItemId ${p.beforeItemId} is not in the queue`, { beforeItemId: p.beforeItemId });
    return i;
  }
  if (p.position !== undefined) return Math.min(Math.max(0, p.position), list.length);
  return list.length;
}

function keysAt(list: QueueItem[], index: number, n: number, keyOf: (i: QueueItem) => string): string[] {
  const before = index > 0 ? keyOf(list[index - 1]!) : null;
  const after = index < list.length ? keyOf(list[index]!) : null;
  return generateNKeysBetween(before, after, n);
}

function checkPlacement(p: Placement): void {
  const given = [p.position, p.afterItemId, p.beforeItemId].filter((x) => x !== undefined).length;
  if (given > 1) throw invalid('ambiguous_placement', 'give at most one of position, afterItemId, beforeItemId');
}

function addTracks(state: QueueState, cmd: { tracks: string[] } & Placement, ctx: DecideContext): QueueEventBody[] {
  checkPlacement(cmd);
  if (cmd.tracks.length === 0) return [];
  for (const t of cmd.tracks) {
    if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TRACK_ID_LENGTH) {
      throw invalid('invalid_track_id', `track ids are 1 to ${MAX_TRACK_ID_LENGTH} characters`, { trackId: t });
    }
  }
  if (state.items.length + cmd.tracks.length > ctx.maxItems) {
    throw new AppError('limit', 'queue_full', `a queue holds at most ${ctx.maxItems} items`, {
      limit: ctx.maxItems, items: state.items.length, adding: cmd.tracks.length,
    });
  }
  const n = cmd.tracks.length;
  // `items` is in play order. Unshuffled, play order is canonical order.
  const at = insertionIndex(state.items, cmd, 'add tracks');
  let keys: string[];
  let shuffleKeys: string[] | undefined;
  if (!state.shuffle) {
    keys = keysAt(state.items, at, n, (i) => i.key);
  } else {
    // Shuffled: the placement is in play order. In the order restored by un-shuffle the
    // new items go after / before their anchor item when one is named, else to the end.
    shuffleKeys = keysAt(state.items, at, n, (i) => activeKey(i, true));
    const canonical = [...state.items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const ci = cmd.afterItemId !== undefined
      ? canonical.findIndex((x) => x.itemId === cmd.afterItemId) + 1
      : cmd.beforeItemId !== undefined
        ? canonical.findIndex((x) => x.itemId === cmd.beforeItemId)
        : canonical.length;
    keys = keysAt(canonical, ci, n, (i) => i.key);
  }
  return cmd.tracks.map((trackId, k) => {
    const data: { itemId: string; trackId: string; key: string; shuffleKey?: string } = { itemId: ctx.newId(), trackId, key: keys[k]! };
    if (shuffleKeys) data.shuffleKey = shuffleKeys[k]!;
    return { type: 'item_added', data };
  });
}

function moveItem(state: QueueState, cmd: { itemId: string } & Placement): QueueEventBody[] {
  checkPlacement(cmd);
  if (cmd.afterItemId === cmd.itemId || cmd.beforeItemId === cmd.itemId) {
    throw invalid('invalid_anchor', 'an item cannot be placed relative to itself', { itemId: cmd.itemId });
  }
  const item = findItem(state, cmd.itemId);
  const from = state.items.indexOf(item);
  const rest = state.items.filter((i) => i !== item);
  const at = insertionIndex(rest, cmd, 'move item');
  if (at === from) return []; // already there
  const [key] = keysAt(rest, at, 1, (i) => activeKey(i, state.shuffle));
  // While shuffled a move changes the play order only; un-shuffle restores the order from before.
  const data = state.shuffle ? { itemId: item.itemId, shuffleKey: key! } : { itemId: item.itemId, key: key! };
  return [{ type: 'item_moved', data }];
}

function setShuffle(state: QueueState, on: boolean, ctx: DecideContext): QueueEventBody[] {
  if (on === state.shuffle) return [];
  if (!on) return [{ type: 'shuffle_changed', data: { shuffle: false } }];
  // The current item leads; the rest follow in a random order (Fisher-Yates on ctx.random).
  const cur = state.items.find((i) => i.itemId === state.currentItemId);
  const rest = state.items.filter((i) => i !== cur);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(ctx.random() * (i + 1));
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const order = cur ? [cur, ...rest] : rest;
  const keys = generateNKeysBetween(null, null, order.length);
  const shuffleKeys: Record<string, string> = {};
  order.forEach((item, k) => (shuffleKeys[item.itemId] = keys[k]!));
  return [{ type: 'shuffle_changed', data: { shuffle: true, shuffleKeys } }];
}

function next(state: QueueState, reason: 'user' | 'track_end'): QueueEventBody[] {
  if (state.items.length === 0) throw conflict('queue_empty', 'the queue has no items');
  const i = currentIndex(state);
  if (reason === 'track_end' && state.repeat === 'one' && i >= 0) {
    return [current(state, state.currentItemId, 'repeat')];
  }
  const j = i + 1;
  if (j < state.items.length) return [current(state, state.items[j]!.itemId, 'next')];
  if (state.repeat !== 'off') return [current(state, state.items[0]!.itemId, 'next')];
  return state.currentItemId === null ? [] : [current(state, null, 'end_of_queue')];
}

function previous(state: QueueState): QueueEventBody[] {
  if (state.items.length === 0) throw conflict('queue_empty', 'the queue has no items');
  const i = currentIndex(state);
  let j = i - 1;
  if (i < 0) j = 0;
  else if (j < 0) j = state.repeat === 'all' ? state.items.length - 1 : 0;
  const target = state.items[j]!.itemId;
  return target === state.currentItemId ? [] : [current(state, target, 'previous')];
}
