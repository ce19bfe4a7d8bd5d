// The offline feature's own tables (migration 005): per (user, client, resource) the
// highest mutation id decided, and per (user, client, mutation) how it was decided.
// A feature store (src/store/README.md): it takes the adapter's connection, and its
// writes need not share a transaction with queue events, because the queue side of
// each change is recorded atomically with its events (idempotency records).
import type pg from 'pg';
import type Database from 'better-sqlite3';
import { pgTransaction } from '../store/postgres.ts';
import type { KeyRecord } from '../util/commit.ts';

export type ResourceType = 'queue' | 'playback';

export interface HighWaterMark {
  clientId: string;
  resourceType: ResourceType;
  resourceId: string;
  mutationId: number;
}

/** How one change was decided, kept so a retry is answered the same way. */
/** A change's recorded outcome: the one record shape of util/commit.ts (the fingerprint of the change, and what it answered). */
export type StoredOutcome = KeyRecord<{
  clientId: string;
  mutationId: number;
  outcome: Record<string, unknown>;
}>;

export interface OfflineStore {
  /** High-water marks of the given clients of a user, keyed by `markKey`. */
  highWaters(userId: string, clientIds: string[]): Promise<Map<string, number>>;
  /** Recorded outcomes of some mutations of one client, recorded at or after `since` (ISO; older ones have expired). */
  outcomes(userId: string, clientId: string, mutationIds: number[], since?: string): Promise<Map<number, StoredOutcome>>;
  /**
   * Records outcomes at `at` (ISO; default now) and raises marks (never lowers them), in one
   * transaction. A live outcome of the mutation stays (the first one recorded); one recorded
   * before `since` (expired) is replaced.
   */
  commit(userId: string, outcomes: StoredOutcome[], marks: HighWaterMark[], at?: string, since?: string): Promise<void>;
  /** Deletes up to `limit` outcomes recorded before `before` (ISO: expired); how many it deleted. High-water marks stay. */
  sweepOutcomes(before: string, limit: number): Promise<number>;
}

const EPOCH = '1970-01-01T00:00:00.000Z';

export const markKey = (clientId: string, resourceType: string, resourceId: string) => `${clientId}\u0000${resourceType}\u0000${resourceId}`;

export class SqliteOfflineStore implements OfflineStore {
  private readonly db: Database.Database;
  constructor(db: Database.Database) {
    this.db = db;
  }

  async highWaters(userId: string, clientIds: string[]): Promise<Map<string, number>> {
    const rows = this.db
      .prepare<[string, string], { client_id: string; resource_type: string; resource_id: string; high_water: number }>(
        `SELECT client_id, resource_type, resource_id, high_water FROM offline_clients
         WHERE user_id = ? AND client_id IN (SELECT value FROM json_each(?))`,
      )
      .all(userId, JSON.stringify(clientIds));
    return new Map(rows.map((r) => [markKey(r.client_id, r.resource_type, r.resource_id), r.high_water]));
  }

  async outcomes(userId: string, clientId: string, mutationIds: number[], since = EPOCH): Promise<Map<number, StoredOutcome>> {
    const rows = this.db
      .prepare<[string, string, string, string], { mutation_id: number; fingerprint: string; outcome: string }>(
        `SELECT mutation_id, fingerprint, outcome FROM offline_outcomes
         WHERE user_id = ? AND client_id = ? AND mutation_id IN (SELECT value FROM json_each(?)) AND created_at >= ?`,
      )
      .all(userId, clientId, JSON.stringify(mutationIds), since);
    return new Map(rows.map((r) => [r.mutation_id, { clientId, mutationId: r.mutation_id, fingerprint: r.fingerprint, outcome: JSON.parse(r.outcome) }]));
  }

  async commit(userId: string, outcomes: StoredOutcome[], marks: HighWaterMark[], at?: string, since = EPOCH): Promise<void> {
    const now = at ?? new Date().toISOString();
    const insert = this.db.prepare(
      `INSERT INTO offline_outcomes (user_id, client_id, mutation_id, fingerprint, outcome, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, client_id, mutation_id) DO UPDATE
       SET fingerprint = excluded.fingerprint, outcome = excluded.outcome, created_at = excluded.created_at
       WHERE offline_outcomes.created_at < ?`,
    );
    const raise = this.db.prepare(
      `INSERT INTO offline_clients (user_id, client_id, resource_type, resource_id, high_water, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, client_id, resource_type, resource_id)
       DO UPDATE SET high_water = MAX(offline_clients.high_water, excluded.high_water), updated_at = excluded.updated_at`,
    );
    this.db
      .transaction(() => {
        for (const o of outcomes) insert.run(userId, o.clientId, o.mutationId, o.fingerprint, JSON.stringify(o.outcome), now, since);
        for (const m of marks) raise.run(userId, m.clientId, m.resourceType, m.resourceId, m.mutationId, now);
      })
      .immediate();
  }

  async sweepOutcomes(before: string, limit: number): Promise<number> {
    return this.db.prepare('DELETE FROM offline_outcomes WHERE rowid IN (SELECT rowid FROM offline_outcomes WHERE created_at < ? LIMIT ?)').run(before, limit)
      .changes;
  }
}

export class PostgresOfflineStore implements OfflineStore {
  private readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async highWaters(userId: string, clientIds: string[]): Promise<Map<string, number>> {
    const r = await this.pool.query<{ client_id: string; resource_type: string; resource_id: string; high_water: string }>(
      `SELECT client_id, resource_type, resource_id, high_water FROM offline_clients WHERE user_id = $1 AND client_id = ANY($2::text[])`,
      [userId, clientIds],
    );
    return new Map(r.rows.map((row) => [markKey(row.client_id, row.resource_type, row.resource_id), Number(row.high_water)]));
  }

  async outcomes(userId: string, clientId: string, mutationIds: number[], since = EPOCH): Promise<Map<number, StoredOutcome>> {
    const r = await this.pool.query<{ mutation_id: string; fingerprint: string; outcome: string }>(
      `SELECT mutation_id, fingerprint, outcome FROM offline_outcomes
       WHERE user_id = $1 AND client_id = $2 AND mutation_id = ANY($3::bigint[]) AND created_at >= $4::timestamptz`,
      [userId, clientId, mutationIds, since],
    );
    return new Map(
      r.rows.map((row) => {
        const mutationId = Number(row.mutation_id);
        return [mutationId, { clientId, mutationId, fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) }];
      }),
    );
  }

  async commit(userId: string, outcomes: StoredOutcome[], marks: HighWaterMark[], at?: string, since = EPOCH): Promise<void> {
    if (outcomes.length === 0 && marks.length === 0) return;
    await pgTransaction(this.pool, async (c) => {
      if (outcomes.length > 0) {
        await c.query(
          `INSERT INTO offline_outcomes (user_id, client_id, mutation_id, fingerprint, outcome, created_at)
           SELECT $1, u.client_id, u.mutation_id, u.fingerprint, u.outcome, COALESCE($6::timestamptz, now())
           FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(client_id, mutation_id, fingerprint, outcome)
           ON CONFLICT (user_id, client_id, mutation_id) DO UPDATE
           SET fingerprint = EXCLUDED.fingerprint, outcome = EXCLUDED.outcome, created_at = EXCLUDED.created_at
           WHERE offline_outcomes.created_at < $7::timestamptz`,
          [
            userId,
            outcomes.map((o) => o.clientId),
            outcomes.map((o) => o.mutationId),
            outcomes.map((o) => o.fingerprint),
            outcomes.map((o) => JSON.stringify(o.outcome)),
            at ?? null,
            since,
          ],
        );
      }
      // Sorted, so two commits of one user lock the rows in the same order (no deadlock).
      const sorted = [...marks].sort((a, b) =>
        markKey(a.clientId, a.resourceType, a.resourceId) < markKey(b.clientId, b.resourceType, b.resourceId) ? -1 : 1,
      );
      for (const m of sorted) {
        await c.query(
          `INSERT INTO offline_clients (user_id, client_id, resource_type, resource_id, high_water, updated_at) VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (user_id, client_id, resource_type, resource_id)
           DO UPDATE SET high_water = GREATEST(offline_clients.high_water, excluded.high_water), updated_at = excluded.updated_at`,
          [userId, m.clientId, m.resourceType, m.resourceId, m.mutationId],
        );
      }
    });
  }

  async sweepOutcomes(before: string, limit: number): Promise<number> {
    const r = await this.pool.query(
      'DELETE FROM offline_outcomes WHERE ctid IN (SELECT ctid FROM offline_outcomes WHERE created_at < $1::timestamptz LIMIT $2)',
      [before, limit],
    );
    return r.rowCount ?? 0;
  }
}
