// The one commit path of every event stream (queues, offline batches, users' playback
// streams, parties): idempotent replay, one writer per stream in this process, the stream
// lock other instances respect, retry with growing jittered back-off when another
// instance appended first, and publish-after-commit in sequence order. What to decide and
// what to append stay with each service; how a write commits lives here, once.
//
// Beside it, idempotency, also once: what a request was (`fingerprint`), the one decision
// on a recorded key (`recall`: replay it, or refuse a key reused for another request), the
// one expiry of the records (`idempotencyCutoff`), and the race of two requests with one key
// (`IdempotencyConflict`, answered by CommitPath). Every keyed write uses these: queue
// writes and batches, playback, parties, the catalog's answers and offline mutation ids.
import { createHash } from 'node:crypto';
import { AppError, conflict, VersionConflictError } from '../errors.ts';
import { KeyedSerial } from './keyed-serial.ts';

/** What a request was (method, path, body...), so a key reused for another request is refused. */
export function fingerprint(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/**
 * The one record shape every idempotency record is read as: the fingerprint of the request
 * that first used the key, and what it answered (an HTTP-like status and body, a party
 * event's sequence number, an offline outcome: the answer's form is the feature's).
 */
export type KeyRecord<A> = A & { fingerprint: string };

/** How a feature says "this key was used for another request" (its code, message and details stay its own). */
export interface KeyReuse {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** The refusal of a reused Idempotency-Key (REST and socket writes, the catalog's answers). */
export const keyReused = (idempotencyKey: string): KeyReuse => ({
  code: 'idempotency_key_reused',
  message: 'this idempotency key was used for a different request',
  details: { idempotencyKey },
});

/**
 * The one replay-or-reused decision: no record, null (a new request); a record of the same
 * request, the record (answer it again); a record of another request, 422 with `reuse`.
 */
export function recall<A>(record: KeyRecord<A> | null | undefined, fp: string, reuse: KeyReuse): KeyRecord<A> | null {
  if (!record) return null;
  if (record.fingerprint !== fp) throw new AppError('limit', reuse.code, reuse.message, reuse.details);
  return record;
}

/** How long every idempotency record is kept: older ones are ignored and swept (default 24 h). */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3600_000;

/** The one expiry: idempotency records created before this time (ISO) have expired. */
export function idempotencyCutoff(o: { idempotencyTtlMs?: number }, now = Date.now()): string {
  return new Date(now - (o.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS)).toISOString();
}

/** Rows deleted per statement when expired records are swept. */
export const SWEEP_BATCH = 5_000;

/**
 * Deletes expired records (created before `before`, ISO) a bounded batch at a time, as the
 * sweeper does for every kind of idempotency record; how many it deleted.
 */
export async function sweepExpired(deleteBatch: (before: string, limit: number) => Promise<number>, before: string, maxRounds = 100): Promise<number> {
  let total = 0;
  for (let round = 0; round < maxRounds; round++) {
    const n = await deleteBatch(before, SWEEP_BATCH);
    total += n;
    if (n < SWEEP_BATCH) break;
  }
  return total;
}

/** Thrown by a store's append when another request recorded the same idempotency key first. */
export class IdempotencyConflict extends Error {
  readonly userId: string;
  readonly key: string;
  constructor(userId: string, key: string) {
    super(`idempotency key ${key} was recorded concurrently`);
    this.userId = userId;
    this.key = key;
  }
}

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
   * When a key race leaves no recorded answer (some keys of a batch, not all, were recorded
   * by a concurrent try): run the whole write again (replay, then decide), up to the attempt
   * limit, instead of answering 409 idempotency_conflict at once.
   */
  again?: boolean;
  /** The message of the 409 idempotency_conflict (default: a request with this key is being processed). */
  busy?: string;
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

/**
 * An ephemeral message on a stream, outside its sequence (presence): nothing is committed,
 * so it carries no events, but it leaves the way a commit does (CommitListeners.note).
 */
export type StreamNote = Record<string, unknown>;

/**
 * The one way a stream's commits are told: after-commit listeners (metrics, the bus, the
 * recommender's hooks), called from CommitPath's `committed`, so in sequence order per
 * stream. Every kind of stream (queues, users' playback streams, parties) has one; the
 * composition root (src/services.ts) hooks the bus to each. The events are committed when
 * a listener runs: one that throws is reported to `onError` and the others still run.
 *
 * A stream's notes (presence: who has a queue open, which devices are online) go the same
 * way, to the note listeners, so nothing but the composition root's hooks publishes to the
 * bus; the sockets tell the service, never the bus.
 */
export class CommitListeners<A extends unknown[]> {
  private readonly list: ((...args: A) => void)[] = [];
  private readonly notes: ((id: string, note: StreamNote) => void)[] = [];
  private readonly onError: (err: unknown) => void;
  constructor(onError: (err: unknown) => void = () => {}) {
    this.onError = onError;
  }

  add(listener: (...args: A) => void): void {
    this.list.push(listener);
  }

  /** Hears the stream's notes (no events, not sequenced). */
  addNote(listener: (id: string, note: StreamNote) => void): void {
    this.notes.push(listener);
  }

  tell(...args: A): void {
    for (const l of this.list) {
      try {
        l(...args);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  note(id: string, note: StreamNote): void {
    for (const l of this.notes) {
      try {
        l(id, note);
      } catch (err) {
        this.onError(err);
      }
    }
  }
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
    for (let round = 1; ; round++) {
      const seen = o.replay ? await o.replay() : null;
      if (seen !== null) return { result: seen, replayed: true };
      // A key race already happened and there is still no answer to give.
      if (round > 1 && (!o.again || round > this.maxAttempts)) {
        throw conflict('idempotency_conflict', o.busy ?? 'a request with this idempotency key is being processed');
      }
      const out = await this.serial.run(stream, () => this.attempts(stream, o));
      if (out !== null) return { result: out.result, replayed: false };
    }
  }

  /** Decide and append, retried on version conflicts; null when a concurrent request recorded the key first. */
  private async attempts<R>(stream: string, o: CommitOptions<R>): Promise<{ result: R } | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        // The lock is held for one attempt: released (its transaction committed) before
        // the listeners hear of the commit, and never held through a back-off.
        const result = attempt === 1 && o.optimisticFirst ? await o.once(attempt) : await this.locked(stream, () => o.once(attempt));
        o.committed?.(result);
        return { result };
      } catch (err) {
        // Without a replay the caller handles a key race itself.
        if (err instanceof IdempotencyConflict && o.replay) return null;
        if (err instanceof VersionConflictError && o.retry !== false && attempt < this.maxAttempts) {
          // Random, growing back-off so two instances writing one stream do not keep colliding.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
          continue;
        }
        throw err;
      }
    }
  }

  private locked<T>(stream: string, fn: () => Promise<T>): Promise<T> {
    return this.lock ? this.lock(stream, fn) : fn();
  }
}
