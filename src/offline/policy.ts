// The conflict policies of offline sync, one per operation (docs/OFFLINE.md [OF3]-[OF9]).
// Pure: a change, the queue state it is replayed on, and what the queue's log says about
// items and settings in, a command (maybe rewritten) and a note out, or an AppError that
// names the conflict. No I/O here.
import { type AppError, conflict } from '../errors.ts';
import type { QueueCommand } from '../queues/decide.ts';
import type { QueueEvent, QueueItem, QueueState } from '../queues/queue.ts';

export type Resolution = 'server_wins' | 'client_wins' | 'merged' | 'dropped';

/** What the log says, folded from its first event: facts the current state no longer holds. */
export interface QueueHistory {
  /** Sequence number of the last event folded in. */
  upTo: number;
  /** Every item ever in the queue: its last canonical order key, and when and from where it was added. */
  items: Map<string, { key: string; addedSeq: number; deviceId: string | null }>;
  /** The last change of each setting. */
  settings: Partial<Record<'shuffle' | 'repeat', { seq: number; at: number; deviceId: string | null }>>;
}

export function emptyHistory(): QueueHistory {
  return { upTo: 0, items: new Map(), settings: {} };
}

/** Folds events (in order, after `upTo`) into the history; mutates and returns it. */
export function foldHistory(h: QueueHistory, events: readonly QueueEvent[]): QueueHistory {
  for (const e of events) {
    if (e.sequenceNumber !== h.upTo + 1) continue;
    h.upTo = e.sequenceNumber;
    if (e.type === 'item_added') h.items.set(e.data.itemId, { key: e.data.key, addedSeq: e.sequenceNumber, deviceId: e.deviceId });
    else if (e.type === 'item_moved' && e.data.key !== undefined) {
      const it = h.items.get(e.data.itemId);
      if (it) it.key = e.data.key;
    } else if (e.type === 'shuffle_changed' || e.type === 'repeat_changed') {
      h.settings[e.type === 'shuffle_changed' ? 'shuffle' : 'repeat'] = { seq: e.sequenceNumber, at: Date.parse(e.timestamp), deviceId: e.deviceId };
    }
  }
  return h;
}

/** A change as the policies see it, after its envelope was validated. */
export interface PolicyChange {
  baseVersion?: number;
  /** Epoch ms of the client's clock when the change was made. */
  clientTs: number;
}

export interface PolicyContext {
  /** The syncing device: its own earlier changes never conflict with its later ones. */
  deviceId: string | null;
  /** Items added by earlier changes of this batch (not in the history yet). */
  addedInBatch: ReadonlySet<string>;
}

export interface Planned {
  command: QueueCommand;
  /** Set when the change was applied otherwise than sent. */
  note?: { resolution: Resolution; reason: { code: string; message: string; details: Record<string, unknown> } };
}

const keyOrder = (a: QueueItem, b: QueueItem) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0);

const present = (s: QueueState, itemId: string) => s.items.some((i) => i.itemId === itemId);

/** A conflict that leaves the server as it is. */
function drop(code: string, message: string, details: Record<string, unknown>, resolution: 'dropped' | 'server_wins' = 'dropped'): AppError {
  return conflict(code, message, { ...details, resolution });
}

/**
 * [OF3] Where an item placed next to a gone anchor goes: next to the anchor's nearest
 * surviving neighbour in the canonical order, as the anchor's last order key says (after
 * its nearest predecessor, else before its nearest successor, for `after`; the other way
 * round for `before`); at the end when the anchor was never in this queue or nothing is left.
 */
export function neighbourPlacement(
  state: QueueState,
  history: QueueHistory,
  anchorId: string,
  side: 'after' | 'before',
  exclude?: string,
): { afterItemId?: string; beforeItemId?: string } {
  const known = history.items.get(anchorId);
  if (!known) return {};
  const list = state.items.filter((i) => i.itemId !== exclude).sort(keyOrder);
  const ghost = { itemId: anchorId, key: known.key } as QueueItem;
  const succIdx = list.findIndex((i) => keyOrder(i, ghost) > 0);
  const pred = (succIdx < 0 ? list[list.length - 1] : list[succIdx - 1]) ?? null;
  const succ = succIdx < 0 ? null : list[succIdx]!;
  if (side === 'after') return pred ? { afterItemId: pred.itemId } : succ ? { beforeItemId: succ.itemId } : {};
  return succ ? { beforeItemId: succ.itemId } : pred ? { afterItemId: pred.itemId } : {};
}

/** Rewrites a gone anchor of an add or a move [OF3][OF5]; null when the anchor is there (or none was given). */
function reanchor(
  state: QueueState,
  history: QueueHistory,
  p: { afterItemId?: string; beforeItemId?: string },
  exclude?: string,
): { placement: { position?: number; afterItemId?: string; beforeItemId?: string }; note: Planned['note'] } | null {
  const anchor = p.afterItemId ?? p.beforeItemId;
  if (anchor === undefined || present(state, anchor)) return null;
  const side = p.afterItemId !== undefined ? 'after' : 'before';
  const placement = neighbourPlacement(state, history, anchor, side, exclude);
  const known = history.items.has(anchor);
  return {
    placement: { position: undefined, afterItemId: placement.afterItemId, beforeItemId: placement.beforeItemId },
    note: {
      resolution: 'merged',
      reason: {
        code: 'anchor_gone',
        message: known
          ? `${side}ItemId ${anchor} was removed: placed next to its nearest remaining neighbour`
          : `${side}ItemId ${anchor} was never in this queue: placed at the end`,
        details: { anchor, side, placedAfter: placement.afterItemId ?? null, placedBefore: placement.beforeItemId ?? null },
      },
    },
  };
}

/** The policy of one queue change, against the state left by the earlier changes of the batch. */
export function planQueueChange(change: PolicyChange, cmd: QueueCommand, state: QueueState, history: QueueHistory, ctx: PolicyContext): Planned {
  switch (cmd.type) {
    case 'add_tracks': {
      // [OF3] An add is always kept.
      const r = reanchor(state, history, cmd);
      return r ? { command: { ...cmd, ...r.placement }, note: r.note } : { command: cmd };
    }
    case 'remove_items': {
      // [OF4] Removing what is already gone changes nothing and counts as synced.
      return { command: { ...cmd, itemIds: cmd.itemIds.filter((id) => present(state, id)) } };
    }
    case 'move_item': {
      // [OF5] A move of a removed item is dropped; a move next to a removed anchor is merged.
      if (!present(state, cmd.itemId)) throw drop('item_gone', `item ${cmd.itemId} was removed`, { itemId: cmd.itemId });
      const r = reanchor(state, history, cmd, cmd.itemId);
      return r ? { command: { ...cmd, ...r.placement }, note: r.note } : { command: cmd };
    }
    case 'set_current': {
      // [OF6] The current item cannot become one that was removed.
      if (cmd.itemId !== null && !present(state, cmd.itemId)) throw drop('item_gone', `item ${cmd.itemId} was removed`, { itemId: cmd.itemId });
      return { command: cmd };
    }
    case 'set_shuffle':
    case 'set_repeat':
      return planSetting(change, cmd, state, history, ctx);
    case 'clear':
      return planClear(change, cmd, state, history, ctx);
    default:
      // [OF7] next and previous move on from the current item as the server has it.
      return { command: cmd };
  }
}

/** [OF8] Shuffle and repeat: the newest change wins, by the client's clock against the server's. */
function planSetting(
  change: PolicyChange,
  cmd: Extract<QueueCommand, { type: 'set_shuffle' | 'set_repeat' }>,
  state: QueueState,
  history: QueueHistory,
  ctx: PolicyContext,
): Planned {
  const setting = cmd.type === 'set_shuffle' ? 'shuffle' : 'repeat';
  const wanted = cmd.type === 'set_shuffle' ? cmd.shuffle : cmd.repeat;
  const last = history.settings[setting];
  const others = last && last.seq > (change.baseVersion ?? 0) && !(ctx.deviceId !== null && last.deviceId === ctx.deviceId);
  if (!others) return { command: cmd };
  const details = {
    setting,
    serverValue: state[setting],
    clientValue: wanted,
    serverChangedAt: new Date(last.at).toISOString(),
    clientTimestamp: new Date(change.clientTs).toISOString(),
  };
  if (last.at > change.clientTs) throw drop('setting_changed_later', `${setting} was changed on the server after this change was made`, details, 'server_wins');
  if (state[setting] === wanted) return { command: cmd };
  return {
    command: cmd,
    note: {
      resolution: 'client_wins',
      reason: { code: 'setting_changed_earlier', message: `${setting} was changed on the server before this change was made`, details },
    },
  };
}

/**
 * [OF9] Clear removes what the client could have seen: items added up to its baseVersion,
 * by its own device, or earlier in the batch. Items others added meanwhile stay (merged).
 * Without a baseVersion it clears everything there is.
 */
function planClear(change: PolicyChange, cmd: Extract<QueueCommand, { type: 'clear' }>, state: QueueState, history: QueueHistory, ctx: PolicyContext): Planned {
  if (change.baseVersion === undefined) return { command: cmd };
  const base = change.baseVersion;
  const cur = state.currentItemId === null ? -1 : state.items.findIndex((i) => i.itemId === state.currentItemId);
  const scope = cmd.upcomingOnly ? state.items.slice(cur + 1) : state.items;
  const seen = (i: QueueItem) => {
    if (ctx.addedInBatch.has(i.itemId)) return true;
    const h = history.items.get(i.itemId);
    return !h || h.addedSeq <= base || (ctx.deviceId !== null && h.deviceId === ctx.deviceId);
  };
  const kept = scope.filter((i) => !seen(i)).map((i) => i.itemId);
  if (kept.length === 0) return { command: cmd };
  return {
    command: { type: 'remove_items', itemIds: scope.filter(seen).map((i) => i.itemId) },
    note: {
      resolution: 'merged',
      reason: {
        code: 'kept_newer_items',
        message: `${kept.length} item(s) added by others after version ${base} were kept`,
        details: { kept, baseVersion: base },
      },
    },
  };
}
