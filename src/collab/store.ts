// Invite codes of collaborative queues: a feature store of its own (migration 004) over
// the SQLite connection or the Postgres pool (built by src/stores.ts). Invites are not queue events: a code is a
// secret to hand out, not something every collaborator should see in the stream. What
// an accepted code does (collaborator_joined) goes through the queue stream as usual.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { CollaboratorRole } from '../queues/queue.ts';

export interface Invite {
  code: string;
  queueId: string;
  role: CollaboratorRole;
  createdBy: string;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
  /** null: any number of uses until it expires. */
  maxUses: number | null;
  uses: number;
  revoked: boolean;
}

export type ClaimResult = { ok: true; invite: Invite } | { ok: false; reason: 'not_found' | 'expired' | 'used_up'; invite: Invite | null };

export interface InviteStore {
  create(invite: Omit<Invite, 'uses' | 'revoked'>): Promise<Invite>;
  /** Live (not revoked) invites of a queue, newest first. */
  list(queueId: string): Promise<Invite[]>;
  /** Revokes a code of this queue; false when there is none. */
  revoke(queueId: string, code: string): Promise<boolean>;
  /** Counts one use of a live code at `now`, atomically; says why not otherwise. */
  claim(code: string, now: number): Promise<ClaimResult>;
  /** Gives back a use claimed for a join that did not happen. */
  release(code: string): Promise<void>;
}

interface Row {
  code: string;
  queue_id: string;
  role: string;
  created_by: string;
  created_at: number | string;
  expires_at: number | string;
  max_uses: number | null;
  uses: number;
  revoked: number | boolean;
}

const toInvite = (r: Row): Invite => ({
  code: r.code,
  queueId: r.queue_id,
  role: r.role as CollaboratorRole,
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  maxUses: r.max_uses,
  uses: r.uses,
  revoked: Boolean(r.revoked),
});

function whyNot(invite: Invite | null, now: number): 'not_found' | 'expired' | 'used_up' {
  if (!invite || invite.revoked) return 'not_found';
  if (invite.expiresAt <= now) return 'expired';
  return 'used_up';
}

const LIVE = '(max_uses IS NULL OR uses < max_uses) AND expires_at > ?';

export class SqliteInviteStore implements InviteStore {
  private readonly db: Database.Database;
  constructor(db: Database.Database) {
    this.db = db;
  }

  async create(i: Omit<Invite, 'uses' | 'revoked'>): Promise<Invite> {
    this.db
      .prepare('INSERT INTO collab_invites (code, queue_id, role, created_by, created_at, expires_at, max_uses) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(i.code, i.queueId, i.role, i.createdBy, i.createdAt, i.expiresAt, i.maxUses);
    return { ...i, uses: 0, revoked: false };
  }

  async list(queueId: string): Promise<Invite[]> {
    return this.db
      .prepare<[string], Row>('SELECT * FROM collab_invites WHERE queue_id = ? AND revoked = 0 ORDER BY created_at DESC, code')
      .all(queueId)
      .map(toInvite);
  }

  async revoke(queueId: string, code: string): Promise<boolean> {
    return this.db.prepare('UPDATE collab_invites SET revoked = 1 WHERE queue_id = ? AND code = ? AND revoked = 0').run(queueId, code).changes > 0;
  }

  async claim(code: string, now: number): Promise<ClaimResult> {
    const row = this.db
      .prepare<[string, number], Row>(`UPDATE collab_invites SET uses = uses + 1 WHERE code = ? AND revoked = 0 AND ${LIVE} RETURNING *`)
      .get(code, now);
    if (row) return { ok: true, invite: toInvite(row) };
    const found = this.db.prepare<[string], Row>('SELECT * FROM collab_invites WHERE code = ?').get(code);
    const invite = found ? toInvite(found) : null;
    return { ok: false, reason: whyNot(invite, now), invite };
  }

  async release(code: string): Promise<void> {
    this.db.prepare('UPDATE collab_invites SET uses = uses - 1 WHERE code = ? AND uses > 0').run(code);
  }
}

export class PostgresInviteStore implements InviteStore {
  private readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async create(i: Omit<Invite, 'uses' | 'revoked'>): Promise<Invite> {
    await this.pool.query(
      'INSERT INTO collab_invites (code, queue_id, role, created_by, created_at, expires_at, max_uses) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [i.code, i.queueId, i.role, i.createdBy, i.createdAt, i.expiresAt, i.maxUses],
    );
    return { ...i, uses: 0, revoked: false };
  }

  async list(queueId: string): Promise<Invite[]> {
    const r = await this.pool.query<Row>('SELECT * FROM collab_invites WHERE queue_id = $1 AND NOT revoked ORDER BY created_at DESC, code COLLATE "C"', [
      queueId,
    ]);
    return r.rows.map(toInvite);
  }

  async revoke(queueId: string, code: string): Promise<boolean> {
    const r = await this.pool.query('UPDATE collab_invites SET revoked = TRUE WHERE queue_id = $1 AND code = $2 AND NOT revoked', [queueId, code]);
    return (r.rowCount ?? 0) > 0;
  }

  async claim(code: string, now: number): Promise<ClaimResult> {
    // One statement: two people racing for the last use cannot both get it.
    const r = await this.pool.query<Row>(
      'UPDATE collab_invites SET uses = uses + 1 WHERE code = $1 AND NOT revoked AND (max_uses IS NULL OR uses < max_uses) AND expires_at > $2 RETURNING *',
      [code, now],
    );
    if (r.rows[0]) return { ok: true, invite: toInvite(r.rows[0]) };
    const found = await this.pool.query<Row>('SELECT * FROM collab_invites WHERE code = $1', [code]);
    const invite = found.rows[0] ? toInvite(found.rows[0]) : null;
    return { ok: false, reason: whyNot(invite, now), invite };
  }

  async release(code: string): Promise<void> {
    await this.pool.query('UPDATE collab_invites SET uses = uses - 1 WHERE code = $1 AND uses > 0', [code]);
  }
}
