// The shapes of a queue as stored and carried: its state, its events and their payloads,
// and the literal lists they are made of. Types and data only, no behaviour and no
// imports: the domain (src/queues/queue.ts, which re-exports all of this), the storage
// adapters and the bus all speak these shapes, so none of them imports another for them.

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
  /** Collaborators' votes, in the order cast; absent until the first vote. */
  votes?: ItemVote[];
}

/**
 * A state's items in play order: an immutable list that a change copies only in part
 * (src/queues/items.ts builds it; in JSON it is an array). The read methods are Array's.
 */
export interface ItemList extends Iterable<QueueItem> {
  readonly length: number;
  /** The item at this index (negative: from the end), or undefined. */
  at(index: number): QueueItem | undefined;
  /** Items [start, end) as a new array. */
  slice(start?: number, end?: number): QueueItem[];
  forEach(f: (item: QueueItem, index: number) => void): void;
  map<U>(f: (item: QueueItem, index: number) => U): U[];
  filter(f: (item: QueueItem, index: number) => boolean): QueueItem[];
  find(f: (item: QueueItem, index: number) => boolean): QueueItem | undefined;
  findIndex(f: (item: QueueItem, index: number) => boolean): number;
  some(f: (item: QueueItem, index: number) => boolean): boolean;
  every(f: (item: QueueItem, index: number) => boolean): boolean;
  indexOf(item: QueueItem): number;
  includes(item: QueueItem): boolean;
  /** The index of the first item for which `before` is false (true for a prefix of the items). O(log n). */
  partitionPoint(before: (item: QueueItem) => boolean): number;
  /** A list with `item` inserted before index `at`. */
  inserted(at: number, item: QueueItem): ItemList;
  /** A list without the item at `at`. */
  removed(at: number): ItemList;
  /** A list with the item at `at` replaced. */
  replaced(at: number, item: QueueItem): ItemList;
  /** The items as one array (it may be the list's own: do not change it). */
  toArray(): readonly QueueItem[];
  toJSON(): readonly QueueItem[];
}

export interface ItemVote {
  userId: string;
  vote: 1 | -1;
}

/** Roles a collaborator can hold; the owner is `ownerId`, never in `collaborators`. */
export const COLLABORATOR_ROLES = ['admin', 'contributor', 'viewer'] as const;
export type CollaboratorRole = (typeof COLLABORATOR_ROLES)[number];
/** How a collaborator came in: named at creation, added by an owner/admin, an invite code, a public queue. */
export const JOIN_VIA = ['created', 'added', 'invite', 'public', 'transfer'] as const;
export type JoinVia = (typeof JOIN_VIA)[number];

export interface Collaborator {
  userId: string;
  role: CollaboratorRole;
  via: JoinVia;
  joinedAt: string;
}

export interface QueueSettings {
  /** Adds without a placement interleave contributors round-robin in the upcoming items. */
  fairOrder: boolean;
  /** Upcoming items are ordered by vote score (highest first). */
  voteOrder: boolean;
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
  items: ItemList;
  currentItemId: string | null;
  shuffle: boolean;
  repeat: RepeatMode;
  /** Items that were current before, most recent last, bounded by HISTORY_LIMIT. */
  history: PlayedEntry[];
  metadata: Record<string, unknown>;
  deleted: boolean;
  /** Everyone but the owner who may use the queue, in join order. */
  collaborators: Collaborator[];
  /** Public queues are readable by any user (as a viewer) and joinable as a viewer. */
  isPublic: boolean;
  settings: QueueSettings;
  /** Ids of items removed lately (most recent last, at most GONE_LIMIT): a later reference is a conflict, not a 404. */
  goneItemIds: string[];
}

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
  collaborator_joined: { userId: string; role: CollaboratorRole; via: JoinVia };
  collaborator_left: { userId: string; reason: 'removed' | 'left' };
  permission_changed: { userId: string; role: CollaboratorRole };
  ownership_transferred: { fromUserId: string; toUserId: string };
  visibility_changed: { isPublic: boolean };
  queue_settings_changed: { fairOrder?: boolean; voteOrder?: boolean };
  item_voted: { itemId: string; userId: string; vote: 1 | -1 | 0 };
}
export type QueueEventType = keyof QueueEventData;
export const QUEUE_EVENT_TYPES: QueueEventType[] = [
  'queue_created',
  'item_added',
  'item_removed',
  'item_moved',
  'queue_cleared',
  'shuffle_changed',
  'repeat_changed',
  'current_item_changed',
  'queue_updated',
  'queue_deleted',
  'collaborator_joined',
  'collaborator_left',
  'permission_changed',
  'ownership_transferred',
  'visibility_changed',
  'queue_settings_changed',
  'item_voted',
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

/** A row of the member index: everyone with a role on the queue, owner first. */
export interface QueueMember {
  userId: string;
  role: 'owner' | CollaboratorRole;
}

/**
 * The part of the queue domain the storage adapters run inside their transactions: the
 * fold (a snapshot plus later events -> the current state), the upgrade of an old
 * stored state, and the member index rows. Given to the adapters by the composition
 * root (src/stores.ts), so src/store imports no feature.
 */
export interface QueueFold {
  /** Folds one event into a state. */
  evolve(state: QueueState, event: QueueEvent): QueueState;
  /** A state as stored, brought up to the current shape. */
  upgrade(state: QueueState): QueueState;
  /** The rows of the member index. */
  members(state: QueueState): QueueMember[];
  /** Whether an event of this type may change who may use the queue (the member index is then rewritten). */
  touchesAccess(type: QueueEventType): boolean;
}
