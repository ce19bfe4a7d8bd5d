// The parties' own tables (migrations 006, 021, 022), over the store's connection:
// `SqliteStore.db` or `PostgresStore.pool`, built by src/stores.ts. A party's events
// are appended under a lock on its row, so its sequence numbers are gapless across instances.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { conflict } from '../errors.ts';
import type { RetentionOptions } from '../store/port.ts';
import { idempotencyCutoff, type KeyRecord } from '../util/commit.ts';
import { pgTransaction } from '../store/postgres.ts';
import type { PartyEvent, PartyState } from './party.ts';

/** One open party socket's measured link. */
export interface LinkRecord {
  connectionId: string;
  partyId: string;
  userId: string;
  deviceId: string;
  offsetMs: number;
  rttMs: number;
  oneWayMs: number;
  degraded: boolean;
  followDelayMs: number;
  samples: number;
  /** Epoch ms. */
  updatedAt: number;
  /** [PA9] The latest position error the server measured from this socket's position_report (ms, + = ahead), null before any. */
  positionErrorMs: number | null;
  /** Server time (epoch ms) of that measurement. */
  positionErrorAt: number | null;
}

/** What `update` runs under the party's lock: the events to append and the state after them. */
export type PartyDecision = (state: PartyState, links: LinkRecord[]) => { events: PartyEvent[]; state: PartyState };

/** [PA11] A member's command under its mutationId: applied at most once per member and party. */
export interface PartyCommandKey {
  userId: string;
  mutationId: string;
  /** What the command was, so the same id on another command is refused. */
  fingerprint: string;
}

/** What a command applied under a key left: its fingerprint and the event it appended. */
export type PartyCommandRecord = KeyRecord<{ sequenceNumber: number }>;

/** What `update` did: the events appended and the state after them, or the key's earlier record (nothing decided). */
export interface PartyUpdate {
  events: PartyEvent[];
  state: PartyState;
  /** Set when the key was recorded before: decide did not run and nothing was appended. */
  recorded?: PartyCommandRecord;
}

export interface PartyStore {
  /** Insert a new party with its first event; 409 party_exists when the queue has an active party. */
  create(event: PartyEvent, state: PartyState): Promise<void>;
  load(partyId: string): Promise<PartyState | null>;
  /**
   * Runs `decide` with the party and its links (updated at or after `linksSince`) under the
   * party's lock and appends what it returns; null when there is no such party. With a
   * `key` ([PA11]): when the member recorded it before (and it has not expired), answers
   * that record without deciding; otherwise the key is recorded with the first event
   * appended, in the same transaction.
   */
  update(partyId: string, linksSince: number, decide: PartyDecision, key?: PartyCommandKey): Promise<PartyUpdate | null>;
  /** [PA11] The member's unexpired record of a command key, or null. */
  command(partyId: string, userId: string, mutationId: string): Promise<PartyCommandRecord | null>;
  /** Events with sequenceNumber > after, ascending, at most limit. */
  readEvents(partyId: string, after: number, limit: number): Promise<PartyEvent[]>;
  activeForQueue(queueId: string): Promise<string | null>;
  putLink(link: LinkRecord): Promise<void>;
  deleteLink(connectionId: string): Promise<void>;
  links(partyId: string, since: number): Promise<LinkRecord[]>;
  /** Deletes link rows not refreshed since `before` (sockets of an instance that died). */
  pruneLinks(before: number): Promise<void>;
}

interface EventRow {
  party_id: string;
  sequence_number: number;
  type: string;
  data: unknown;
  user_id: string;
  device_id: string | null;
  created_at: string | Date;
}

interface LinkRow {
  connection_id: string;
  party_id: string;
  user_id: string;
  device_id: string;
  offset_ms: number;
  rtt_ms: number;
  one_way_ms: number;
  degraded: number | boolean;
  follow_delay_ms: number;
  samples: number;
  updated_at: number | string;
  position_error_ms: number | null;
  position_error_at: number | string | null;
}

function rowToEvent(r: EventRow): PartyEvent {
  return {
    partyId: r.party_id,
    sequenceNumber: Number(r.sequence_number),
    type: r.type,
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
    userId: r.user_id,
    deviceId: r.device_id,
    timestamp: r.created_at instanceof Date ? r.created_at.toISOString() : r.created_at,
  } as PartyEvent;
}

function rowToLink(r: LinkRow): LinkRecord {
  return {
    connectionId: r.connection_id,
    partyId: r.party_id,
    userId: r.user_id,
    deviceId: r.device_id,
    offsetMs: Number(r.offset_ms),
    rttMs: Number(r.rtt_ms),
    oneWayMs: Number(r.one_way_ms),
    degraded: Boolean(r.degraded),
    followDelayMs: Number(r.follow_delay_ms),
    samples: Number(r.samples),
    updatedAt: Number(r.updated_at),
    positionErrorMs: r.position_error_ms === null ? null : Number(r.position_error_ms),
    positionErrorAt: r.position_error_at === null ? null : Number(r.position_error_at),
  };
}

const linkValues = (l: LinkRecord) =>
  [
    l.connectionId,
    l.partyId,
    l.userId,
    l.deviceId,
    l.offsetMs,
    l.rttMs,
    l.oneWayMs,
    l.degraded,
    l.followDelayMs,
    l.samples,
    l.updatedAt,
    l.positionErrorMs,
    l.positionErrorAt,
  ] as const;

interface CommandRow {
  fingerprint: string;
  sequence_number: number | string;
}

const toRecord = (r: CommandRow | undefined): PartyCommandRecord | null =>
  r ? { fingerprint: r.fingerprint, sequenceNumber: Number(r.sequence_number) } : null;

const partyExists = (queueId: string, partyId: string | null) => conflict('party_exists', 'this queue already has an active party', { queueId, partyId });

export class SqlitePartyStore implements PartyStore {
  private readonly s;

  private readonly db: Database.Database;
  private readonly retention: RetentionOptions;
  constructor(db: Database.Database, retention: RetentionOptions = {}) {
    this.db = db;
    this.retention = retention;
    this.s = {
      insertParty: db.prepare('INSERT INTO parties (id, queue_id, host_id, status, version, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      updateParty: db.prepare('UPDATE parties SET host_id = ?, status = ?, version = ?, state = ?, updated_at = ? WHERE id = ?'),
      load: db.prepare<[string], { state: string }>('SELECT state FROM parties WHERE id = ?'),
      insertEvent: db.prepare('INSERT INTO party_events (party_id, sequence_number, type, data, user_id, device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      read: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM party_events WHERE party_id = ? AND sequence_number > ? ORDER BY sequence_number LIMIT ?',
      ),
      active: db.prepare<[string], { id: string }>("SELECT id FROM parties WHERE queue_id = ? AND status = 'active'"),
      putLink: db.prepare(
        `INSERT INTO party_links (connection_id, party_id, user_id, device_id, offset_ms, rtt_ms, one_way_ms, degraded, follow_delay_ms, samples, updated_at, position_error_ms, position_error_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (connection_id) DO UPDATE SET offset_ms = excluded.offset_ms, rtt_ms = excluded.rtt_ms, one_way_ms = excluded.one_way_ms,
           degraded = excluded.degraded, follow_delay_ms = excluded.follow_delay_ms, samples = excluded.samples, updated_at = excluded.updated_at,
           position_error_ms = excluded.position_error_ms, position_error_at = excluded.position_error_at`,
      ),
      deleteLink: db.prepare('DELETE FROM party_links WHERE connection_id = ?'),
      links: db.prepare<[string, number], LinkRow>('SELECT * FROM party_links WHERE party_id = ? AND updated_at >= ? ORDER BY connection_id'),
      prune: db.prepare('DELETE FROM party_links WHERE updated_at < ?'),
      command: db.prepare<[string, string, string, string], CommandRow>(
        'SELECT fingerprint, sequence_number FROM party_commands WHERE party_id = ? AND user_id = ? AND mutation_id = ? AND created_at >= ?',
      ),
      // Only asked under the party's lock after `command` found no live record: an expired one is replaced.
      putCommand: db.prepare(
        `INSERT INTO party_commands (party_id, user_id, mutation_id, fingerprint, sequence_number, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (party_id, user_id, mutation_id) DO UPDATE SET fingerprint = excluded.fingerprint,
           sequence_number = excluded.sequence_number, created_at = excluded.created_at`,
      ),
    };
  }

  private insertEvents(events: PartyEvent[]): void {
    for (const e of events) this.s.insertEvent.run(e.partyId, e.sequenceNumber, e.type, JSON.stringify(e.data), e.userId, e.deviceId, e.timestamp);
  }

  async create(event: PartyEvent, state: PartyState): Promise<void> {
    try {
      this.db
        .transaction(() => {
          this.s.insertParty.run(state.id, state.queueId, state.hostId, state.status, state.version, JSON.stringify(state), state.createdAt, state.updatedAt);
          this.insertEvents([event]);
        })
        .immediate();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw partyExists(state.queueId, await this.activeForQueue(state.queueId));
      throw err;
    }
  }

  async load(partyId: string): Promise<PartyState | null> {
    const r = this.s.load.get(partyId);
    return r ? (JSON.parse(r.state) as PartyState) : null;
  }

  async update(partyId: string, linksSince: number, decide: PartyDecision, key?: PartyCommandKey): Promise<PartyUpdate | null> {
    return this.db
      .transaction((): PartyUpdate | null => {
        const r = this.s.load.get(partyId);
        if (!r) return null;
        const current = JSON.parse(r.state) as PartyState;
        const recorded = key ? toRecord(this.s.command.get(partyId, key.userId, key.mutationId, idempotencyCutoff(this.retention))) : null;
        if (recorded) return { events: [], state: current, recorded };
        const links = this.s.links.all(partyId, linksSince).map(rowToLink);
        const out = decide(current, links);
        if (out.events.length === 0) return out;
        this.insertEvents(out.events);
        if (key) this.s.putCommand.run(partyId, key.userId, key.mutationId, key.fingerprint, out.events[0]!.sequenceNumber, new Date().toISOString());
        const st = out.state;
        this.s.updateParty.run(st.hostId, st.status, st.version, JSON.stringify(st), st.updatedAt, partyId);
        return out;
      })
      .immediate();
  }

  async command(partyId: string, userId: string, mutationId: string): Promise<PartyCommandRecord | null> {
    return toRecord(this.s.command.get(partyId, userId, mutationId, idempotencyCutoff(this.retention)));
  }

  async readEvents(partyId: string, after: number, limit: number): Promise<PartyEvent[]> {
    return this.s.read.all(partyId, after, limit).map(rowToEvent);
  }

  async activeForQueue(queueId: string): Promise<string | null> {
    return this.s.active.get(queueId)?.id ?? null;
  }

  async putLink(link: LinkRecord): Promise<void> {
    const v = linkValues(link);
    this.s.putLink.run(...v.slice(0, 7), link.degraded ? 1 : 0, ...v.slice(8));
  }

  async deleteLink(connectionId: string): Promise<void> {
    this.s.deleteLink.run(connectionId);
  }

  async links(partyId: string, since: number): Promise<LinkRecord[]> {
    return this.s.links.all(partyId, since).map(rowToLink);
  }

  async pruneLinks(before: number): Promise<void> {
    this.s.prune.run(before);
  }
}

export class PostgresPartyStore implements PartyStore {
  private readonly pool: pg.Pool;
  private readonly retention: RetentionOptions;
  constructor(pool: pg.Pool, retention: RetentionOptions = {}) {
    this.pool = pool;
    this.retention = retention;
  }

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return pgTransaction(this.pool, fn);
  }

  private async insertEvents(c: pg.PoolClient, events: PartyEvent[]): Promise<void> {
    if (events.length === 0) return;
    const values: unknown[] = [];
    const rows = events.map((e, i) => {
      values.push(e.partyId, e.sequenceNumber, e.type, JSON.stringify(e.data), e.userId, e.deviceId, e.timestamp);
      const b = i * 7;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}::jsonb, $${b + 5}, $${b + 6}, $${b + 7})`;
    });
    await c.query(`INSERT INTO party_events (party_id, sequence_number, type, data, user_id, device_id, created_at) VALUES ${rows.join(', ')}`, values);
  }

  async create(event: PartyEvent, state: PartyState): Promise<void> {
    try {
      await this.tx(async (c) => {
        await c.query(
          'INSERT INTO parties (id, queue_id, host_id, status, version, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)',
          [state.id, state.queueId, state.hostId, state.status, state.version, JSON.stringify(state), state.createdAt, state.updatedAt],
        );
        await this.insertEvents(c, [event]);
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw partyExists(state.queueId, await this.activeForQueue(state.queueId));
      throw err;
    }
  }

  async load(partyId: string): Promise<PartyState | null> {
    const r = await this.pool.query<{ state: PartyState }>('SELECT state FROM parties WHERE id = $1', [partyId]);
    return r.rows[0]?.state ?? null;
  }

  async update(partyId: string, linksSince: number, decide: PartyDecision, key?: PartyCommandKey): Promise<PartyUpdate | null> {
    return this.tx(async (c): Promise<PartyUpdate | null> => {
      const r = await c.query<{ state: PartyState }>('SELECT state FROM parties WHERE id = $1 FOR UPDATE', [partyId]);
      const current = r.rows[0]?.state;
      if (!current) return null;
      // Under the party's lock: a concurrent command with the same key (any instance) waits for this one.
      const recorded = key ? await this.readCommand(c, partyId, key.userId, key.mutationId) : null;
      if (recorded) return { events: [], state: current, recorded };
      const links = (
        await c.query<LinkRow>('SELECT * FROM party_links WHERE party_id = $1 AND updated_at >= $2 ORDER BY connection_id', [partyId, linksSince])
      ).rows.map(rowToLink);
      const out = decide(current, links);
      if (out.events.length === 0) return out;
      await this.insertEvents(c, out.events);
      if (key) {
        // `readCommand` found no live record: an expired one is replaced.
        await c.query(
          `INSERT INTO party_commands (party_id, user_id, mutation_id, fingerprint, sequence_number, created_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (party_id, user_id, mutation_id) DO UPDATE SET fingerprint = excluded.fingerprint,
             sequence_number = excluded.sequence_number, created_at = excluded.created_at`,
          [partyId, key.userId, key.mutationId, key.fingerprint, out.events[0]!.sequenceNumber, new Date().toISOString()],
        );
      }
      const st = out.state;
      await c.query('UPDATE parties SET host_id = $1, status = $2, version = $3, state = $4::jsonb, updated_at = $5 WHERE id = $6', [
        st.hostId,
        st.status,
        st.version,
        JSON.stringify(st),
        st.updatedAt,
        partyId,
      ]);
      return out;
    });
  }

  private async readCommand(c: pg.PoolClient | pg.Pool, partyId: string, userId: string, mutationId: string): Promise<PartyCommandRecord | null> {
    const r = await c.query<CommandRow>(
      'SELECT fingerprint, sequence_number FROM party_commands WHERE party_id = $1 AND user_id = $2 AND mutation_id = $3 AND created_at >= $4::timestamptz',
      [partyId, userId, mutationId, idempotencyCutoff(this.retention)],
    );
    return toRecord(r.rows[0]);
  }

  async command(partyId: string, userId: string, mutationId: string): Promise<PartyCommandRecord | null> {
    return this.readCommand(this.pool, partyId, userId, mutationId);
  }

  async readEvents(partyId: string, after: number, limit: number): Promise<PartyEvent[]> {
    const r = await this.pool.query<EventRow>('SELECT * FROM party_events WHERE party_id = $1 AND sequence_number > $2 ORDER BY sequence_number LIMIT $3', [
      partyId,
      after,
      limit,
    ]);
    return r.rows.map(rowToEvent);
  }

  async activeForQueue(queueId: string): Promise<string | null> {
    const r = await this.pool.query<{ id: string }>("SELECT id FROM parties WHERE queue_id = $1 AND status = 'active'", [queueId]);
    return r.rows[0]?.id ?? null;
  }

  async putLink(link: LinkRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO party_links (connection_id, party_id, user_id, device_id, offset_ms, rtt_ms, one_way_ms, degraded, follow_delay_ms, samples, updated_at, position_error_ms, position_error_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (connection_id) DO UPDATE SET offset_ms = excluded.offset_ms, rtt_ms = excluded.rtt_ms, one_way_ms = excluded.one_way_ms,
         degraded = excluded.degraded, follow_delay_ms = excluded.follow_delay_ms, samples = excluded.samples, updated_at = excluded.updated_at,
           position_error_ms = excluded.position_error_ms, position_error_at = excluded.position_error_at`,
      [...linkValues(link)],
    );
  }

  async deleteLink(connectionId: string): Promise<void> {
    await this.pool.query('DELETE FROM party_links WHERE connection_id = $1', [connectionId]);
  }

  async links(partyId: string, since: number): Promise<LinkRecord[]> {
    const r = await this.pool.query<LinkRow>('SELECT * FROM party_links WHERE party_id = $1 AND updated_at >= $2 ORDER BY connection_id', [partyId, since]);
    return r.rows.map(rowToLink);
  }

  async pruneLinks(before: number): Promise<void> {
    await this.pool.query('DELETE FROM party_links WHERE updated_at < $1', [before]);
  }
}
