// The one commit path of every event stream (queues, offline batches, users' playback
// streams, parties): idempotent replay, one writer per stream in this process, the stream
// lock other instances respect, retry with growing jittered back-off when another
// instance appended first, and publish-after-commit in sequence order. What to decide and
// what to append stay with each service; how a write commits lives here, once.
import { conflict, VersionConflictError } from '../errors.ts';
import { IdempotencyConflict } from '../store/port.ts';
import { KeyedSerial } from './keyed-serial.ts';

/** Attempts of a write without an expected version when other instances keep appending first. */
export const MAX_COMMIT_ATTEMPTS = 30;

export interface CommitOptions<R> {
  /**
   * The answer recorded under the request's idempotency key, or null (none, or no key).
   * Asked before anything else, and again when a concurrent request with the same key
   * committed first (the store threw IdempotencyConflict).
   */
  replay?: () => Promise<R | null>;
  /**
   * Decide and append once. `attempt` counts from 1. Throwing VersionConflictError asks for
   * another attempt when `retry` allows it; IdempotencyConflict is answered by `replay`
   * (409 idempotency_conflict when there is still none), or thrown on without one.
   */
  once: (attempt: number) => Promise<R>;
  /** Whether a version conflict is retried (false when the client pinned a version). */
  retry?: boolean;
  /**
   * Runs right after a commit, before the next write to the same stream in this process
   * starts: listeners and the bus see a stream's events in sequence order.
   */
  committed?: (result: R) => void;
  /**
   * The first attempt runs without the stream lock, decided on what the caller has and
   * version-checked by the store's append (which batches it with others: group commit).
   * Only when another instance appended first do the retries take the lock. For stores
   * with a stream lock (PostgreSQL); without one, every attempt is unlocked anyway.
   */
  optimisticFirst?: boolean;
}

export interface Committed<R> {
  result: R;
  /** True when the result is the recorded answer of an earlier request with the same key. */
  replayed: boolean;
}

export class CommitPath {
  private readonly serial = new KeyedSerial();

  /** The cross-instance stream lock, when the store has one (PostgreSQL: the queue's header row, FOR UPDATE). */
  private readonly lock?: <T>(stream: string, fn: () => Promise<T>) => Promise<T>;
  private readonly maxAttempts: number;

  constructor(lock?: <T>(stream: string, fn: () => Promise<T>) => Promise<T>, maxAttempts = MAX_COMMIT_ATTEMPTS) {
    this.lock = lock;
    this.maxAttempts = maxAttempts;
  }

  async run<R>(stream: string, o: CommitOptions<R>): Promise<Committed<R>> {
    const seen = o.replay ? await o.replay() : null;
    if (seen !== null) return { result: seen, replayed: true };
    const out = await this.serial.run(stream, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          // The lock is held for one attempt: released (its transaction committed) before
          // the listeners hear of the commit, and never held through a back-off.
          const result = attempt === 1 && o.optimisticFirst ? await o.once(attempt) : await this.locked(stream, () => o.once(attempt));
          o.committed?.(result);
          return { result };
        } catch (err) {
          // Without a replay the caller handles a key race itself (e.g. a batch of keys).
          if (err instanceof IdempotencyConflict && o.replay) return null;
          if (err instanceof VersionConflictError && o.retry !== false && attempt < this.maxAttempts) {
            // Random, growing back-off so two instances writing one stream do not keep colliding.
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
            continue;
          }
          throw err;
        }
      }
    });
    if (out !== null) return { result: out.result, replayed: false };
    const later = o.replay ? await o.replay() : null;
    if (later !== null) return { result: later, replayed: true };
    throw conflict('idempotency_conflict', 'a request with this idempotency key is being processed');
  }

  private locked<T>(stream: string, fn: () => Promise<T>): Promise<T> {
    return this.lock ? this.lock(stream, fn) : fn();
  }
}
