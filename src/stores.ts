// Storage, chosen once at start: PostgreSQL when DATABASE_URL is set, else the SQLite file.
// Each store adapter has one factory that puts every feature store (invites, offline sync,
// parties, catalog) on the adapter's own connection, so no feature asks which database it
// runs on: the app receives the stores it needs, built here.
import { DEFAULT_RETENTION, type Config, type RetentionConfig } from './config.ts';
import { PostgresRevocationStore, SqliteRevocationStore, type RevocationStore } from './auth/revocation-store.ts';
import { PostgresCatalogStore } from './catalog/postgres-store.ts';
import { SqliteCatalogStore } from './catalog/sqlite-store.ts';
import type { CatalogStore } from './catalog/store.ts';
import { PostgresInviteStore, SqliteInviteStore, type InviteStore } from './collab/store.ts';
import { PostgresOfflineStore, SqliteOfflineStore, type OfflineStore } from './offline/store.ts';
import { PostgresPartyStore, SqlitePartyStore, type PartyStore } from './party/store.ts';
import { sqliteFile } from './store/index.ts';
import type { RetentionOptions, Store } from './store/port.ts';
import { PostgresStore, type PostgresStoreOptions } from './store/postgres.ts';
import { SqliteStore } from './store/sqlite.ts';
import { queueFold } from './queues/queue.ts';

/** The feature stores: tables a feature keeps for itself, beside the queue and user streams. */
export interface FeatureStores {
  invites: InviteStore;
  offline: OfflineStore;
  parties: PartyStore;
  catalog: CatalogStore;
  /** Revoked tokens (src/auth). */
  revocations: RevocationStore;
}

/** One database: the core store, and every feature store on the same connection. */
export interface Storage {
  readonly store: Store;
  /** Builds the feature stores; call after `store.migrate()` (SQLite prepares its statements at once). */
  features(): FeatureStores;
}

/**
 * The SQLite adapter on `file`, wired to the queue domain's fold. The one place the
 * adapter meets the domain: src/store imports no feature (test/unit/layers.test.ts).
 */
export function openSqliteStore(file: string, retention: RetentionOptions = {}): SqliteStore {
  return new SqliteStore(file, queueFold, retention);
}

/** The PostgreSQL adapter, wired to the queue domain's fold (see openSqliteStore). */
export function openPostgresStore(opts: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(opts, queueFold);
}

export function sqliteStorage(store: SqliteStore): Storage {
  return {
    store,
    features: () => ({
      invites: new SqliteInviteStore(store.db),
      offline: new SqliteOfflineStore(store.db),
      parties: new SqlitePartyStore(store.db, store.retention),
      catalog: new SqliteCatalogStore(store.db, (write) => store.grouped(write)),
      revocations: new SqliteRevocationStore(store.db),
    }),
  };
}

export function postgresStorage(store: PostgresStore): Storage {
  return {
    store,
    features: () => ({
      invites: new PostgresInviteStore(store.pool),
      offline: new PostgresOfflineStore(store.pool),
      parties: new PostgresPartyStore(store.pool, store.retention),
      catalog: new PostgresCatalogStore(store.pool),
      revocations: new PostgresRevocationStore(store.pool),
    }),
  };
}

/** The storage the configuration names: the one place that chooses the database. */
export function openStorage(config: Pick<Config, 'databaseUrl' | 'dataDir'> & { retention?: RetentionConfig }): Storage {
  const retention: RetentionOptions = { idempotencyTtlMs: (config.retention ?? DEFAULT_RETENTION).idempotencyTtlHours * 3600_000 };
  return config.databaseUrl
    ? postgresStorage(openPostgresStore({ connectionString: config.databaseUrl, ...retention }))
    : sqliteStorage(openSqliteStore(sqliteFile(config.dataDir), retention));
}
