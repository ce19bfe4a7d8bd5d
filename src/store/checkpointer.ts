// WAL checkpoints off the event-loop thread (issue 21; docs/adr/0005). SQLite copies the
// WAL back into the database file (a checkpoint, with its fsyncs) on the connection that
// commits once the WAL passes `wal_autocheckpoint` pages: with one connection, that was the
// event loop, in the middle of a request. Here a worker thread with its own connection runs
// a passive checkpoint every `everyMs`. A passive checkpoint never blocks the writers, but
// under a steady write load it never copies the last frames either, and the WAL only starts
// over once every frame is back in the file. So when the WAL passes `holdPages`, the worker
// asks the writers to hold (group commits wait in memory; the event loop goes on) for one
// more pass, which copies the short tail; the next write then starts the WAL over. The
// event loop's connection keeps a high `wal_autocheckpoint` as a backstop should the worker
// fall behind, and `journal_size_limit` truncates a WAL that grew.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

export interface CheckpointStats {
  /** Checkpoints the worker ran. */
  runs: number;
  /** Of them, the ones run while the writers held. */
  held: number;
  /** Frames in the WAL at the last one, and how many of them were copied back. */
  log: number;
  checkpointed: number;
  lastError: string | null;
}

/** Pages the event loop's own connection lets the WAL grow to before it checkpoints itself (~32 MB of 4 KiB pages). */
export const BACKSTOP_PAGES = 8192;
/** A reset WAL larger than this is truncated to it. */
export const WAL_SIZE_LIMIT = 16 * 1024 * 1024;
/** Pages in the WAL past which the writers hold for a checkpoint that catches up (~8 MB). */
export const HOLD_PAGES = 2048;
/** The longest the writers hold. */
const MAX_HOLD_MS = 250;

export class Checkpointer {
  readonly stats: CheckpointStats = { runs: 0, held: 0, log: 0, checkpointed: 0, lastError: null };
  private readonly worker: Worker;

  /**
   * `hold` pauses the writers and calls back once no write is under way; `release` resumes
   * them. Both come from the group commit (src/store/group-commit.ts).
   */
  constructor(db: Database.Database, file: string, writers: { hold(ready: () => void): void; release(): void }, everyMs = 250, holdPages = HOLD_PAGES) {
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { file, everyMs, holdPages }, execArgv: [] });
    let holding: NodeJS.Timeout | null = null;
    const release = () => {
      if (holding === null) return;
      clearTimeout(holding);
      holding = null;
      writers.release();
    };
    this.worker.on('message', (m: { type: string; log?: number; checkpointed?: number; held?: boolean; message?: string }) => {
      if (m.type === 'checkpointed') {
        this.stats.runs++;
        if (m.held) this.stats.held++;
        this.stats.log = m.log!;
        this.stats.checkpointed = m.checkpointed!;
      } else if (m.type === 'hold') {
        // Never hold for long, whatever happens to the worker.
        holding = setTimeout(release, MAX_HOLD_MS);
        writers.hold(() => this.worker.postMessage('held'));
      } else if (m.type === 'release') release();
      else this.stats.lastError = m.message ?? 'checkpoint failed';
    });
    this.worker.once('exit', release);
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.worker.unref();
    this.worker.on('error', (err) => {
      this.stats.lastError = err.message;
    });
  }

  /** Asks for a checkpoint now (tests). */
  now(): void {
    this.worker.postMessage('now');
  }

  async close(): Promise<void> {
    // Held until it is gone: its connection closes before the store's does.
    this.worker.ref();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}
