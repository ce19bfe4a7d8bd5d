// The one narrow port between the service and its storage. Two adapters
// (sqlite.ts, postgres.ts) implement it and pass one contract suite
// (test/int/store.contract.test.ts). Dialect differences stay in the adapters.
import type { NewPlaybackRecord, PlaybackRecord, UserEvent } from '../model/playback.ts';
import type { QueueEvent, QueueEventBody, QueueFold, QueueState } from '../model/queue.ts';
import type { KeyRecord } from '../util/commit.ts';

export type { QueueFold, UserEvent };

/** An event to append: the body plus its envelope but without the sequence number the store assigns. */
export type NewEvent = QueueEventBody & { userId: string; deviceId: string | null; timestamp: string };

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** A queue or user stream's idempotency record: the one record shape (util/commit.ts) of an HTTP-like answer. */
export type IdempotencyRecord = KeyRecord<StoredResponse>;

export interface AppendInput {
  queueId: string;
  /** The stream version the events were decided against; 0 for a new stream. */
  expectedVersion: number;
  events: NewEvent[];
  /**
   * The state after the events. The store updates the queue's small header row from it in
   * the same transaction, and writes it whole as a snapshot only when `snapshotDue` says so.
   */
  state: QueueState;
  /** Recorded in the same transaction, so a retry can never append twice. */
  idempotency?: { userId: string; key: string; fingerprint: string; response: StoredResponse };
  /**
   * Several records at once, each kept like `idempotency` in the same transaction (a batch
   * of client mutations committed in one append). Any key already recorded: IdempotencyConflict.
   */
  idempotencyMany?: { userId: string; key: string; fingerprint: string; response: StoredResponse }[];
}

export interface QueueSummary {
  id: string;
  name: string;
  type: string;
  ownerId: string;
  version: number;
  itemCount: number;
  updatedAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** An event with its global append order across all queues. */
export type ExportedEvent = QueueEvent & { position: number };

/** What decide sees, read under the lock of the user's stream. */
export interface UserStreamSnapshot {
  version: number;
  playback: PlaybackRecord[];
}

export interface UserDecision {
  /** Gets sequence number `version + 1`. */
  event: Omit<UserEvent, 'userId' | 'sequenceNumber'>;
  /** Replaces the record of `playback.deviceId`; it gets the event's sequence number. */
  playback?: NewPlaybackRecord;
  /** A device seen at `at` (epoch ms): inserted when unknown, else its last seen moves on. */
  touch?: { deviceId: string; at: number };
}

export interface UserAppended {
  event: UserEvent;
  playback: PlaybackRecord | null;
}

export interface UserAppendInput {
  userId: string;
  /**
   * Called once, synchronously, inside the transaction after the user's stream is locked, so
   * checks against `current` cannot race another append. Throwing aborts: nothing is written.
   */
  decide(current: UserStreamSnapshot): UserDecision;
  /** Recorded in the same transaction; `response` is built from what was appended. */
  idempotency?: { key: string; fingerprint: string; response(appended: UserAppended): StoredResponse };
}

export interface DeviceRecord {
  deviceId: string;
  name: string | null;
  type: string | null;
  /** Epoch ms. */
  firstSeen: number;
  lastSeen: number;
}

/** How often the stores snapshot a queue, and how long they keep idempotency records and events. */
export interface RetentionOptions {
  /** At least this many events between two snapshots of a queue (default 64). */
  snapshotMinEvents?: number;
  /** ... and at least one per this many items (default 8): a snapshot's O(n) write is spread over n/8 events. */
  snapshotItemsPerEvent?: number;
  /** Idempotency records older than this are ignored and swept (default 24 h). */
  idempotencyTtlMs?: number;
}

export const DEFAULT_SNAPSHOT_MIN_EVENTS = 64;
export const DEFAULT_SNAPSHOT_ITEMS_PER_EVENT = 8;

/**
 * [QW6] Is a new snapshot due, `eventsSince` events after the last one, for a queue of
 * `itemCount` items? Writing one is O(items); taking one every max(min, items / k) events
 * keeps the cost per event flat and a load to one snapshot plus a bounded replay.
 */
export function snapshotDue(eventsSince: number, itemCount: number, o: RetentionOptions = {}): boolean {
  return eventsSince >= snapshotEvery(itemCount, o);
}

/** Events between two snapshots of a queue of this length: max(64, n/8) by default. */
export function snapshotEvery(itemCount: number, o: RetentionOptions = {}): number {
  const min = o.snapshotMinEvents ?? DEFAULT_SNAPSHOT_MIN_EVENTS;
  const per = o.snapshotItemsPerEvent ?? DEFAULT_SNAPSHOT_ITEMS_PER_EVENT;
  return Math.max(min, Math.ceil(itemCount / per));
}

/** What one sweep removed. */
export interface SweepResult {
  idempotencyRecords: number;
  events: number;
}

/**
 * Queue streams: events with a gapless per-queue sequence number, the header row and
 * snapshots kept in the append's transaction, and the member index.
 */
export interface QueueStreams {
  /**
   * Append events atomically with the projection and the idempotency record.
   * Throws VersionConflictError when the stream is not at `expectedVersion`,
   * and IdempotencyConflict when the key was recorded meanwhile.
   * Returns the events with their sequence numbers (expectedVersion + 1, + 2, ...).
   */
  append(input: AppendInput): Promise<QueueEvent[]>;
  /**
   * The current state: the last snapshot with the events after it folded in, or null.
   * Deleted queues are returned (state.deleted).
   */
  loadQueue(queueId: string): Promise<QueueState | null>;
  /** The queue's version from its header row (one small read), or null when there is no such queue. */
  queueVersion(queueId: string): Promise<number | null>;
  /**
   * Optional: a number that changes whenever another connection (another process) commits
   * to the store, and only then; read synchronously and cheaply. A cache of what this
   * process wrote itself stays valid while it is unchanged (SQLite's `PRAGMA data_version`).
   */
  foreignWrites?(): number;
  /** The lowest sequence number still in the queue's log (1 until a trim), or null without events. */
  logStart(queueId: string): Promise<number | null>;
  /** Events with sequenceNumber > afterSequence, ascending, at most `limit`. */
  readEvents(queueId: string, afterSequence: number, limit: number): Promise<QueueEvent[]>;
  /**
   * Queues a user owns or collaborates on, with the user's role, most recently updated first,
   * deleted ones left out. Read from the member index that `append` keeps in its transaction.
   */
  listMemberQueues(userId: string, limit: number, cursor: string | null): Promise<Page<QueueSummary & { role: string }>>;
  /** Every event in global append order after `afterPosition` (export). */
  readAll(afterPosition: number, limit: number): Promise<ExportedEvent[]>;
  /**
   * Runs `fn` while holding a lock on the queue's stream that other instances respect, so
   * writers across instances take turns instead of racing their versions (a racing loser
   * could otherwise starve). Optional: a store used by one process needs none.
   */
  withStreamLock?<T>(queueId: string, fn: () => Promise<T>): Promise<T>;
  /** Transactions committed and appends in them so far (group commit; issue 21). */
  commitStats?(): { transactions: number; writes: number };
}

/** Idempotency records, written in the transaction of the write they answer (queues and user streams). */
export interface IdempotencyRecords {
  getIdempotency(userId: string, key: string): Promise<IdempotencyRecord | null>;
}

/** Users' sync streams (playback and devices), gapless per user, and the device list. */
export interface UserStreams {
  /**
   * Append one event to the user's sync stream with what `decide` returns, atomically.
   * Throws what decide throws, and IdempotencyConflict when the key was recorded meanwhile.
   */
  appendUserEvent(input: UserAppendInput): Promise<UserAppended>;
  /** User events with sequenceNumber > afterSequence, ascending, at most `limit`. */
  readUserEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]>;
  /** Sequence number of the user's last event; 0 when there is none. */
  userVersion(userId: string): Promise<number>;
  /** The latest playback record of each of the user's devices, in sequence order. */
  listPlayback(userId: string): Promise<PlaybackRecord[]>;
  /** Insert or refresh a device: name and type change only when given; last seen never moves back. */
  upsertDevice(userId: string, deviceId: string, info: { name?: string; type?: string }, at: number): Promise<DeviceRecord>;
  /** The user's devices, most recently seen first. */
  listDevices(userId: string): Promise<DeviceRecord[]>;
}

/** A plain key/value table for service settings (e.g. generated secrets). */
export interface Settings {
  getSetting(key: string): Promise<string | null>;
  setSettingIfAbsent(key: string, value: string): Promise<string>;
}

/** Running the store: migrations, the retention sweep, health, shutdown. */
export interface StoreAdmin {
  readonly kind: 'sqlite' | 'postgres';
  /** Apply pending migrations; returns the names applied now. */
  migrate(): Promise<string[]>;
  /**
   * Removes idempotency records older than `idempotencyBefore` (epoch ms) and, when
   * `eventsBefore` is given, events older than it that lie at or below their queue's
   * snapshot (a load never needs them). At most `limit` rows of each per call.
   */
  sweep(o: { idempotencyBefore: number; eventsBefore?: number; limit?: number }): Promise<SweepResult>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole port, as each adapter implements it. Services take the part they use
 * (a QueueService needs QueueStreams & IdempotencyRecords, the sockets QueueStreams only).
 * Features with tables of their own have feature stores beside it (src/stores.ts).
 */
export interface Store extends StoreAdmin, QueueStreams, IdempotencyRecords, UserStreams, Settings {}

/** Thrown by append when another request recorded the same idempotency key first (the commit path answers it). */
export { IdempotencyConflict } from '../util/commit.ts';

export function encodeCursor(updatedAt: string, id: string): string {
  return Buffer.from(JSON.stringify([updatedAt, id])).toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string') return null;
    // Only the exact ISO form this service writes: anything else might not parse in SQL.
    const t = Date.parse(v[0]);
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v[0]);
    return iso && Number.isFinite(t) && new Date(t).toISOString() === v[0] && v[1].length <= 64 && !v[1].includes('\u0000') ? [v[0], v[1]] : null;
  } catch {
    return null;
  }
}
