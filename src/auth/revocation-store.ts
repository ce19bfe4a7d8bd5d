// Revoked tokens, kept in the database (migration 024) over the SQLite connection or the
// Postgres pool (built by src/stores.ts). The database is the truth every instance reads at
// start and polls; the Redis signal (revocation-signal.ts) only makes it quick.
import type Database from 'better-sqlite3';
import type pg from 'pg';

/** One revocation: a token by its id, or every token of a user issued before a time. */
export type Revocation =
  | { kind: 'token'; tokenId: string; userId: string | null /** epoch ms */; expiresAt: number /** epoch ms */; revokedAt: number }
  | { kind: 'user'; userId: string /** epoch s: tokens with iat < this */; issuedBefore: number /** epoch ms */; revokedAt: number };

export interface RevocationStore {
  /** Records a revocation (a user's cutoff only ever moves later); answers it as stored. */
  add(r: Revocation): Promise<Revocation>;
  /** Revocations recorded at or after `since` (epoch ms), tokens only while unexpired at `now`. */
  since(since: number, now: number): Promise<Revocation[]>;
  /** The user's cutoff (epoch s), if any. */
  issuedBefore(userId: string): Promise<number | null>;
  /** Forgets token revocations whose tokens expired before `now`; answers how many. */
  sweep(now: number): Promise<number>;
}

interface TokenRow {
  token_id: string;
  user_id: string | null;
  expires_at: number | string;
  revoked_at: number | string;
}
interface UserRow {
  user_id: string;
  issued_before: number | string;
  revoked_at: number | string;
}

const tokenOf = (r: TokenRow): Revocation => ({
  kind: 'token',
  tokenId: r.token_id,
  userId: r.user_id,
  expiresAt: Number(r.expires_at),
  revokedAt: Number(r.revoked_at),
});
const userOf = (r: UserRow): Revocation => ({ kind: 'user', userId: r.user_id, issuedBefore: Number(r.issued_before), revokedAt: Number(r.revoked_at) });

export class SqliteRevocationStore implements RevocationStore {
  private readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
  }

  async add(r: Revocation): Promise<Revocation> {
    if (r.kind === 'token') {
      this.db
        .prepare(
          'INSERT INTO revoked_tokens (token_id, user_id, expires_at, revoked_at) VALUES (?, ?, ?, ?) ' +
            'ON CONFLICT (token_id) DO UPDATE SET expires_at = max(revoked_tokens.expires_at, excluded.expires_at)',
        )
        .run(r.tokenId, r.userId, r.expiresAt, r.revokedAt);
      return r;
    }
    const row = this.db
      .prepare<[string, number, number], UserRow>(
        'INSERT INTO revoked_users (user_id, issued_before, revoked_at) VALUES (?, ?, ?) ' +
          'ON CONFLICT (user_id) DO UPDATE SET issued_before = max(revoked_users.issued_before, excluded.issued_before), revoked_at = excluded.revoked_at RETURNING *',
      )
      .get(r.userId, r.issuedBefore, r.revokedAt)!;
    return userOf(row);
  }

  async since(since: number, now: number): Promise<Revocation[]> {
    const tokens = this.db.prepare<[number, number], TokenRow>('SELECT * FROM revoked_tokens WHERE revoked_at >= ? AND expires_at > ?').all(since, now);
    const users = this.db.prepare<[number], UserRow>('SELECT * FROM revoked_users WHERE revoked_at >= ?').all(since);
    return [...tokens.map(tokenOf), ...users.map(userOf)];
  }

  async issuedBefore(userId: string): Promise<number | null> {
    const row = this.db.prepare<[string], UserRow>('SELECT * FROM revoked_users WHERE user_id = ?').get(userId);
    return row ? Number(row.issued_before) : null;
  }

  async sweep(now: number): Promise<number> {
    return this.db.prepare('DELETE FROM revoked_tokens WHERE expires_at <= ?').run(now).changes;
  }
}

export class PostgresRevocationStore implements RevocationStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async add(r: Revocation): Promise<Revocation> {
    if (r.kind === 'token') {
      await this.pool.query(
        'INSERT INTO revoked_tokens (token_id, user_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) ' +
          'ON CONFLICT (token_id) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at, EXCLUDED.expires_at)',
        [r.tokenId, r.userId, r.expiresAt, r.revokedAt],
      );
      return r;
    }
    const res = await this.pool.query<UserRow>(
      'INSERT INTO revoked_users (user_id, issued_before, revoked_at) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (user_id) DO UPDATE SET issued_before = GREATEST(revoked_users.issued_before, EXCLUDED.issued_before), revoked_at = EXCLUDED.revoked_at RETURNING *',
      [r.userId, r.issuedBefore, r.revokedAt],
    );
    return userOf(res.rows[0]!);
  }

  async since(since: number, now: number): Promise<Revocation[]> {
    const [tokens, users] = await Promise.all([
      this.pool.query<TokenRow>('SELECT * FROM revoked_tokens WHERE revoked_at >= $1 AND expires_at > $2', [since, now]),
      this.pool.query<UserRow>('SELECT * FROM revoked_users WHERE revoked_at >= $1', [since]),
    ]);
    return [...tokens.rows.map(tokenOf), ...users.rows.map(userOf)];
  }

  async issuedBefore(userId: string): Promise<number | null> {
    const r = await this.pool.query<UserRow>('SELECT * FROM revoked_users WHERE user_id = $1', [userId]);
    return r.rows[0] ? Number(r.rows[0].issued_before) : null;
  }

  async sweep(now: number): Promise<number> {
    const r = await this.pool.query('DELETE FROM revoked_tokens WHERE expires_at <= $1', [now]);
    return r.rowCount ?? 0;
  }
}
