// Where the data is: the SQLite file of a data directory, and a description of the store for
// people. Which store to open is chosen in src/stores.ts (openStorage), once, at start.
import { join } from 'node:path';
import type { Config } from '../config.ts';

export function sqliteFile(dataDir: string): string {
  return join(dataDir, 'queue.db');
}

/** Where the data is, for people: the file, or the database URL without its password. */
export function describeStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>): string {
  if (!config.databaseUrl) return `SQLite file ${sqliteFile(config.dataDir)}`;
  const u = new URL(config.databaseUrl);
  if (u.password) u.password = '***';
  return `PostgreSQL ${u.toString()}`;
}
