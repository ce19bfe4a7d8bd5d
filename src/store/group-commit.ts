// Group commit for the embedded store (issue 21; docs/adr/0005): the writes that arrive in
// one turn of the event loop share one SQLite transaction, each in a savepoint of its own.
// A write that throws (a version conflict, a taken idempotency key) rolls back to its
// savepoint and fails alone; the others commit together. Nobody hears of a write before the
// transaction holding it has committed: every promise settles after COMMIT returned.
//
// BEGIN/COMMIT was a quarter to a third of a write's time when each request had its own
// transaction; shared, it is paid once per turn. A batch is bounded in count and in time,
// so that one turn's transaction does not hold the event loop (and the answers) for long.
//
// A write may also come with a plain form that decides before it writes: it throws only a
// `clean` error (one raised before its first statement that changes anything) or nothing.
// The plain form runs without a savepoint (SAVEPOINT and RELEASE were two statements per
// write, ~5% of one). Should a plain write throw anything else, it may have written half:
// the whole transaction is rolled back and the batch run again, that write (from then on, in
// whichever batch it lands) in its savepoint and the others plain as before.
import type Database from 'better-sqlite3';

/** A plain write that threw an error it does not vouch for: the batch is redone, that write in a savepoint. */
class Redo extends Error {
  readonly job: Job;
  constructor(job: Job) {
    super('redo');
    this.job = job;
  }
}

interface Job {
  run: () => unknown;
  plain: (() => unknown) | undefined;
  clean: ((err: unknown) => boolean) | undefined;
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
  ok: boolean;
  value: unknown;
}

export interface GroupCommitOptions {
  /** Writes in one transaction at most; the rest wait for the next turn. */
  maxWrites?: number;
  /** A transaction takes no more writes once it has run this long (ms). */
  maxMs?: number;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;
  private readonly maxWrites: number;
  private readonly maxMs: number;
  /** Built once: runs jobs from the front of the batch, each in a savepoint, until a bound is reached. */
  private readonly transaction: Database.Transaction<(jobs: Job[]) => number>;
  /** Transactions committed and writes in them, and batches redone with savepoints, for tests and benchmarks. */
  readonly stats = { transactions: 0, writes: 0, largest: 0, redone: 0 };

  constructor(db: Database.Database, options: GroupCommitOptions = {}) {
    this.maxWrites = options.maxWrites ?? 128;
    this.maxMs = options.maxMs ?? 4;
    this.transaction = db.transaction((jobs: Job[]): number => {
      const start = performance.now();
      let n = 0;
      while (n < jobs.length && n < this.maxWrites && (n === 0 || performance.now() - start < this.maxMs)) {
        const job = jobs[n++]!;
        const plain = job.plain;
        try {
          job.value = plain ? plain() : job.run();
          job.ok = true;
        } catch (err) {
          if (plain && !job.clean!(err)) throw new Redo(job);
          job.ok = false;
          job.value = err;
        }
      }
      return n;
    });
  }

  /**
   * Runs `write` in the next group transaction and settles with its result once that
   * transaction committed. `write` must be a better-sqlite3 transaction function (so that it
   * becomes a savepoint of the group's transaction) and synchronous. `plain`, when given, is
   * the same write outside a savepoint, run instead: it must throw nothing but errors for which
   * `clean` is true, and those before it changed anything.
   */
  run<T>(write: () => T, plain?: { run: () => T; clean: (err: unknown) => boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: write, plain: plain?.run, clean: plain?.clean, resolve: resolve as (v: never) => void, reject, ok: false, value: undefined });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private held = false;

  /** Writes wait (in memory) from now until release(); `ready` is called at once, no write being under way. */
  hold(ready: () => void): void {
    this.held = true;
    ready();
  }

  release(): void {
    this.held = false;
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Commits what waits now, in one transaction (the rest, past the bounds, in the next turn). */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.held) return;
    this.commit();
    if (this.queue.length > 0) {
      // Bounded: the rest goes in the next turn, after the answers of this one.
      this.scheduled = true;
      setImmediate(this.flush);
    }
  };

  /** Commits everything that waits, now (before the store closes). */
  drain(): void {
    while (this.queue.length > 0) this.commit();
  }

  private commit(): void {
    const jobs = this.queue;
    let done: number;
    try {
      // IMMEDIATE takes the write lock at BEGIN: a deferred transaction would fail with
      // SQLITE_BUSY when another process (a CLI import, say) writes meanwhile.
      for (;;) {
        try {
          done = this.transaction.immediate(jobs);
          break;
        } catch (err) {
          if (!(err instanceof Redo)) throw err;
          // Rolled back: nothing of this batch is stored. Again, the write that threw in its
          // savepoint (should the time bound cut the batch before it, it keeps its savepoint in
          // the next one), the others plain: they threw nothing they did not vouch for.
          this.stats.redone++;
          err.job.plain = undefined;
        }
      }
    } catch (err) {
      // BEGIN or COMMIT failed: nothing of this batch is stored.
      this.queue = [];
      for (const job of jobs) job.reject(err);
      return;
    }
    this.queue = done === jobs.length ? [] : jobs.slice(done);
    this.stats.transactions++;
    this.stats.writes += done;
    if (done > this.stats.largest) this.stats.largest = done;
    for (let i = 0; i < done; i++) {
      const job = jobs[i]!;
      if (job.ok) job.resolve(job.value as never);
      else job.reject(job.value);
    }
  }
}
