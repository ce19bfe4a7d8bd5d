// Commands on a queue and the pure decider that turns one into events.
// Ids, time and randomness come in through DecideContext so the domain stays pure.
import { generateNKeysBetween } from 'fractional-indexing';
import { AppError, conflict, invalid, notFound } from '../errors.ts';
import { Items } from './items.ts';
import { can, canManageRole, memberRole, type Role } from './permissions.ts';
import {
  activeKey,
  collaboratorOf,
  evolve,
  findItem,
  findItemById,
  indexOfItem,
  scoreOf,
  upgradeState,
  type CollaboratorRole,
  type ItemList,
  type QueueEvent,
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
  | {
      type: 'create_queue';
      name: string;
      queueType: QueueType;
      metadata?: Record<string, unknown>;
      tracks?: string[];
      /** Collaborative queues: public or not, and the users who join as contributors. */
      isPublic?: boolean;
      collaborators?: string[];
    }
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
  | { type: 'delete_queue' }
  | { type: 'vote_item'; itemId: string; vote: 1 | -1 | 0 }
  | { type: 'add_collaborator'; userId: string; role: CollaboratorRole }
  | { type: 'set_collaborator_role'; userId: string; role: CollaboratorRole }
  | { type: 'remove_collaborator'; userId: string }
  | { type: 'leave_queue' }
  | { type: 'transfer_ownership'; userId: string }
  | { type: 'set_visibility'; isPublic: boolean }
  | { type: 'update_settings'; fairOrder?: boolean; voteOrder?: boolean }
  /** Join as a collaborator: `public` (viewer, public queues) or `invite` (the service checked the code). */
  | { type: 'join_queue'; role: CollaboratorRole; via: 'invite' | 'public' };

export interface DecideContext {
  userId: string;
  newId: () => string;
  random: () => number;
  maxItems: number;
  /** The actor's role, as the service found it; absent means the owner (a personal queue). */
  role?: Role | null;
  /** Server time (epoch ms): the adds-per-minute window is measured against it. */
  time?: number;
  /** Tracks one user other than the owner may add to one queue per minute. */
  addsPerMinute?: number;
  /** Collaborators (besides the owner) one queue may have. */
  maxCollaborators?: number;
}

const forbidden = (code: string, message: string, details?: Record<string, unknown>) => new AppError('forbidden', code, message, details);
const roleIn = (ctx: DecideContext): Role | null => (ctx.role === undefined ? 'owner' : ctx.role);

export const MAX_TRACK_ID_LENGTH = 128;

export function decide(stored: QueueState, cmd: QueueCommand, ctx: DecideContext): QueueEventBody[] {
  const state = upgradeState(stored);
  if (cmd.type === 'create_queue') {
    if (state.version !== 0) throw conflict('queue_exists', 'a queue with this id already exists');
    const created: QueueEventBody = {
      type: 'queue_created',
      data: { name: cmd.name, type: cmd.queueType, ownerId: ctx.userId, metadata: cmd.metadata ?? {} },
    };
    const adds = cmd.tracks?.length ? addTracks({ ...state, items: Items.EMPTY }, { tracks: cmd.tracks }, { ...ctx, role: 'owner' }) : [];
    const out: QueueEventBody[] = [created];
    if (cmd.isPublic) out.push({ type: 'visibility_changed', data: { isPublic: true } });
    const members = [...new Set(cmd.collaborators ?? [])].filter((u) => u !== ctx.userId);
    checkCollaboratorLimit(0, members.length, ctx);
    for (const userId of members) out.push({ type: 'collaborator_joined', data: { userId, role: 'contributor', via: 'created' } });
    return [...out, ...adds];
  }
  if (state.version === 0 || state.deleted) throw notFound('queue_not_found', 'queue not found');
  switch (cmd.type) {
    case 'add_tracks':
      return addTracks(state, cmd, ctx);
    case 'remove_items': {
      const ids = [...new Set(cmd.itemIds)];
      for (const id of ids) ownItem(state, findItem(state, id), ctx, 'remove');
      return ids.map((itemId) => ({ type: 'item_removed', data: { itemId } }));
    }
    case 'move_item':
      ownItem(state, findItem(state, cmd.itemId), ctx, 'move');
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
    case 'vote_item':
      return vote(state, cmd, ctx);
    case 'add_collaborator':
    case 'set_collaborator_role':
      return grant(state, cmd, ctx);
    case 'remove_collaborator':
      return removeCollaborator(state, cmd.userId, ctx);
    case 'leave_queue':
      return removeCollaborator(state, ctx.userId, ctx);
    case 'transfer_ownership': {
      if (cmd.userId === state.ownerId) return [];
      if (!collaboratorOf(state, cmd.userId))
        throw notFound('collaborator_not_found', `${cmd.userId} is not a collaborator of this queue`, { userId: cmd.userId });
      return [{ type: 'ownership_transferred', data: { fromUserId: state.ownerId, toUserId: cmd.userId } }];
    }
    case 'set_visibility':
      return state.isPublic === cmd.isPublic ? [] : [{ type: 'visibility_changed', data: { isPublic: cmd.isPublic } }];
    case 'update_settings':
      return updateSettings(state, cmd);
    case 'join_queue':
      return join(state, cmd, ctx);
    default: {
      const _exhaustive: never = cmd;
      throw invalid('unknown_command', `unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

/** Contributors may remove and move only the items they added ([CO3]). */
function ownItem(_state: QueueState, item: QueueItem, ctx: DecideContext, what: string): void {
  if (can(roleIn(ctx), 'edit_any') || item.addedBy === ctx.userId) return;
  throw forbidden('not_your_item', `your role may ${what} only the items you added`, { itemId: item.itemId, addedBy: item.addedBy });
}

function checkCollaboratorLimit(current: number, adding: number, ctx: DecideContext): void {
  const max = ctx.maxCollaborators ?? Infinity;
  if (current + adding > max) {
    throw new AppError('limit', 'too_many_collaborators', `a queue has at most ${max} collaborators`, { limit: max, collaborators: current, adding });
  }
}

/** Add a collaborator, or change the role of one ([CO2]): owners manage everyone, admins contributors and viewers. */
function grant(
  state: QueueState,
  cmd: { type: 'add_collaborator' | 'set_collaborator_role'; userId: string; role: CollaboratorRole },
  ctx: DecideContext,
): QueueEventBody[] {
  const actor = roleIn(ctx);
  if (cmd.userId === state.ownerId) throw conflict('is_owner', 'the owner has every right already; transfer the ownership instead', { userId: cmd.userId });
  const existing = collaboratorOf(state, cmd.userId);
  if (!existing && cmd.type === 'set_collaborator_role')
    throw notFound('collaborator_not_found', `${cmd.userId} is not a collaborator of this queue`, { userId: cmd.userId });
  if (!canManageRole(actor, cmd.role) || (existing && !canManageRole(actor, existing.role))) {
    throw forbidden('forbidden', `your role may not make anyone ${cmd.role}${existing ? ` or change a ${existing.role}` : ''}`, { role: cmd.role });
  }
  if (existing) return existing.role === cmd.role ? [] : [{ type: 'permission_changed', data: { userId: cmd.userId, role: cmd.role } }];
  checkCollaboratorLimit(state.collaborators.length, 1, ctx);
  return [{ type: 'collaborator_joined', data: { userId: cmd.userId, role: cmd.role, via: 'added' } }];
}

function removeCollaborator(state: QueueState, userId: string, ctx: DecideContext): QueueEventBody[] {
  if (userId === state.ownerId) {
    throw conflict(userId === ctx.userId ? 'owner_cannot_leave' : 'is_owner', 'the owner cannot leave or be removed; transfer the ownership first', { userId });
  }
  const existing = collaboratorOf(state, userId);
  if (!existing) throw notFound('collaborator_not_found', `${userId} is not a collaborator of this queue`, { userId });
  if (userId === ctx.userId) return [{ type: 'collaborator_left', data: { userId, reason: 'left' } }];
  if (!canManageRole(roleIn(ctx), existing.role)) throw forbidden('forbidden', `your role may not remove a ${existing.role}`, { userId, role: existing.role });
  return [{ type: 'collaborator_left', data: { userId, reason: 'removed' } }];
}

function join(state: QueueState, cmd: { role: CollaboratorRole; via: 'invite' | 'public' }, ctx: DecideContext): QueueEventBody[] {
  const current = memberRole(state, ctx.userId);
  const role: CollaboratorRole = cmd.via === 'public' ? 'viewer' : cmd.role;
  if (current === null) {
    checkCollaboratorLimit(state.collaborators.length, 1, ctx);
    return [{ type: 'collaborator_joined', data: { userId: ctx.userId, role, via: cmd.via } }];
  }
  // An invite never lowers a role; one for a higher role raises it.
  const order = ['viewer', 'contributor', 'admin', 'owner'];
  if (cmd.via === 'invite' && current !== 'owner' && order.indexOf(role) > order.indexOf(current)) {
    return [{ type: 'permission_changed', data: { userId: ctx.userId, role } }];
  }
  return [];
}

function currentIndex(state: QueueState): number {
  return indexOfItem(state, state.currentItemId);
}

function current(state: QueueState, itemId: string | null, reason: 'set' | 'next' | 'previous' | 'repeat' | 'end_of_queue'): QueueEventBody {
  return { type: 'current_item_changed', data: { itemId, previousItemId: state.currentItemId, reason } };
}

/** The index of an anchor item in the play order, or 409 anchor_not_found. O(log n). */
function anchorIndex(state: QueueState, itemId: string, side: 'afterItemId' | 'beforeItemId', what: string): number {
  const i = indexOfItem(state, itemId);
  if (i < 0) throw conflict('anchor_not_found', `cannot ${what}: ${side} ${itemId} is not in the queue`, { [side]: itemId });
  return i;
}

/**
 * The index in the play order before which new items go. Anchors must name items of the
 * queue; `position` past the end appends.
 */
function insertionIndex(state: QueueState, p: Placement, what: string): number {
  if (p.afterItemId !== undefined) return anchorIndex(state, p.afterItemId, 'afterItemId', what) + 1;
  if (p.beforeItemId !== undefined) return anchorIndex(state, p.beforeItemId, 'beforeItemId', what);
  if (p.position !== undefined) return Math.min(Math.max(0, p.position), state.items.length);
  return state.items.length;
}

function keysAt(list: ItemList, index: number, n: number, keyOf: (i: QueueItem) => string): string[] {
  const before = index > 0 ? keyOf(list.at(index - 1)!) : null;
  const after = index < list.length ? keyOf(list.at(index)!) : null;
  return generateNKeysBetween(before, after, n);
}

/**
 * The unshuffled (canonical) keys between which items go while the queue is shuffled: right
 * after / before the anchor in the canonical order, else at its end. One scan, no sort.
 */
function canonicalBounds(state: QueueState, p: Placement): [string | null, string | null] {
  const anchor = p.afterItemId ?? p.beforeItemId;
  const a = anchor !== undefined ? findItemById(state, anchor) : undefined;
  let lo: string | null = null;
  let hi: string | null = null;
  if (a === undefined) {
    state.items.forEach((i) => {
      if (lo === null || i.key > lo) lo = i.key;
    });
    return [lo, null];
  }
  if (p.afterItemId !== undefined) {
    lo = a.key;
    state.items.forEach((i) => {
      if (i.key > a.key && (hi === null || i.key < hi)) hi = i.key;
    });
  } else {
    hi = a.key;
    state.items.forEach((i) => {
      if (i.key < a.key && (lo === null || i.key > lo)) lo = i.key;
    });
  }
  return [lo, hi];
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
      limit: ctx.maxItems,
      items: state.items.length,
      adding: cmd.tracks.length,
    });
  }
  checkAddRate(state, cmd.tracks.length, ctx);
  const placed = cmd.position !== undefined || cmd.afterItemId !== undefined || cmd.beforeItemId !== undefined;
  if (placed || (!state.settings.fairOrder && !state.settings.voteOrder)) return placeTracks(state, cmd, ctx);
  // fairOrder / voteOrder ([CO7], [CO8]): each track goes where the rule puts it, one after another.
  let tmp = state;
  const out: QueueEventBody[] = [];
  for (const trackId of cmd.tracks) {
    const [e] = placeTracks(tmp, { tracks: [trackId], position: ruledIndex(tmp, ctx.userId) }, ctx);
    out.push(e!);
    tmp = fold(tmp, e!, ctx.userId);
  }
  return out;
}

/**
 * [CO9] Adds by anyone but the owner are limited per user and queue to `addsPerMinute` tracks
 * in any 60 s, counted from the items they added that are still in the queue.
 */
function checkAddRate(state: QueueState, adding: number, ctx: DecideContext): void {
  const limit = ctx.addsPerMinute;
  if (limit === undefined || ctx.time === undefined || roleIn(ctx) === 'owner') return;
  if (adding > limit) throw new AppError('limit', 'too_many_tracks', `at most ${limit} tracks a minute may be added to this queue`, { limit, adding });
  const since = ctx.time - 60_000;
  const recent = state.items
    .filter((i) => i.addedBy === ctx.userId)
    .map((i) => Date.parse(i.addedAt))
    .filter((t) => t > since)
    .sort((a, b) => a - b);
  const over = recent.length + adding - limit;
  if (over <= 0) return;
  // The window frees up once the `over`-th oldest of the recent adds is a minute old.
  const retryAfterSeconds = Math.max(1, Math.ceil((recent[over - 1]! + 60_000 - ctx.time) / 1000));
  throw new AppError('rate_limited', 'rate_limited', `at most ${limit} tracks a minute may be added to this queue; retry in ${retryAfterSeconds} s`, {
    limit,
    recent: recent.length,
    adding,
    retryAfterSeconds,
  });
}

/** Folds one decided event into a scratch state (for decisions made of several steps). */
function fold(state: QueueState, body: QueueEventBody, userId: string): QueueState {
  return evolve(state, { ...body, queueId: state.id, sequenceNumber: state.version, userId, deviceId: null, timestamp: state.updatedAt } as QueueEvent);
}

/** The index of the first upcoming item: after the current one, or 0. */
function upcomingStart(state: QueueState): number {
  return currentIndex(state) + 1;
}

type Rank = [number, number];
const compareRank = (a: Rank, b: Rank) => a[0] - b[0] || a[1] - b[1];

/**
 * Ranks of the upcoming items under the queue's rules: by vote score (voteOrder, highest
 * first), then by round (fairOrder: a user's n-th upcoming item is in round n).
 */
function ranks(state: QueueState, upcoming: QueueItem[]): Map<string, Rank> {
  const seen = new Map<string, number>();
  const out = new Map<string, Rank>();
  for (const i of upcoming) {
    const round = (seen.get(i.addedBy) ?? 0) + 1;
    seen.set(i.addedBy, round);
    out.set(i.itemId, [state.settings.voteOrder ? -scoreOf(i) : 0, state.settings.fairOrder ? round : 0]);
  }
  return out;
}

/** Where a new item of `userId` goes under fairOrder / voteOrder: after the last upcoming item that ranks at or above it. */
function ruledIndex(state: QueueState, userId: string): number {
  const start = upcomingStart(state);
  const upcoming = state.items.slice(start);
  const r = ranks(state, upcoming);
  const mine: Rank = [0, state.settings.fairOrder ? upcoming.filter((i) => i.addedBy === userId).length + 1 : 0];
  let at = start;
  upcoming.forEach((item, k) => {
    if (compareRank(r.get(item.itemId)!, mine) <= 0) at = start + k + 1;
  });
  return at;
}

/** Sorts the upcoming items by the rules (stable), with fresh keys when the order changes. */
function reorderUpcoming(state: QueueState): QueueEventBody[] {
  if (!state.settings.fairOrder && !state.settings.voteOrder) return [];
  const start = upcomingStart(state);
  const upcoming = state.items.slice(start);
  const r = ranks(state, upcoming);
  const target = [...upcoming].sort((a, b) => compareRank(r.get(a.itemId)!, r.get(b.itemId)!));
  if (target.every((item, k) => item === upcoming[k])) return [];
  const lo = start > 0 ? activeKey(state.items.at(start - 1)!, state.shuffle) : null;
  const keys = generateNKeysBetween(lo, null, target.length);
  return target.map((item, k) => ({
    type: 'item_moved',
    data: state.shuffle ? { itemId: item.itemId, shuffleKey: keys[k]! } : { itemId: item.itemId, key: keys[k]! },
  }));
}

function updateSettings(state: QueueState, cmd: { fairOrder?: boolean; voteOrder?: boolean }): QueueEventBody[] {
  const data: { fairOrder?: boolean; voteOrder?: boolean } = {};
  if (cmd.fairOrder !== undefined && cmd.fairOrder !== state.settings.fairOrder) data.fairOrder = cmd.fairOrder;
  if (cmd.voteOrder !== undefined && cmd.voteOrder !== state.settings.voteOrder) data.voteOrder = cmd.voteOrder;
  if (Object.keys(data).length === 0) return [];
  const changed: QueueEventBody = { type: 'queue_settings_changed', data };
  // A rule switched on applies to the upcoming items at once.
  return [changed, ...reorderUpcoming(fold(state, changed, ''))];
}

/** [CO8] One vote per user and item (0 takes it back); with voteOrder an upcoming item moves to its rank. */
function vote(state: QueueState, cmd: { itemId: string; vote: 1 | -1 | 0 }, ctx: DecideContext): QueueEventBody[] {
  const item = findItem(state, cmd.itemId);
  const before = item.votes?.find((v) => v.userId === ctx.userId)?.vote ?? 0;
  if (before === cmd.vote) return [];
  const voted: QueueEventBody = { type: 'item_voted', data: { itemId: item.itemId, userId: ctx.userId, vote: cmd.vote } };
  if (!state.settings.voteOrder) return [voted];
  const next = fold(state, voted, ctx.userId);
  const from = next.items.findIndex((i) => i.itemId === item.itemId);
  const start = upcomingStart(next);
  if (from < start) return [voted]; // current or played: stays
  const upcoming = next.items.slice(start);
  const r = ranks(next, upcoming);
  const mine = r.get(item.itemId)!;
  const rest = next.items.filter((i) => i.itemId !== item.itemId);
  let at = start;
  rest.slice(start).forEach((other, k) => {
    if (compareRank(r.get(other.itemId)!, mine) <= 0) at = start + k + 1;
  });
  return [voted, ...moveItem(next, { itemId: item.itemId, position: at })];
}

/** The old addTracks: tracks at the placement (or the end), in play order. */
function placeTracks(state: QueueState, cmd: { tracks: string[] } & Placement, ctx: DecideContext): QueueEventBody[] {
  const n = cmd.tracks.length;
  // `items` is in play order. Unshuffled, play order is canonical order.
  const at = insertionIndex(state, cmd, 'add tracks');
  let keys: string[];
  let shuffleKeys: string[] | undefined;
  if (!state.shuffle) {
    keys = keysAt(state.items, at, n, (i) => i.key);
  } else {
    // Shuffled: the placement is in play order. In the order restored by un-shuffle the
    // new items go after / before their anchor item when one is named, else to the end.
    shuffleKeys = keysAt(state.items, at, n, (i) => activeKey(i, true));
    const [lo, hi] = canonicalBounds(state, cmd);
    keys = generateNKeysBetween(lo, hi, n);
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
  const from = indexOfItem(state, item.itemId);
  // Indexes into the play order without the moved item ("rest"), computed without copying it.
  const n = state.items.length - 1;
  const toRest = (i: number) => (i > from ? i - 1 : i);
  const at =
    cmd.afterItemId !== undefined
      ? toRest(anchorIndex(state, cmd.afterItemId, 'afterItemId', 'move item')) + 1
      : cmd.beforeItemId !== undefined
        ? toRest(anchorIndex(state, cmd.beforeItemId, 'beforeItemId', 'move item'))
        : cmd.position !== undefined
          ? Math.min(Math.max(0, cmd.position), n)
          : n;
  if (at === from) return []; // already there
  const restAt = (r: number) => state.items.at(r < from ? r : r + 1)!;
  const keyOf = (i: QueueItem) => activeKey(i, state.shuffle);
  const [key] = generateNKeysBetween(at > 0 ? keyOf(restAt(at - 1)) : null, at < n ? keyOf(restAt(at)) : null, 1);
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
  for (const [k, item] of order.entries()) shuffleKeys[item.itemId] = keys[k]!;
  return [{ type: 'shuffle_changed', data: { shuffle: true, shuffleKeys } }];
}

function next(state: QueueState, reason: 'user' | 'track_end'): QueueEventBody[] {
  if (state.items.length === 0) throw conflict('queue_empty', 'the queue has no items');
  const i = currentIndex(state);
  if (reason === 'track_end' && state.repeat === 'one' && i >= 0) {
    return [current(state, state.currentItemId, 'repeat')];
  }
  const j = i + 1;
  if (j < state.items.length) return [current(state, state.items.at(j)!.itemId, 'next')];
  if (state.repeat !== 'off') return [current(state, state.items.at(0)!.itemId, 'next')];
  return state.currentItemId === null ? [] : [current(state, null, 'end_of_queue')];
}

function previous(state: QueueState): QueueEventBody[] {
  if (state.items.length === 0) throw conflict('queue_empty', 'the queue has no items');
  const i = currentIndex(state);
  let j = i - 1;
  if (i < 0) j = 0;
  else if (j < 0) j = state.repeat === 'all' ? state.items.length - 1 : 0;
  const target = state.items.at(j)!.itemId;
  return target === state.currentItemId ? [] : [current(state, target, 'previous')];
}
