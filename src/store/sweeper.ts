// [QW9] Expired idempotency records, and (EVENT_RETENTION_DAYS) old events below their
// queue's snapshot, are swept in the background, a bounded batch at a time; and whatever
// else a feature keeps only for a while (radio history older than RADIO_HISTORY_DAYS).
import type { FastifyBaseLogger } from 'fastify';
import type { RetentionConfig } from '../config.ts';
import type { StoreAdmin } from './port.ts';

const DAY_MS = 24 * 3600_000;
const BATCH = 5_000;

/** Starts the periodic sweep; the returned function stops it. */
export function startSweeper(
  store: Pick<StoreAdmin, 'sweep'>,
  retention: RetentionConfig,
  now: () => number,
  log: FastifyBaseLogger,
  /** More to sweep each round (radio history, issue 24): each says how many rows it deleted. */
  extra: { name: string; sweep(): Promise<number> }[] = [],
): () => void {
  const sweep = async () => {
    for (const x of extra) {
      const n = await x.sweep();
      if (n > 0) log.info({ [x.name]: n }, `swept ${n} rows of ${x.name}`);
    }
    const t = now();
    for (let round = 0; round < 100; round++) {
      const r = await store.sweep({
        idempotencyBefore: t - retention.idempotencyTtlHours * 3600_000,
        eventsBefore: retention.eventRetentionDays === null ? undefined : t - retention.eventRetentionDays * DAY_MS,
        limit: BATCH,
      });
      if (r.idempotencyRecords > 0 || r.events > 0) log.info(r, 'swept expired idempotency records and trimmed events');
      if (r.idempotencyRecords < BATCH && r.events < BATCH) break;
    }
  };
  const timer = setInterval(() => void sweep().catch((err) => log.warn({ err }, 'sweep failed')), retention.sweepIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
