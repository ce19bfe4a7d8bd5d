// The queue aggregate: its events, its state, and the pure fold between them.
// Nothing here does I/O; time and ids arrive inside events.

export const QUEUE_TYPES = ['user', 'collaborative', 'radio', 'recommendations', 'party'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];
export const REPEAT_MODES = ['off', 'all', 'one'] as const;
export type RepeatMode = (typeof REPEAT_MODES)[number];

export interface QueueItem {
  itemId: string;
  trackId: string;
  addedBy: string;
  addedAt: string;
  /** Order key (fractional indexing) in the canonical, unshuffled order. */
  key: string;
  /** Order key in the shuffled play order; set only while shuffle is on. */
  shuffleKey?: string;
}

export interface PlayedEntry {
  itemId: string;
  trackId: string;
  playedAt: string;
}

export interface QueueState {
  id: string;
  type: QueueType;
  name: string;
  ownerId: string;
  createdAt: string;
  updatedAt: string;
  /** Sequence number of the last event folded in; 0 before creation. */
  version: number;
  /** Sorted by the active order (shuffleKey while shuffled, else key), then itemId. */
  items: QueueItem[];
  currentItemId: string | null;
  shuffle: boolean;
  repeat: RepeatMode;
  /** Items that were current before, most recent last, bounded by HISTORY_LIMIT. */
  history: PlayedEntry[];
  metadata: Record<string, unknown>;
  deleted: boolean;
}

export const HISTORY_LIMIT = 100;

export type CurrentChangeReason = 'set' | 'next' | 'previous' | 'repeat' | 'end_of_queue';

/** Event payloads by type. The envelope (sequence number, user, device, time) is separate. */
export interface QueueEventData {
  queue_created: { name: string; type: QueueType; ownerId: string; metadata: Record<string, unknown> };
  item_added: { itemId: string; trackId: string; key: string; shuffleKey?: string };
  item_removed: { itemId: string };
  item_moved: { itemId: string; key?: string; shuffleKey?: string };
  queue_cleared: { itemIds: string[] };
  shuffle_changed: { shuffle: boolean; shuffleKeys?: Record<string, string> };
  repeat_changed: { repeat: RepeatMode };
  current_item_changed: { itemId: string | null; previousItemId: string | null; reason: CurrentChangeReason };
  queue_updated: { name?: string; metadata?: Record<string, unknown> };
  queue_deleted: Record<string, never>;
}
export type QueueEventType = keyof QueueEventData;
export const QUEUE_EVENT_TYPES: QueueEventType[] = [
  'queue_created', 'item_added', 'item_removed', 'item_moved', 'queue_cleared',
  'shuffle_changed', 'repeat_changed', 'current_item_changed', 'queue_updated', 'queue_deleted',
];

/** An event as decided by the domain, before the store gives it a sequence number. */
export type QueueEventBody = { [K in QueueEventType]: { type: K; data: QueueEventData[K] } }[QueueEventType];

/** An event as stored: the body plus its envelope. */
export type QueueEvent = QueueEventBody & {
  queueId: string;
  sequenceNumber: number;
  userId: string;
  deviceId: string | null;
  timestamp: string;
};

export function initialState(queueId: string): QueueState {
  return {
    id: queueId, type: 'user', name: '', ownerId: '', createdAt: '', updatedAt: '', version: 0,
    items: [], currentItemId: null, shuffle: false, repeat: 'off', history: [], metadata: {}, deleted: false,
  };
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

/** Fold one event into the state. Returns a new state; the input is not mutated. */
export function evolve(state: QueueState, event: QueueEvent): QueueState {
  const s: QueueState = { ...state, version: event.sequenceNumber, updatedAt: event.timestamp };
  switch (event.type) {
    case 'queue_created':
      return { ...s, name: event.data.name, type: event.data.type, ownerId: event.data.ownerId, metadata: event.data.metadata, createdAt: event.timestamp };
    case 'item_added': {
      const item: QueueItem = { itemId: event.data.itemId, trackId: event.data.trackId, addedBy: event.userId, addedAt: event.timestamp, key: event.data.key };
      if (event.data.shuffleKey !== undefined) item.shuffleKey = event.data.shuffleKey;
      return { ...s, items: sortItems([...s.items, item], s.shuffle) };
    }
    case 'item_removed':
      return {
        ...s,
        items: s.items.filter((i) => i.itemId !== event.data.itemId),
        currentItemId: s.currentItemId === event.data.itemId ? null : s.currentItemId,
      };
    case 'item_moved': {
      const items = s.items.map((i) => {
        if (i.itemId !== event.data.itemId) return i;
        const moved = { ...i };
        if (event.data.key !== undefined) moved.key = event.data.key;
        if (event.data.shuffleKey !== undefined) moved.shuffleKey = event.data.shuffleKey;
        return moved;
      });
      return { ...s, items: sortItems(items, s.shuffle) };
    }
    case 'queue_cleared': {
      const gone = new Set(event.data.itemIds);
      return {
        ...s,
        items: s.items.filter((i) => !gone.has(i.itemId)),
        currentItemId: s.currentItemId !== null && gone.has(s.currentItemId) ? null : s.currentItemId,
      };
    }
    case 'shuffle_changed': {
      const keys = event.data.shuffleKeys ?? {};
      const items = s.items.map((i) => {
        const { shuffleKey: _drop, ...rest } = i;
        return event.data.shuffle && keys[i.itemId] !== undefined ? { ...rest, shuffleKey: keys[i.itemId] } : rest;
      });
      return { ...s, shuffle: event.data.shuffle, items: sortItems(items, event.data.shuffle) };
    }
    case 'repeat_changed':
      return { ...s, repeat: event.data.repeat };
    case 'current_item_changed': {
      let history = s.history;
      const prev = event.data.previousItemId !== null ? s.items.find((i) => i.itemId === event.data.previousItemId) : undefined;
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
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

export function foldEvents(state: QueueState, events: QueueEvent[]): QueueState {
  return events.reduce(evolve, state);
}

/** The public shape of a queue: order keys stay internal. */
export interface QueueView {
  id: string;
  name: string;
  type: QueueType;
  ownerId: string;
  version: number;
  items: { itemId: string; trackId: string; addedBy: string; addedAt: string }[];
  currentItemId: string | null;
  currentIndex: number | null;
  shuffle: boolean;
  repeat: RepeatMode;
  history: PlayedEntry[];
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export function toView(s: QueueState): QueueView {
  const idx = s.currentItemId === null ? -1 : s.items.findIndex((i) => i.itemId === s.currentItemId);
  return {
    id: s.id, name: s.name, type: s.type, ownerId: s.ownerId, version: s.version,
    items: s.items.map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy, addedAt: i.addedAt })),
    currentItemId: s.currentItemId, currentIndex: idx < 0 ? null : idx,
    shuffle: s.shuffle, repeat: s.repeat, history: s.history, metadata: s.metadata,
    createdAt: s.createdAt, updatedAt: s.updatedAt,
  };
}
