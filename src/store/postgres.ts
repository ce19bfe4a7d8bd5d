// Server store: PostgreSQL through a pg.Pool. Appends to one queue are serialised by
// a row lock on its projection (SELECT ... FOR UPDATE); a brand-new stream has no row
// to lock yet, so there the UNIQUE (queue_id, sequence_number) constraint decides.
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { VersionConflictError } from '../errors.ts';
import type { PlaybackRecord, PlaybackState } from '../model/playback.ts';
import type { QueueEvent, QueueFold, QueueState } from '../model/queue.ts';
import { loadMigrations } from './migrations.ts';
import { PgGroupCommit } from './pg-group-commit.ts';
import { stateJsonInSlices } from './snapshot-json.ts';
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

/** A counting semaphore: at most `n` holders at once, the others wait in order. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  private free: number;
  constructor(free: number) {
    this.free = free;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** What an append needs of a queue's header row. */
type Head = { version: number; snapshot_version: number };

/** Locks a queue's header row in the client's transaction; null when the queue has none yet. */
async function lockHead(c: pg.PoolClient, queueId: string): Promise<Head | null> {
  const r = await c.query<Head>('SELECT version, snapshot_version FROM queue_projections WHERE queue_id = $1 FOR UPDATE', [queueId]);
  return r.rows[0] ?? null;
}

/** A queue's header row locked in an open transaction (withStreamLock). */
interface HeldStream {
  queueId: string;
  client: pg.PoolClient;
  head: Head | null;
}

export interface PostgresStoreOptions extends RetentionOptions {
  connectionString: string;
  max?: number;
}

/** An idempotency record; one older than $6 (expired, not swept yet) is replaced, a live one is a conflict. */
const INSERT_IDEM = `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, response, created_at)
  VALUES ($1, $2, $3, $4, $5, now())
  ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
    response = excluded.response, created_at = excluded.created_at WHERE idempotency_keys.created_at < $6::timestamptz`;

interface EventRow {
  position: string | number; // BIGSERIAL: pg returns int8 as a string
  queue_id: string;
  sequence_number: number;
  type: string;
  data: unknown; // JSONB: parsed by pg
  user_id: string;
  device_id: string | null;
  created_at: Date;
}

/** Arbitrary constant key of the advisory lock that serialises migrations across instances. */
const MIGRATION_LOCK_KEY = 7_340_021_913;

// TIMESTAMPTZ comes back as a Date; toISOString gives the same millisecond ISO string we stored.
const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

function rowToEvent(r: EventRow): ExportedEvent {
  return {
    position: Number(r.position),
    queueId: r.queue_id,
    sequenceNumber: r.sequence_number,
    type: r.type,
    data: r.data,
    userId: r.user_id,
    deviceId: r.device_id,
    timestamp: iso(r.created_at),
  } as ExportedEvent;
}

function stripPosition({ position: _p, ...e }: ExportedEvent): QueueEvent {
  return e as QueueEvent;
}

interface UserEventRow {
  user_id: string;
  sequence_number: number;
  type: string;
  data: Record<string, unknown>;
  device_id: string | null;
  created_at: Date;
}

// BIGINT (epoch ms) columns come back as strings from pg.
interface PlaybackRow {
  device_id: string;
  state: PlaybackState;
  client_ts: string;
  server_ts: string;
  sequence_number: number;
}

interface DeviceRow {
  device_id: string;
  name: string | null;
  type: string | null;
  first_seen: string;
  last_seen: string;
}

const rowToUserEvent = (r: UserEventRow): UserEvent => ({
  userId: r.user_id,
  sequenceNumber: r.sequence_number,
  type: r.type,
  deviceId: r.device_id,
  timestamp: iso(r.created_at),
  data: r.data,
});
const rowToPlayback = (r: PlaybackRow): PlaybackRecord => ({
  deviceId: r.device_id,
  state: r.state,
  clientTs: Number(r.client_ts),
  serverTs: Number(r.server_ts),
  sequenceNumber: r.sequence_number,
});
const rowToDevice = (r: DeviceRow): DeviceRecord => ({
  deviceId: r.device_id,
  name: r.name,
  type: r.type,
  firstSeen: Number(r.first_seen),
  lastSeen: Number(r.last_seen),
});

const PLAYBACK_COLUMNS = 'device_id, state, client_ts, server_ts, sequence_number';
const DEVICE_COLUMNS = 'device_id, name, type, first_seen, last_seen';
const UPSERT_DEVICE = `INSERT INTO devices (user_id, device_id, name, type, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $5)
  ON CONFLICT (user_id, device_id) DO UPDATE SET name = COALESCE(excluded.name, devices.name),
    type = COALESCE(excluded.type, devices.type), first_seen = LEAST(devices.first_seen, excluded.first_seen),
    last_seen = GREATEST(devices.last_seen, excluded.last_seen)
  RETURNING ${DEVICE_COLUMNS}`;

const EVENT_COLUMNS = 'position, queue_id, sequence_number, type, data, user_id, device_id, created_at';

/** Runs fn in a transaction on one client: rolled back on any error, client always released. */
export async function pgTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      // The connection is unusable: destroy it instead of returning it to the pool.
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  /** The pool, for feature stores that keep their own tables (see src/store/README.md). */
  readonly pool: pg.Pool;
  private readonly held = new AsyncLocalStorage<HeldStream>();
  private readonly lockSlots: Slots;
  private closed: Promise<void> | null = null;

  /** Also read by the feature stores whose records expire with the idempotency records (parties). */
  readonly retention: RetentionOptions;

  private readonly fold: QueueFold;
  /**
   * `fold` is the queue domain's fold, which the store runs in its transactions (the
   * snapshot plus later events, the member index); src/stores.ts gives the real one.
   */
  constructor(opts: PostgresStoreOptions, fold: QueueFold) {
    this.fold = fold;
    this.retention = opts;
    // A write holds one connection for its transaction (the queue's row lock): room for 20 at once.
    this.pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.max ?? 20 });
    this.lockSlots = new Slots(Math.max(1, Math.floor((opts.max ?? 20) / 2)));
    // An idle client losing its connection (server restart, terminated backend) emits
    // 'error' on the pool; without a listener that would crash the process. The next
    // query simply gets a fresh connection.
    this.pool.on('error', () => {});
    this.group = new PgGroupCommit(this.pool, fold, opts, () => this.idemCutoff());
  }

  /** Appends outside a stream lock, batched (issue 21). */
  private readonly group: PgGroupCommit;

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return pgTransaction(this.pool, fn);
  }

  async migrate(): Promise<string[]> {
    // Each step takes the transaction-scoped advisory lock first and re-reads what is
    // applied under it, so two instances starting together apply each migration once.
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
    });
    const applied: string[] = [];
    for (const m of loadMigrations('postgres')) {
      const did = await this.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        const done = await c.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
        if (done.rowCount) return false;
        await c.query(m.sql); // no parameters: simple protocol, so a file may hold many statements
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        return true;
      });
      if (did) applied.push(m.name);
    }
    return applied;
  }

  async append(input: AppendInput): Promise<QueueEvent[]> {
    const { queueId, expectedVersion } = input;
    const held = this.heldFor(queueId);
    if (!held) {
      // Group commit: decided on the caller's state, version-checked in the database.
      const r = await this.group.run(input);
      if (r.snapshotDue) this.snapshotLater(queueId, input.state);
      return r.events;
    }
    try {
      // Inside withStreamLock: the row is locked already and the transaction is open.
      const r = await this.appendOn(held.client, held.head, input);
      held.head = r.head;
      return r.out;
    } catch (err) {
      // Two creators of a new stream: neither had a row to lock, the loser hits the unique
      // key once the winner committed. Report it as the version conflict it is.
      const e = err as { code?: string; table?: string };
      if (e.code === '23505' && e.table === 'queue_events') {
        const r = await this.pool.query<{ version: number }>('SELECT version FROM queue_projections WHERE queue_id = $1', [queueId]);
        throw new VersionConflictError(queueId, expectedVersion, r.rows[0]?.version ?? 0);
      }
      throw err;
    }
  }

  /** Queues whose snapshot is being written after the answer. */
  private readonly snapshotting = new Set<string>();

  /**
   * Writes a due snapshot after the append that made it due has been answered: the state
   * (immutable, as of its version) and the header's snapshot version in one statement,
   * never older than the one there. Until it lands a load folds a few more events.
   */
  private snapshotLater(queueId: string, state: QueueState): void {
    if (this.snapshotting.has(queueId)) return;
    this.snapshotting.add(queueId);
    void this.putSnapshot(queueId, state)
      .catch(() => undefined) // the next due append tries again
      .finally(() => this.snapshotting.delete(queueId));
  }

  async putSnapshot(queueId: string, state: QueueState): Promise<void> {
    const json = await stateJsonInSlices(state);
    // The header row first, then the snapshot row: the order an append takes them in (its
    // FOR UPDATE on the header, then a snapshot); the other order deadlocked with it.
    await this.pool.query(
      `WITH h AS (
         UPDATE queue_projections SET snapshot_version = $2 WHERE queue_id = $1 AND snapshot_version < $2 RETURNING queue_id)
       INSERT INTO queue_snapshots (queue_id, version, state) SELECT queue_id, $2, $3::jsonb FROM h
       ON CONFLICT (queue_id) DO UPDATE SET version = excluded.version, state = excluded.state
         WHERE queue_snapshots.version < excluded.version`,
      [queueId, state.version, json],
    );
  }

  commitStats(): { transactions: number; writes: number } {
    return this.group.stats;
  }

  /** An append on a transaction that holds the queue's header row (or knows there is none). */
  private async appendOn(c: pg.PoolClient, head: Head | null, input: AppendInput): Promise<{ out: QueueEvent[]; head: Head | null }> {
    const { queueId, expectedVersion, events } = input;
    /** The header's snapshot version after this append; null when nothing was appended. */
    let snapshotAt: number | null = null;
    const current = head?.version ?? 0;
    if (current !== expectedVersion) throw new VersionConflictError(queueId, expectedVersion, current);
    const out: QueueEvent[] = events.map((e, i) => ({ ...e, queueId, sequenceNumber: expectedVersion + i + 1 }) as QueueEvent);
    if (out.length > 0) {
      const st: QueueState = input.state;
      const snapshot = !head || snapshotDue(st.version - head.snapshot_version, st.items.length, this.retention);
      snapshotAt = snapshot ? st.version : head!.snapshot_version;
      if (snapshot) {
        // A snapshot: the whole state, every so many events, in its own table.
        await c.query(
          `INSERT INTO queue_snapshots (queue_id, version, state) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (queue_id) DO UPDATE SET version = excluded.version, state = excluded.state`,
          [queueId, st.version, JSON.stringify(st)],
        );
      }
      // One statement (one round trip) for all events and the header. JSON and timestamps
      // travel as text arrays and are cast in SQL: pg would turn a JS array inside `data`
      // into a Postgres array literal. ORDER BY ord keeps positions in sequence order and
      // makes racing creators of a new stream collide on sequence 1 (a unique violation).
      await c.query(
        `WITH ev AS (
           INSERT INTO queue_events (queue_id, sequence_number, type, data, user_id, device_id, created_at)
           SELECT $1, u.seq, u.type, u.data::jsonb, u.user_id, u.device_id, u.created_at::timestamptz
           FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
             WITH ORDINALITY AS u(seq, type, data, user_id, device_id, created_at, ord)
           ORDER BY u.ord
           RETURNING 1
         )
         INSERT INTO queue_projections (queue_id, owner_id, name, type, version, item_count, deleted, updated_at, snapshot_version)
         VALUES ($1, $8, $9, $10, $11, $12, $13, $14::timestamptz, $15)
         ON CONFLICT (queue_id) DO UPDATE SET owner_id = excluded.owner_id, name = excluded.name, type = excluded.type,
           version = excluded.version, item_count = excluded.item_count, deleted = excluded.deleted,
           updated_at = excluded.updated_at, snapshot_version = excluded.snapshot_version`,
        [
          queueId,
          out.map((e) => e.sequenceNumber),
          out.map((e) => e.type),
          out.map((e) => JSON.stringify(e.data)),
          out.map((e) => e.userId),
          out.map((e) => e.deviceId),
          out.map((e) => e.timestamp),
          st.ownerId,
          st.name,
          st.type,
          st.version,
          st.items.length,
          st.deleted,
          st.updatedAt,
          snapshot ? st.version : head!.snapshot_version,
        ],
      );
      // The member index (migration 004), rewritten from the state when membership may have changed.
      if (events.some((e) => this.fold.touchesAccess(e.type))) {
        const members = this.fold.members(st);
        await c.query('DELETE FROM queue_members WHERE queue_id = $1', [queueId]);
        await c.query(
          'INSERT INTO queue_members (queue_id, user_id, role) SELECT $1, u.user_id, u.role FROM unnest($2::text[], $3::text[]) AS u(user_id, role)',
          [queueId, members.map((m) => m.userId), members.map((m) => m.role)],
        );
      }
    }
    const idem = input.idempotency;
    if (idem) {
      const r = await c.query(INSERT_IDEM, [
        idem.userId,
        idem.key,
        idem.fingerprint,
        idem.response.status,
        JSON.stringify(idem.response.body ?? null),
        this.idemCutoff(),
      ]);
      if (r.rowCount === 0) throw new IdempotencyConflict(idem.userId, idem.key);
    }
    const many = input.idempotencyMany ?? [];
    // A key twice in one list is a conflict (and ON CONFLICT DO UPDATE may not touch a row twice).
    const seen = new Set<string>();
    for (const m of many) {
      const k = `${m.userId}\u0000${m.key}`;
      if (seen.has(k)) throw new IdempotencyConflict(m.userId, m.key);
      seen.add(k);
    }
    if (many.length > 0) {
      // One statement for all records; a key already there (or twice in the list) inserts fewer rows.
      const r = await c.query<{ user_id: string; key: string }>(
        `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, response, created_at)
         SELECT u.user_id, u.key, u.fingerprint, u.status, u.response, now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[]) AS u(user_id, key, fingerprint, status, response)
         ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
           response = excluded.response, created_at = excluded.created_at WHERE idempotency_keys.created_at < $6::timestamptz
         RETURNING user_id, key`,
        [
          many.map((m) => m.userId),
          many.map((m) => m.key),
          many.map((m) => m.fingerprint),
          many.map((m) => m.response.status),
          many.map((m) => JSON.stringify(m.response.body ?? null)),
          this.idemCutoff(),
        ],
      );
      if (r.rowCount !== many.length) {
        const done = new Set(r.rows.map((row) => `${row.user_id}\u0000${row.key}`));
        const lost = many.find((m) => !done.has(`${m.userId}\u0000${m.key}`)) ?? many[0]!;
        throw new IdempotencyConflict(lost.userId, lost.key);
      }
    }
    return { out, head: snapshotAt === null ? head : { version: input.state.version, snapshot_version: snapshotAt } };
  }

  async loadQueue(queueId: string): Promise<QueueState | null> {
    // The snapshot and the events after it in one statement (one snapshot of the database).
    const r = await (this.heldFor(queueId)?.client ?? this.pool).query<{ state: QueueState | null; events: EventRow[] | null }>(
      `SELECT s.state, (SELECT json_agg(e ORDER BY e.sequence_number) FROM (
           SELECT ${EVENT_COLUMNS} FROM queue_events WHERE queue_id = $1 AND sequence_number > s.version) e) AS events
       FROM queue_snapshots s WHERE s.queue_id = $1`,
      [queueId],
    );
    const row = r.rows[0];
    if (!row?.state) return null;
    let state = this.fold.upgrade(row.state);
    for (const e of row.events ?? []) state = this.fold.evolve(state, stripPosition(rowToEvent(e)));
    return state;
  }

  async queueVersion(queueId: string): Promise<number | null> {
    // Under withStreamLock the locked row is the answer, and no one else can change it.
    const held = this.heldFor(queueId);
    if (held) return held.head?.version ?? null;
    const r = await this.pool.query<{ version: number }>('SELECT version FROM queue_projections WHERE queue_id = $1', [queueId]);
    return r.rows[0]?.version ?? null;
  }

  async logStart(queueId: string): Promise<number | null> {
    const r = await this.pool.query<{ s: number | null }>('SELECT MIN(sequence_number) AS s FROM queue_events WHERE queue_id = $1', [queueId]);
    return r.rows[0]?.s ?? null;
  }

  async sweep(o: { idempotencyBefore: number; eventsBefore?: number; limit?: number }): Promise<SweepResult> {
    const limit = o.limit ?? 10_000;
    const idem = await this.pool.query('DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2)', [
      new Date(o.idempotencyBefore).toISOString(),
      limit,
    ]);
    // The parties' records of applied commands ([PA11], migration 022) expire with the others.
    const party = await this.pool.query('DELETE FROM party_commands WHERE ctid IN (SELECT ctid FROM party_commands WHERE created_at < $1 LIMIT $2)', [
      new Date(o.idempotencyBefore).toISOString(),
      limit,
    ]);
    let events = 0;
    if (o.eventsBefore !== undefined) {
      // Events at or below their queue's snapshot and older than the cutoff: no load needs them.
      const r = await this.pool.query(
        `DELETE FROM queue_events WHERE position IN (
           SELECT e.position FROM queue_events e JOIN queue_projections p ON p.queue_id = e.queue_id
           WHERE e.created_at < $1 AND e.sequence_number <= p.snapshot_version ORDER BY e.created_at LIMIT $2)`,
        [new Date(o.eventsBefore).toISOString(), limit],
      );
      events = r.rowCount ?? 0;
    }
    return { idempotencyRecords: (idem.rowCount ?? 0) + (party.rowCount ?? 0), events };
  }

  /** Records created before this (ISO) are expired. */
  private idemCutoff(): string {
    return idempotencyCutoff(this.retention);
  }

  async readEvents(queueId: string, afterSequence: number, limit: number): Promise<QueueEvent[]> {
    // Under the queue's lock, on its transaction: no second connection for the writer.
    const r = await (this.heldFor(queueId)?.client ?? this.pool).query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM queue_events WHERE queue_id = $1 AND sequence_number > $2 ORDER BY sequence_number LIMIT $3`,
      [queueId, afterSequence, limit],
    );
    return r.rows.map((row) => stripPosition(rowToEvent(row)));
  }

  async listMemberQueues(userId: string, limit: number, cursor: string | null): Promise<Page<QueueSummary & { role: string }>> {
    let c = cursor ? decodeCursor(cursor) : null;
    if (c && Number.isNaN(Date.parse(c[0]))) c = null;
    const r = await this.pool.query<{
      queue_id: string;
      name: string;
      type: string;
      owner_id: string;
      version: number;
      item_count: number;
      updated_at: Date;
      role: string;
    }>(
      `SELECT p.queue_id, p.name, p.type, p.owner_id, p.version, p.item_count, p.updated_at, m.role
       FROM queue_members m JOIN queue_projections p ON p.queue_id = m.queue_id
       WHERE m.user_id = $1 AND NOT p.deleted ${c ? 'AND (p.updated_at, p.queue_id) < ($3::timestamptz, $4)' : ''}
       ORDER BY p.updated_at DESC, p.queue_id DESC LIMIT $2`,
      c ? [userId, limit + 1, c[0], c[1]] : [userId, limit + 1],
    );
    const items = r.rows.slice(0, limit).map((row) => ({
      id: row.queue_id,
      name: row.name,
      type: row.type,
      ownerId: row.owner_id,
      version: row.version,
      itemCount: row.item_count,
      updatedAt: iso(row.updated_at),
      role: row.role,
    }));
    const last = items[items.length - 1];
    return { items, nextCursor: r.rows.length > limit && last ? encodeCursor(last.updatedAt, last.id) : null };
  }

  async getIdempotency(userId: string, key: string): Promise<IdempotencyRecord | null> {
    const r = await this.pool.query<{ fingerprint: string; status: number; response: string }>(
      'SELECT fingerprint, status, response FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at >= $3::timestamptz',
      [userId, key, this.idemCutoff()],
    );
    const row = r.rows[0];
    return row ? { fingerprint: row.fingerprint, status: row.status, body: JSON.parse(row.response) } : null;
  }

  async readAll(afterPosition: number, limit: number): Promise<ExportedEvent[]> {
    const r = await this.pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM queue_events WHERE position > $1 ORDER BY position LIMIT $2`, [
      afterPosition,
      limit,
    ]);
    return r.rows.map(rowToEvent);
  }

  async getSetting(key: string): Promise<string | null> {
    const r = await this.pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
    return r.rows[0]?.value ?? null;
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    await this.pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [key, value]);
    return (await this.getSetting(key))!;
  }

  async appendUserEvent(input: UserAppendInput): Promise<UserAppended> {
    const { userId } = input;
    return this.tx(async (c) => {
      // Every append of a user locks the user's stream row, created first when missing:
      // a second inserter waits on the first and then finds the row, so there is always
      // a row to lock and decide always sees the committed state of every earlier append.
      await c.query('INSERT INTO user_streams (user_id, version) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING', [userId]);
      const v = await c.query<{ version: number }>('SELECT version FROM user_streams WHERE user_id = $1 FOR UPDATE', [userId]);
      const version = v.rows[0]!.version;
      const rows = await c.query<PlaybackRow>(`SELECT ${PLAYBACK_COLUMNS} FROM device_playback_state WHERE user_id = $1 ORDER BY sequence_number`, [userId]);
      const d = input.decide({ version, playback: rows.rows.map(rowToPlayback) });
      const seq = version + 1;
      const event: UserEvent = { ...d.event, userId, sequenceNumber: seq };
      await c.query(
        `INSERT INTO user_sync_events (user_id, sequence_number, type, data, device_id, created_at)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6::timestamptz)`,
        [userId, seq, event.type, JSON.stringify(event.data), event.deviceId, event.timestamp],
      );
      await c.query('UPDATE user_streams SET version = $2 WHERE user_id = $1', [userId, seq]);
      let playback: PlaybackRecord | null = null;
      if (d.playback) {
        playback = { ...d.playback, sequenceNumber: seq };
        await c.query(
          `INSERT INTO device_playback_state (user_id, device_id, state, client_ts, server_ts, sequence_number)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6)
           ON CONFLICT (user_id, device_id) DO UPDATE SET state = excluded.state, client_ts = excluded.client_ts,
             server_ts = excluded.server_ts, sequence_number = excluded.sequence_number`,
          [userId, playback.deviceId, JSON.stringify(playback.state), playback.clientTs, playback.serverTs, seq],
        );
      }
      if (d.touch) await c.query(UPSERT_DEVICE, [userId, d.touch.deviceId, null, null, d.touch.at]);
      const appended: UserAppended = { event, playback };
      const idem = input.idempotency;
      if (idem) {
        const res = idem.response(appended);
        const r = await c.query(INSERT_IDEM, [userId, idem.key, idem.fingerprint, res.status, JSON.stringify(res.body ?? null), this.idemCutoff()]);
        if (r.rowCount === 0) throw new IdempotencyConflict(userId, idem.key);
      }
      return appended;
    });
  }

  async readUserEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]> {
    const r = await this.pool.query<UserEventRow>(
      `SELECT user_id, sequence_number, type, data, device_id, created_at FROM user_sync_events
       WHERE user_id = $1 AND sequence_number > $2::bigint ORDER BY sequence_number LIMIT $3`,
      // ::bigint: a resume point past 2^31 (a client's garbage) reads nothing instead of
      // failing the INTEGER cast; SQLite compares any integer as is.
      [userId, afterSequence, limit],
    );
    return r.rows.map(rowToUserEvent);
  }

  async userVersion(userId: string): Promise<number> {
    const r = await this.pool.query<{ version: number }>('SELECT version FROM user_streams WHERE user_id = $1', [userId]);
    return r.rows[0]?.version ?? 0;
  }

  async listPlayback(userId: string): Promise<PlaybackRecord[]> {
    const r = await this.pool.query<PlaybackRow>(`SELECT ${PLAYBACK_COLUMNS} FROM device_playback_state WHERE user_id = $1 ORDER BY sequence_number`, [userId]);
    return r.rows.map(rowToPlayback);
  }

  async upsertDevice(userId: string, deviceId: string, info: { name?: string; type?: string }, at: number): Promise<DeviceRecord> {
    const r = await this.pool.query<DeviceRow>(UPSERT_DEVICE, [userId, deviceId, info.name ?? null, info.type ?? null, at]);
    return rowToDevice(r.rows[0]!);
  }

  async listDevices(userId: string): Promise<DeviceRecord[]> {
    const r = await this.pool.query<DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY last_seen DESC, device_id COLLATE "C"`,
      [userId], // "C": code-point order, as in SQLite
    );
    return r.rows.map(rowToDevice);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    // pool.end() throws when called twice; remember the first call instead.
    this.closed ??= this.pool.end();
    return this.closed;
  }

  /** A session advisory lock per queue; Postgres grants waiters in turn. */
  /**
   * The stream lock is the queue's header row, locked FOR UPDATE in a transaction that `fn`'s
   * append then uses (found through AsyncLocalStorage): one write costs BEGIN, the locking
   * read, one statement for events and header, COMMIT. Writers on other instances wait for
   * the row instead of racing their versions. A queue with no row yet (being created) locks
   * nothing; there the unique (queue, sequence) key decides.
   */
  async withStreamLock<T>(queueId: string, fn: () => Promise<T>): Promise<T> {
    // At most half the pool holds locks, so what runs inside (a read of events, an offline
    // batch's own queries) always finds a connection: no pool starvation between them.
    await this.lockSlots.acquire();
    try {
      return await this.tx(async (client) => {
        return this.held.run({ queueId, client, head: await lockHead(client, queueId) }, fn);
      });
    } finally {
      this.lockSlots.release();
    }
  }

  /** The transaction of withStreamLock for this queue, when the caller runs inside it. */
  private heldFor(queueId: string): HeldStream | undefined {
    const h = this.held.getStore();
    return h && h.queueId === queueId ? h : undefined;
  }
}
