// Postgres for tests: every suite gets a database of its own, dropped afterwards,
// so runs never see each other's leftovers. QS_TEST_PG (set by scripts/test.mjs)
// is the admin URL, or "skip" when no Postgres answered and none was required.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const pgAdminUrl: string | null = process.env.QS_TEST_PG && process.env.QS_TEST_PG !== 'skip' ? process.env.QS_TEST_PG : null;

export const pgSkipReason = pgAdminUrl ? false : 'Postgres suite skipped: no Postgres answered (set TEST_DATABASE_URL to require it)';

export interface TempDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTempDatabase(prefix = 'qs_t'): Promise<TempDatabase> {
  if (!pgAdminUrl) throw new Error('no Postgres configured for tests');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: pgAdminUrl! });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
