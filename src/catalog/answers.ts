// Idempotency-Key on the recommendation writes (radio and mix queues, extend, feedback,
// history): the first answer is kept in `reco_idempotency` (migration 020) and a retry
// with the same key gets it back (header `idempotent-replayed: true`) without writing
// again; the same key on another request is 422 `idempotency_key_reused` (both decided by
// util/commit.ts's `recall`); answers expire after IDEMPOTENCY_TTL_HOURS like every idempotency
// record (util/commit.ts's `idempotencyCutoff`), and the sweeper deletes them. Retries in this
// process wait for the first try; across instances the queue writes underneath carry the
// key too, so a queue is never extended twice for one key (see RadioService.extend).
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogStore } from './store.ts';
import { AppError } from '../errors.ts';
import { fingerprint, idempotencyCutoff, keyReused, recall, sweepExpired } from '../util/commit.ts';
import { KeyedSerial } from '../util/keyed-serial.ts';

export interface Keyed {
  key: string;
  fingerprint: string;
}

/** The request's Idempotency-Key and what the request was, or null without a key. */
export function keyOf(r: FastifyRequest): Keyed | null {
  const key = r.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) return null;
  if (key.length > 200) throw new AppError('invalid', 'validation_failed', 'Idempotency-Key is at most 200 characters', {});
  return { key, fingerprint: fingerprint(r.method, r.routeOptions.url, r.params, r.query, r.body) };
}

export class Answers {
  private readonly serial = new KeyedSerial();

  private readonly store: CatalogStore;
  private readonly now: () => number;
  private readonly ttl: { idempotencyTtlMs?: number };
  /** `idempotencyTtlMs`: IDEMPOTENCY_TTL_HOURS (default 24 h), the expiry of every idempotency record. */
  constructor(store: CatalogStore, now: () => number, idempotencyTtlMs?: number) {
    this.store = store;
    this.now = now;
    this.ttl = { idempotencyTtlMs };
  }

  /** The sweeper's part: deletes the expired answers; how many. */
  sweep(): Promise<number> {
    return sweepExpired((before, limit) => this.store.sweepAnswers(before, limit), idempotencyCutoff(this.ttl, this.now()));
  }

  /** Runs `fn` once per key: a retry answers the stored body. */
  async once<T>(userId: string, k: Keyed | null, status: number, fn: () => Promise<T>): Promise<{ body: T; replayed: boolean }> {
    if (!k) return { body: await fn(), replayed: false };
    return this.serial.run(`${userId}\u0000${k.key}`, async () => {
      // The one expiry of idempotency records: an older answer is not replayed.
      const since = idempotencyCutoff(this.ttl, this.now());
      const seen = recall(await this.store.getAnswer(userId, k.key, since), k.fingerprint, keyReused(k.key));
      if (seen) return { body: seen.body as T, replayed: true };
      const body = await fn();
      await this.store.saveAnswer(userId, k.key, { fingerprint: k.fingerprint, status, body }, new Date(this.now()).toISOString(), since);
      return { body, replayed: false };
    });
  }
}

/** Sets the status and the replay header; returns the body. */
export function answer<T>(reply: FastifyReply, status: number, res: { body: T; replayed: boolean }): T {
  if (res.replayed) reply.header('idempotent-replayed', 'true');
  reply.status(status);
  return res.body;
}

/** Idempotency-Key on every recommendation write: a retry gets the first answer. */
export const KeyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'A retry with the same key gets the first answer and writes nothing' }),
  ),
  'x-device-id': Type.Optional(Type.String({ maxLength: 255 })),
});
