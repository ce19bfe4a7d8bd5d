// Picks the store from the configuration: PostgreSQL when DATABASE_URL is set, else the SQLite file.
import { join } from 'node:path';
import { DEFAULT_RETENTION, type Config, type RetentionConfig } from '../config.ts';
import type { RetentionOptions, Store } from './port.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';

export function sqliteFile(dataDir: string): string {
  return join(dataDir, 'queue.db');
}

export function openStore(config: Pick<Config, 'databaseUrl' | 'dataDir'> & { retention?: RetentionConfig }): Store {
  const retention: RetentionOptions = { idempotencyTtlMs: (config.retention ?? DEFAULT_RETENTION).idempotencyTtlHours * 3600_000 };
  return config.databaseUrl
    ? new PostgresStore({ connectionString: config.databaseUrl, ...retention })
    : new SqliteStore(sqliteFile(config.dataDir), retention);
}

/** Where the data is, for people: the file, or the database URL without its password. */
export function describeStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>): string {
  if (!config.databaseUrl) return `SQLite file ${sqliteFile(config.dataDir)}`;
  const u = new URL(config.databaseUrl);
  if (u.password) u.password = '***';
  return `PostgreSQL ${u.toString()}`;
}
