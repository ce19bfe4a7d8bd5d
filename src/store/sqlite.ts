// Embedded store: one SQLite file in WAL mode (better-sqlite3). Every append is one
// synchronous transaction, so appends to a queue are serialised by construction.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VersionConflictError } from '../errors.ts';
import type { PlaybackRecord } from '../model/playback.ts';
import type { QueueEvent, QueueFold, QueueState } from '../model/queue.ts';
import { Checkpointer } from './checkpointer.ts';
import { GroupCommit } from './group-commit.ts';
import { INLINE_SNAPSHOT_ITEMS, stateJsonBytesInSlices } from './snapshot-json.ts';
import { loadMigrations } from './migrations.ts';
import {
  decodeCursor,
  encodeCursor,
  IdempotencyConflict,
  snapshotDue,
  type AppendInput,
  type RetentionOptions,
  type SweepResult,
  type DeviceRecord,
  type ExportedEvent,
  type IdempotencyRecord,
  type Page,
  type QueueSummary,
  type Store,
  type UserAppended,
  type UserAppendInput,
  type UserEvent,
} from './port.ts';
import { idempotencyCutoff } from '../util/commit.ts';

interface EventRow {
  position: number;
  queue_id: string;
  sequence_number: number;
  type: string;
  data: string;
  user_id: string;
  device_id: string | null;
  created_at: string;
}

function rowToEvent(r: EventRow): ExportedEvent {
  return {
    position: r.position,
    queueId: r.queue_id,
    sequenceNumber: r.sequence_number,
    type: r.type,
    data: JSON.parse(r.data),
    userId: r.user_id,
    deviceId: r.device_id,
    timestamp: r.created_at,
  } as ExportedEvent;
}

function stripPosition({ position: _p, ...e }: ExportedEvent): QueueEvent {
  return e as QueueEvent;
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    version: db.prepare<[string], { version: number; snapshot_version: number }>('SELECT version, snapshot_version FROM queue_projections WHERE queue_id = ?'),
    insertEvent: db.prepare('INSERT INTO queue_events (queue_id, sequence_number, type, data, user_id, device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    // The header: inserted with the first events, then a few small columns per append.
    insertHead: db.prepare(
      `INSERT INTO queue_projections (queue_id, owner_id, name, type, version, item_count, deleted, updated_at, snapshot_version)
       VALUES (@queue_id, @owner_id, @name, @type, @version, @item_count, @deleted, @updated_at, @snapshot_version)`,
    ),
    updateHead: db.prepare(
      `UPDATE queue_projections SET owner_id = @owner_id, name = @name, type = @type, version = @version,
         item_count = @item_count, deleted = @deleted, updated_at = @updated_at, snapshot_version = @snapshot_version
       WHERE queue_id = @queue_id`,
    ),
    // The header of a queue moved on by an append without idempotency keys: the version check
    // and the update in one statement (no row: another writer appended first). It returns the
    // snapshot version it left as it was, which says whether a snapshot is due.
    // Positional parameters: binding by name looks each one up in an object.
    advanceHead: db.prepare<[string, string, string, number, number, number, string, string, number], { snapshot_version: number }>(
      `UPDATE queue_projections SET owner_id = ?, name = ?, type = ?, version = ?, item_count = ?, deleted = ?, updated_at = ?
       WHERE queue_id = ? AND version = ? RETURNING snapshot_version`,
    ),
    setSnapshotVersion: db.prepare<[number, string]>('UPDATE queue_projections SET snapshot_version = ? WHERE queue_id = ?'),
    // A snapshot: the whole state, every so many events (snapshotDue), in its own table.
    putSnapshot: db.prepare(
      `INSERT INTO queue_snapshots (queue_id, version, state) VALUES (?, ?, ?)
       ON CONFLICT (queue_id) DO UPDATE SET version = excluded.version, state = excluded.state`,
    ),
    // A snapshot written after its append: only over an older one, and then the header follows it.
    // The state comes as UTF-8 bytes (snapshot-json.ts) and is stored as the TEXT it is.
    putNewerSnapshot: db.prepare<[string, number, Buffer]>(
      `INSERT INTO queue_snapshots (queue_id, version, state) VALUES (?, ?, CAST(? AS TEXT))
       ON CONFLICT (queue_id) DO UPDATE SET version = excluded.version, state = excluded.state WHERE queue_snapshots.version < excluded.version`,
    ),
    advanceSnapshot: db.prepare<[number, string, number]>('UPDATE queue_projections SET snapshot_version = ? WHERE queue_id = ? AND snapshot_version < ?'),
    // A record older than the cutoff (expired, not swept yet) is replaced; a live one is a conflict.
    insertIdem: db.prepare<[string, string, string, number, string, string, string]>(
      `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
         response = excluded.response, created_at = excluded.created_at WHERE idempotency_keys.created_at < ?`,
    ),
    getIdem: db.prepare<[string, string, string], { fingerprint: string; status: number; response: string }>(
      'SELECT fingerprint, status, response FROM idempotency_keys WHERE user_id = ? AND key = ? AND created_at >= ?',
    ),
    load: db.prepare<[string], { state: string; snapshot_version: number; version: number }>(
      `SELECT s.state, s.version AS snapshot_version, p.version FROM queue_projections p
       JOIN queue_snapshots s ON s.queue_id = p.queue_id WHERE p.queue_id = ?`,
    ),
    dataVersion: db.prepare<[], { data_version: number }>('PRAGMA data_version'),
    logStart: db.prepare<[string], { s: number | null }>('SELECT MIN(sequence_number) AS s FROM queue_events WHERE queue_id = ?'),
    sweepIdem: db.prepare('DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE created_at < ? LIMIT ?)'),
    // The parties' records of applied commands ([PA11], migration 022) expire with the others.
    sweepPartyCommands: db.prepare('DELETE FROM party_commands WHERE rowid IN (SELECT rowid FROM party_commands WHERE created_at < ? LIMIT ?)'),
    // Events at or below their queue's snapshot, older than the cutoff, and before the position
    // bound that trimBound() found: no load needs them. The newest event of all is kept, so
    // that positions (rowids without AUTOINCREMENT, migration 023) are never handed out again.
    trim: db.prepare<[number, string, number]>(
      `DELETE FROM queue_events WHERE position IN (
         SELECT e.position FROM queue_events e JOIN queue_projections p ON p.queue_id = e.queue_id
         WHERE e.position < ? AND e.position < (SELECT MAX(position) FROM queue_events)
           AND e.created_at < ? AND e.sequence_number <= p.snapshot_version ORDER BY e.position LIMIT ?)`,
    ),
    positions: db.prepare<[], { lo: number | null; hi: number | null }>('SELECT MIN(position) AS lo, MAX(position) AS hi FROM queue_events'),
    createdAtOrAfter: db.prepare<[number], { created_at: string }>('SELECT created_at FROM queue_events WHERE position >= ? ORDER BY position LIMIT 1'),
    read: db.prepare<[string, number, number], EventRow>(
      'SELECT * FROM queue_events WHERE queue_id = ? AND sequence_number > ? ORDER BY sequence_number LIMIT ?',
    ),
    readAll: db.prepare<[number, number], EventRow>('SELECT * FROM queue_events WHERE position > ? ORDER BY position LIMIT ?'),
    getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
    setSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    // The member index (migration 004), rewritten from the state when membership may have changed.
    deleteMembers: db.prepare('DELETE FROM queue_members WHERE queue_id = ?'),
    insertMember: db.prepare('INSERT INTO queue_members (queue_id, user_id, role) VALUES (?, ?, ?)'),
  };
}

interface UserEventRow {
  user_id: string;
  sequence_number: number;
  type: string;
  data: string;
  device_id: string | null;
  created_at: string;
}

interface PlaybackRow {
  device_id: string;
  state: string;
  client_ts: number;
  server_ts: number;
  sequence_number: number;
}

interface DeviceRow {
  device_id: string;
  name: string | null;
  type: string | null;
  first_seen: number;
  last_seen: number;
}

const rowToUserEvent = (r: UserEventRow): UserEvent => ({
  userId: r.user_id,
  sequenceNumber: r.sequence_number,
  type: r.type,
  deviceId: r.device_id,
  timestamp: r.created_at,
  data: JSON.parse(r.data),
});
const rowToPlayback = (r: PlaybackRow): PlaybackRecord => ({
  deviceId: r.device_id,
  state: JSON.parse(r.state),
  clientTs: r.client_ts,
  serverTs: r.server_ts,
  sequenceNumber: r.sequence_number,
});
const rowToDevice = (r: DeviceRow): DeviceRecord => ({
  deviceId: r.device_id,
  name: r.name,
  type: r.type,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
});

type UserStatements = ReturnType<typeof prepareUserStatements>;

/** Statements of the user sync stream, playback state and devices (migration 002). */
function prepareUserStatements(db: Database.Database) {
  return {
    version: db.prepare<[string], { version: number }>('SELECT version FROM user_streams WHERE user_id = ?'),
    setVersion: db.prepare('INSERT INTO user_streams (user_id, version) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET version = excluded.version'),
    insertEvent: db.prepare('INSERT INTO user_sync_events (user_id, sequence_number, type, data, device_id, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    readEvents: db.prepare<[string, number, number], UserEventRow>(
      'SELECT * FROM user_sync_events WHERE user_id = ? AND sequence_number > ? ORDER BY sequence_number LIMIT ?',
    ),
    listPlayback: db.prepare<[string], PlaybackRow>(
      'SELECT device_id, state, client_ts, server_ts, sequence_number FROM device_playback_state WHERE user_id = ? ORDER BY sequence_number',
    ),
    upsertPlayback: db.prepare(
      `INSERT INTO device_playback_state (user_id, device_id, state, client_ts, server_ts, sequence_number) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET state = excluded.state, client_ts = excluded.client_ts,
         server_ts = excluded.server_ts, sequence_number = excluded.sequence_number`,
    ),
    upsertDevice: db.prepare<[string, string, string | null, string | null, number, number], DeviceRow>(
      `INSERT INTO devices (user_id, device_id, name, type, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET name = COALESCE(excluded.name, devices.name),
         type = COALESCE(excluded.type, devices.type), first_seen = MIN(devices.first_seen, excluded.first_seen),
         last_seen = MAX(devices.last_seen, excluded.last_seen)
       RETURNING device_id, name, type, first_seen, last_seen`,
    ),
    listDevices: db.prepare<[string], DeviceRow>(
      'SELECT device_id, name, type, first_seen, last_seen FROM devices WHERE user_id = ? ORDER BY last_seen DESC, device_id',
    ),
  };
}

/** The failures appendIn raises before it changed anything (with at most one idempotency key). */
const cleanAppendFailure = (err: unknown): boolean => err instanceof VersionConflictError || err instanceof IdempotencyConflict;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  /** The connection, for feature stores that keep their own tables (see src/store/README.md). */
  readonly db: Database.Database;
  private stmts: Statements | null = null;
  private userStmts: UserStatements | null = null;

  /** Also read by the feature stores whose records expire with the idempotency records (parties). */
  readonly retention: RetentionOptions;

  readonly file: string;
  private readonly fold: QueueFold;
  /**
   * `fold` is the queue domain's fold, which the store runs in its transactions (the
   * snapshot plus later events, the member index); src/stores.ts gives the real one.
   */
  constructor(file: string, fold: QueueFold, retention: RetentionOptions = {}) {
    this.file = file;
    this.fold = fold;
    this.retention = retention;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed transaction survives a crash of the process
    // (it is in the WAL file); only an OS crash / power loss may lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    this.group = new GroupCommit(this.db);
    this.appendTx = this.db.transaction((input: AppendInput) => this.appendIn(input));
    this.userAppendTx = this.db.transaction((input: UserAppendInput) => this.appendUserIn(input));
    this.snapshotTx = this.db.transaction((queueId: string, version: number, json: Buffer) => {
      if (this.s.putNewerSnapshot.run(queueId, version, json).changes > 0) this.s.advanceSnapshot.run(version, queueId, version);
    });
  }

  private get s(): Statements {
    if (this.stmts === null) throw new Error('store not migrated: call migrate() first');
    return this.stmts;
  }

  /** Applies the migrations not applied yet (up to `upTo`: tests make files of an older schema). */
  async migrate(upTo = Infinity): Promise<string[]> {
    const done = new Set(
      this.db
        .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
        .all()
        .map((r) => r.version),
    );
    const applied: string[] = [];
    for (const m of loadMigrations('sqlite')) {
      if (done.has(m.version) || m.version > upTo) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      })();
      applied.push(m.name);
    }
    this.stmts = prepareStatements(this.db);
    this.userStmts = prepareUserStatements(this.db);
    return applied;
  }

  /** Group commit (issue 21): appends of one event-loop turn share a transaction. */
  private readonly group: GroupCommit;

  /** The queue append, as a savepoint of the group's transaction; built once. */
  private readonly appendTx: Database.Transaction<(input: AppendInput) => QueueEvent[]>;

  /** A snapshot written after its append (snapshotLater), the same way. */
  private readonly snapshotTx: Database.Transaction<(queueId: string, version: number, json: Buffer) => void>;

  /** A user-stream append, the same way. */
  private readonly userAppendTx: Database.Transaction<(input: UserAppendInput) => UserAppended>;

  /** WAL checkpoints on a thread of their own, started with the first write (not for a read-only CLI command). */
  checkpointer: Checkpointer | null = null;

  private startCheckpoints(): void {
    if (this.checkpointer === null && this.file !== ':memory:') this.checkpointer = new Checkpointer(this.db, this.file, this.group);
  }

  commitStats(): { transactions: number; writes: number; redone: number } {
    return this.group.stats;
  }

  /**
   * Runs `write` (a transaction function of this connection, synchronous) in the next group
   * transaction, settling once it committed: other features' small writes on this file
   * (plays, radio history) share the queue writes' commit instead of paying one each.
   */
  grouped<T>(write: () => T): Promise<T> {
    this.startCheckpoints();
    return this.group.run(write);
  }

  append(input: AppendInput): Promise<QueueEvent[]> {
    this.startCheckpoints();
    // Without a second idempotency key, the append decides before it writes: a stale version
    // or a taken key throws before any change, so it needs no savepoint of its own.
    const plain = input.idempotencyMany?.length ? undefined : { run: () => this.appendIn(input), clean: cleanAppendFailure };
    return this.group.run(() => this.appendTx(input), plain);
  }

  private appendIn(input: AppendInput): QueueEvent[] {
    const s = this.s;
    if (input.expectedVersion > 0 && input.events.length > 0 && !input.idempotency && !input.idempotencyMany?.length) return this.advanceIn(input);
    const head = s.version.get(input.queueId);
    const current = head?.version ?? 0;
    if (current !== input.expectedVersion) throw new VersionConflictError(input.queueId, input.expectedVersion, current);
    // The idempotency records before the events: a taken key fails the append before it wrote
    // anything (with one key, the append can then run outside a savepoint: see append).
    const idem = input.idempotency;
    const many = input.idempotencyMany;
    if (idem || many) {
      const now = new Date().toISOString();
      const cutoff = this.idemCutoff();
      if (idem) {
        const r = s.insertIdem.run(idem.userId, idem.key, idem.fingerprint, idem.response.status, JSON.stringify(idem.response.body ?? null), now, cutoff);
        if (r.changes === 0) throw new IdempotencyConflict(idem.userId, idem.key);
      }
      for (const m of many ?? []) {
        const r = s.insertIdem.run(m.userId, m.key, m.fingerprint, m.response.status, JSON.stringify(m.response.body ?? null), now, cutoff);
        if (r.changes === 0) throw new IdempotencyConflict(m.userId, m.key);
      }
    }
    const out = this.insertEvents(input);
    if (out.length > 0) {
      const st: QueueState = input.state;
      // A queue's first append always stores its snapshot here.
      const snapshot = !head || this.snapshotInline(input.queueId, st, head.snapshot_version);
      if (snapshot) s.putSnapshot.run(input.queueId, st.version, JSON.stringify(st));
      const row = {
        queue_id: input.queueId,
        owner_id: st.ownerId,
        name: st.name,
        type: st.type,
        version: st.version,
        item_count: st.items.length,
        deleted: st.deleted ? 1 : 0,
        updated_at: st.updatedAt,
        snapshot_version: snapshot ? st.version : head!.snapshot_version,
      };
      if (head) s.updateHead.run(row);
      else s.insertHead.run(row);
      this.writeMembers(input);
    }
    return out;
  }

  /**
   * appendIn for the common case, an existing queue's events without idempotency keys: the
   * header's version check and update are one statement, run first, so a stale version still
   * throws before anything changed (the append stays plain, see append).
   */
  private advanceIn(input: AppendInput): QueueEvent[] {
    const s = this.s;
    const { queueId, expectedVersion } = input;
    const st: QueueState = input.state;
    const head = s.advanceHead.get(st.ownerId, st.name, st.type, st.version, st.items.length, st.deleted ? 1 : 0, st.updatedAt, queueId, expectedVersion);
    if (head === undefined) throw new VersionConflictError(queueId, expectedVersion, s.version.get(queueId)?.version ?? 0);
    const out = this.insertEvents(input);
    if (this.snapshotInline(queueId, st, head.snapshot_version)) {
      s.putSnapshot.run(queueId, st.version, JSON.stringify(st));
      s.setSnapshotVersion.run(st.version, queueId);
    }
    this.writeMembers(input);
    return out;
  }

  /**
   * Whether an append that left `state` must store its snapshot in its own transaction: one is
   * due since `snapshotVersion`, and the queue is short. A long queue's due snapshot is
   * serialised in slices and written in a later transaction instead (snapshotLater, started
   * here): one JSON.stringify of it would hold the event loop.
   */
  private snapshotInline(queueId: string, state: QueueState, snapshotVersion: number): boolean {
    if (!snapshotDue(state.version - snapshotVersion, state.items.length, this.retention)) return false;
    if (state.items.length <= INLINE_SNAPSHOT_ITEMS) return true;
    this.snapshotLater(queueId, state);
    return false;
  }

  private insertEvents(input: AppendInput): QueueEvent[] {
    const ins = this.s.insertEvent;
    return input.events.map((e, i) => {
      const seq = input.expectedVersion + i + 1;
      ins.run(input.queueId, seq, e.type, JSON.stringify(e.data), e.userId, e.deviceId, e.timestamp);
      return { ...e, queueId: input.queueId, sequenceNumber: seq } as QueueEvent;
    });
  }

  /** The member index, rewritten from the state when an event may have changed membership. */
  private writeMembers(input: AppendInput): void {
    if (!input.events.some((e) => this.fold.touchesAccess(e.type))) return;
    this.s.deleteMembers.run(input.queueId);
    for (const m of this.fold.members(input.state)) this.s.insertMember.run(input.queueId, m.userId, m.role);
  }

  /** Queues whose snapshot is being serialised. */
  private readonly snapshotting = new Set<string>();

  /**
   * Writes a due snapshot of a long queue after the append that made it due: serialised a
   * slice per turn, then stored with the header's snapshot version in a later group
   * transaction, never older than the one there. Until it lands a load folds a few more events.
   */
  private snapshotLater(queueId: string, state: QueueState): void {
    if (this.snapshotting.has(queueId)) return;
    this.snapshotting.add(queueId);
    void stateJsonBytesInSlices(state)
      .then((json) => (this.db.open ? this.group.run(() => this.snapshotTx(queueId, state.version, json)) : undefined))
      .catch(() => undefined) // the next due append tries again
      .finally(() => this.snapshotting.delete(queueId));
  }

  async loadQueue(queueId: string): Promise<QueueState | null> {
    // One synchronous read of the snapshot and the events after it: nothing can come between.
    const row = this.s.load.get(queueId);
    if (!row) return null;
    let state = this.fold.upgrade(JSON.parse(row.state) as QueueState);
    if (row.version > row.snapshot_version) {
      for (const r of this.s.read.all(queueId, row.snapshot_version, row.version - row.snapshot_version))
        state = this.fold.evolve(state, stripPosition(rowToEvent(r)));
    }
    return state;
  }

  private dataVersion = 0;
  private dataVersionAt = -Infinity;

  /**
   * Changes only when another connection commits to the file (a CLI import, say). Read at
   * most once a millisecond: a statement per request costs as much as the lookup it saves.
   */
  foreignWrites(): number {
    const t = performance.now();
    if (t - this.dataVersionAt >= 1) {
      this.dataVersion = this.s.dataVersion.get()!.data_version;
      this.dataVersionAt = t;
    }
    return this.dataVersion;
  }

  async queueVersion(queueId: string): Promise<number | null> {
    return this.s.version.get(queueId)?.version ?? null;
  }

  async logStart(queueId: string): Promise<number | null> {
    return this.s.logStart.get(queueId)?.s ?? null;
  }

  async sweep(o: { idempotencyBefore: number; eventsBefore?: number; limit?: number }): Promise<SweepResult> {
    const limit = o.limit ?? 10_000;
    const cutoff = new Date(o.idempotencyBefore).toISOString();
    const idempotencyRecords = this.s.sweepIdem.run(cutoff, limit).changes + this.s.sweepPartyCommands.run(cutoff, limit).changes;
    let events = 0;
    if (o.eventsBefore !== undefined) {
      const cutoffIso = new Date(o.eventsBefore).toISOString();
      events = this.s.trim.run(this.trimBound(cutoffIso), cutoffIso, limit).changes;
    }
    return { idempotencyRecords, events };
  }

  /**
   * The first position whose event is not older than the cutoff, found by bisecting the
   * positions: events are appended in time order (to the millisecond, give or take the
   * writes of one turn), so no index on the time is needed for it (migration 023).
   */
  private trimBound(cutoffIso: string): number {
    const { lo, hi } = this.s.positions.get()!;
    if (lo === null || hi === null) return 0;
    let a = lo;
    let b = hi + 1;
    while (a < b) {
      const mid = Math.floor((a + b) / 2);
      const row = this.s.createdAtOrAfter.get(mid);
      if (row && row.created_at < cutoffIso) a = mid + 1;
      else b = mid;
    }
    return a;
  }

  /** Records created before this (ISO) are expired. */
  private idemCutoff(): string {
    return idempotencyCutoff(this.retention);
  }

  async readEvents(queueId: string, afterSequence: number, limit: number): Promise<QueueEvent[]> {
    return this.s.read.all(queueId, afterSequence, limit).map((r) => stripPosition(rowToEvent(r)));
  }

  async listMemberQueues(userId: string, limit: number, cursor: string | null): Promise<Page<QueueSummary & { role: string }>> {
    const c = cursor ? decodeCursor(cursor) : null;
    const rows = this.db
      .prepare<
        unknown[],
        { queue_id: string; name: string; type: string; owner_id: string; version: number; item_count: number; updated_at: string; role: string }
      >(
        `SELECT p.queue_id, p.name, p.type, p.owner_id, p.version, p.item_count, p.updated_at, m.role
         FROM queue_members m JOIN queue_projections p ON p.queue_id = m.queue_id
         WHERE m.user_id = ? AND p.deleted = 0 ${c ? 'AND (p.updated_at, p.queue_id) < (?, ?)' : ''}
         ORDER BY p.updated_at DESC, p.queue_id DESC LIMIT ?`,
      )
      .all(...(c ? [userId, c[0], c[1], limit + 1] : [userId, limit + 1]));
    const items = rows.slice(0, limit).map((r) => ({
      id: r.queue_id,
      name: r.name,
      type: r.type,
      ownerId: r.owner_id,
      version: r.version,
      itemCount: r.item_count,
      updatedAt: r.updated_at,
      role: r.role,
    }));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.updatedAt, last.id) : null };
  }

  async getIdempotency(userId: string, key: string): Promise<IdempotencyRecord | null> {
    const r = this.s.getIdem.get(userId, key, this.idemCutoff());
    return r ? { fingerprint: r.fingerprint, status: r.status, body: JSON.parse(r.response) } : null;
  }

  async readAll(afterPosition: number, limit: number): Promise<ExportedEvent[]> {
    return this.s.readAll.all(afterPosition, limit).map(rowToEvent);
  }

  async getSetting(key: string): Promise<string | null> {
    return this.s.getSetting.get(key)?.value ?? null;
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    this.s.setSetting.run(key, value);
    return (await this.getSetting(key))!;
  }

  private get us(): UserStatements {
    if (this.userStmts === null) throw new Error('store not migrated: call migrate() first');
    return this.userStmts;
  }

  appendUserEvent(input: UserAppendInput): Promise<UserAppended> {
    this.startCheckpoints();
    return this.group.run(() => this.userAppendTx(input));
  }

  /** The write lock is held from the first read, so decide sees what no other writer can change before the commit. */
  private appendUserIn(input: UserAppendInput): UserAppended {
    const s = this.us;
    const { userId } = input;
    const version = s.version.get(userId)?.version ?? 0;
    const d = input.decide({ version, playback: s.listPlayback.all(userId).map(rowToPlayback) });
    const seq = version + 1;
    const event: UserEvent = { ...d.event, userId, sequenceNumber: seq };
    s.insertEvent.run(userId, seq, event.type, JSON.stringify(event.data), event.deviceId, event.timestamp);
    s.setVersion.run(userId, seq);
    let playback: PlaybackRecord | null = null;
    if (d.playback) {
      playback = { ...d.playback, sequenceNumber: seq };
      s.upsertPlayback.run(userId, playback.deviceId, JSON.stringify(playback.state), playback.clientTs, playback.serverTs, seq);
    }
    if (d.touch) s.upsertDevice.get(userId, d.touch.deviceId, null, null, d.touch.at, d.touch.at);
    const appended: UserAppended = { event, playback };
    const idem = input.idempotency;
    if (idem) {
      const res = idem.response(appended);
      const r = this.s.insertIdem.run(
        userId,
        idem.key,
        idem.fingerprint,
        res.status,
        JSON.stringify(res.body ?? null),
        new Date().toISOString(),
        this.idemCutoff(),
      );
      if (r.changes === 0) throw new IdempotencyConflict(userId, idem.key);
    }
    return appended;
  }

  async readUserEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]> {
    return this.us.readEvents.all(userId, afterSequence, limit).map(rowToUserEvent);
  }

  async userVersion(userId: string): Promise<number> {
    return this.us.version.get(userId)?.version ?? 0;
  }

  async listPlayback(userId: string): Promise<PlaybackRecord[]> {
    return this.us.listPlayback.all(userId).map(rowToPlayback);
  }

  async upsertDevice(userId: string, deviceId: string, info: { name?: string; type?: string }, at: number): Promise<DeviceRecord> {
    return rowToDevice(this.us.upsertDevice.get(userId, deviceId, info.name ?? null, info.type ?? null, at, at)!);
  }

  async listDevices(userId: string): Promise<DeviceRecord[]> {
    return this.us.listDevices.all(userId).map(rowToDevice);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.group.drain();
    await this.checkpointer?.close();
    this.checkpointer = null;
    this.db.close();
  }
}
