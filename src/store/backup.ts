// Operator safety for the embedded store: a consistent online copy of the SQLite file
// (`queue-service backup FILE`, while the server runs) and putting one back
// (`queue-service restore FILE`, with the server stopped). Both use SQLite's online
// backup API (better-sqlite3's `db.backup()`), asked to copy every page in one step:
// that step reads inside one transaction, so the copy is the database as of one
// commit, whatever the server writes meanwhile (WAL mode lets it keep writing).
import { existsSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';

/** Every remaining page in the next step (SQLite's backup_step takes a page count). */
const ALL_PAGES = 0x7fffffff;

export interface CopyReport {
  file: string;
  bytes: number;
  /** Migrations the copy has applied (the newest last). */
  migrations: number[];
  events: number;
}

async function copy(from: Database.Database, to: string): Promise<number> {
  const r = await from.backup(to, { progress: () => ALL_PAGES });
  return r.totalPages * (from.pragma('page_size', { simple: true }) as number);
}

/** Opens a file and checks it is a queue-service SQLite database in one piece. */
function inspect(file: string): { db: Database.Database; migrations: number[]; events: number } {
  const db = new Database(file, { fileMustExist: true, readonly: true });
  try {
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new Error(`${file} is damaged: integrity_check says ${String(check)}`);
    const hasMigrations = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
    if (!hasMigrations) throw new Error(`${file} is not a queue-service database (no schema_migrations table)`);
    const migrations = (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
    const hasEvents = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_events'`).get();
    const events = hasEvents ? (db.prepare('SELECT count(*) AS n FROM queue_events').get() as { n: number }).n : 0;
    return { db, migrations, events };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Copies the live store at `source` into `target`, which must not exist yet. The copy is
 * written next to the target and renamed into place once it checks out, so a failed or
 * interrupted backup never leaves a half-written file under the target's name.
 */
export async function backupSqlite(source: string, target: string): Promise<CopyReport> {
  const dest = resolve(target);
  if (existsSync(dest)) throw new Error(`${dest} exists; choose a new file name`);
  if (!existsSync(source)) throw new Error(`no SQLite store at ${source} (set DATA_DIR)`);
  const partial = `${dest}.partial-${process.pid}`;
  // A read-write connection, so it can read the live WAL; it never writes.
  const live = new Database(source, { fileMustExist: true });
  try {
    live.pragma('busy_timeout = 10000');
    const bytes = await copy(live, partial);
    const { db, migrations, events } = inspect(partial);
    db.close();
    renameSync(partial, dest);
    return { file: dest, bytes, migrations, events };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    live.close();
  }
}

/**
 * Replaces the store at `target` with the backup `file`, after checking the backup. The
 * store it replaces is kept as `<target>.before-restore-<time>` (also a consistent copy).
 * Stop every server on this store first: a running one would keep serving what it has
 * cached from the old data.
 */
export async function restoreSqlite(file: string, target: string): Promise<CopyReport & { previous: string | null }> {
  const src = resolve(file);
  const { db: backup, migrations, events } = inspect(src);
  try {
    let previous: string | null = null;
    if (existsSync(target)) {
      previous = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const current = new Database(target, { fileMustExist: true });
      try {
        current.pragma('busy_timeout = 10000');
        await copy(current, previous);
      } finally {
        current.close();
      }
    }
    // The backup API writes through SQLite into the target, so its WAL and shared-memory
    // files stay consistent with the new content (copying the file over them would not).
    const bytes = await copy(backup, target);
    return { file: target, bytes, migrations, events, previous };
  } finally {
    backup.close();
  }
}
