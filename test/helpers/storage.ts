// Storage for contract suites: a fresh SQLite file or a fresh PostgreSQL database, opened
// through the same per-adapter factories the server uses (src/stores.ts), so a feature
// store under test is the one the service would build.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RetentionOptions, Store } from '../../src/store/port.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { type FeatureStores, openPostgresStore, openSqliteStore, postgresStorage, sqliteStorage, type Storage } from '../../src/stores.ts';
import { createTempDatabase } from './pg.ts';

export interface TestStorage {
  storage: Storage;
  store: Store;
  /** The feature stores, built after the migrations ran. */
  features: FeatureStores;
  /** Closes the store and removes the file or drops the database. */
  cleanup(): Promise<void>;
}

/** Opens and migrates a fresh store of `kind` with every feature store on it. */
export async function openTestStorage(kind: 'sqlite' | 'postgres'): Promise<TestStorage> {
  let storage: Storage;
  let remove: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'qs-storage-'));
    storage = sqliteStorage(openSqliteStore(join(dir, 'queue.db')));
    remove = () => rm(dir, { recursive: true, force: true });
  } else {
    const db = await createTempDatabase();
    storage = postgresStorage(openPostgresStore({ connectionString: db.url, max: 4 }));
    remove = () => db.drop();
  }
  await storage.store.migrate();
  return {
    storage,
    store: storage.store,
    features: storage.features(),
    async cleanup() {
      await storage.store.close();
      await remove();
    },
  };
}

/** A migrated SQLite queue store in a temp dir of its own (`prefix`), and how to remove it. */
export async function openTempSqliteStore(prefix: string, retention: RetentionOptions = {}): Promise<{ store: SqliteStore; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const store = openSqliteStore(join(dir, 'queue.db'), retention);
  await store.migrate();
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
