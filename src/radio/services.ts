// Catalog, radio, recommendations and context (issue 7) as services, built once by the
// composition root (src/services.ts): the in-memory recommender kept in step with the
// catalog feature store, the services over it, and two QueueService hooks: radio queues
// running low extend themselves, and queue plays are recorded as listening data
// (attributed to the user's context). Transport is src/radio/plugin.ts.
import type { FastifyBaseLogger } from 'fastify';
import type { RadioConfig } from '../config.ts';
import type { CatalogStore } from '../catalog/store.ts';
import { CatalogSync } from '../catalog/sync.ts';
import { findItemById, type QueueEvent, type QueueState } from '../queues/queue.ts';
import type { QueueService } from '../queues/service.ts';
import { Recommender } from '../reco/recommender.ts';
import { collectGarbage } from '../util/gc.ts';
import { ContextualService } from './contextual.ts';
import { Answers } from '../catalog/answers.ts';
import { MixService } from './mixes.ts';
import { RadioService, type RecordedListen } from './service.ts';

export interface RecommendationsDeps {
  /** The catalog feature store (src/stores.ts builds it on the main store's connection). */
  catalog: CatalogStore;
  queues: QueueService;
  now: () => number;
  /** Radio's memory of a listener (RADIO_RECENT_HOURS, RADIO_RECENT_TRACKS, RADIO_HISTORY_DAYS); DEFAULT_RADIO when absent. */
  radio?: RadioConfig;
  /** IDEMPOTENCY_TTL_HOURS: how long the answers to an Idempotency-Key are kept (default 24 h). */
  idempotencyTtlMs?: number;
  log: FastifyBaseLogger;
}

/** Whether the recommender is built; until then its routes answer 503 with Retry-After. */
export interface Readiness {
  ready: boolean;
  error: string | null;
  /** Build time and memory, once built. */
  built?: { ms: number; rssMb: number; heapMb: number; heapTotalMb: number; externalMb: number; tracks: number; baskets: number };
  /** While building (issue 24): how far it got, every second (also logged every 5 s); /readyz's 503 details show it. */
  progress?: BuildProgress;
}

export interface BuildProgress {
  ms: number;
  tracks: number;
  baskets: number;
  rssMb: number;
  heapMb: number;
}

/** How often the build's progress is taken, and logged. */
const PROGRESS_EVERY_MS = 1_000;
const PROGRESS_LOG_EVERY = 5;

/** Seconds a client is asked to wait before retrying while the recommender builds. */
export const RETRY_AFTER_SECONDS = 2;

export interface Recommendations {
  catalog: CatalogStore;
  sync: CatalogSync;
  reco: Recommender;
  radio: RadioService;
  mixes: MixService;
  contextual: ContextualService;
  answers: Answers;
  /** Told when the recommender is built (or failed to build): /readyz and the routes wait for it. */
  readiness: Readiness;
  /** Writes what is pending (queue baskets, recorded plays); at shutdown. */
  close(): Promise<void>;
}

const KIND_OF_QUEUE: Record<string, string> = {
  user: 'user_collection',
  collaborative: 'user_collection',
  radio: 'radio',
  recommendations: 'personalized_playlist',
  party: 'user_collection',
};
const CHANGES_ITEMS = new Set(['item_added', 'item_removed', 'item_moved', 'queue_cleared', 'queue_deleted']);

/** Builds the recommender (in the background) and the services over it. */
export function buildRecommendations(o: RecommendationsDeps): Recommendations {
  const { catalog, now, log } = o;
  const reco = new Recommender();
  const readiness: Readiness = { ready: false, error: null };
  const started = performance.now();
  const sync = new CatalogSync(catalog, reco, { outOfOrder: catalog.commitsOutOfOrder, collect: collectGarbage });
  const progress = (): BuildProgress => {
    const m = process.memoryUsage();
    return {
      ms: Math.round(performance.now() - started),
      tracks: reco.engine.catalog.size,
      baskets: reco.engine.baskets.live,
      rssMb: Math.round(m.rss / 2 ** 20),
      heapMb: Math.round(m.heapUsed / 2 ** 20),
    };
  };
  readiness.progress = progress();
  let ticks = 0;
  const progressTimer = setInterval(() => {
    readiness.progress = progress();
    if (++ticks % PROGRESS_LOG_EVERY === 0)
      log.info(
        { progress: readiness.progress },
        `recommender building: ${readiness.progress.tracks} tracks, ${readiness.progress.baskets} baskets after ${(readiness.progress.ms / 1000).toFixed(0)} s; RSS ${readiness.progress.rssMb} MB`,
      );
  }, PROGRESS_EVERY_MS);
  progressTimer.unref();
  const built = () => {
    clearInterval(progressTimer);
    delete readiness.progress;
  };
  sync.ready.then(built, built);
  sync.ready.then(
    () => {
      const m = process.memoryUsage();
      readiness.built = {
        ms: Math.round(performance.now() - started),
        rssMb: Math.round(m.rss / 2 ** 20),
        heapMb: Math.round(m.heapUsed / 2 ** 20),
        heapTotalMb: Math.round(m.heapTotal / 2 ** 20),
        externalMb: Math.round(m.external / 2 ** 20),
        tracks: reco.engine.catalog.size,
        baskets: reco.engine.baskets.live,
      };
      readiness.ready = true;
      log.info(
        readiness.built,
        `recommender built in ${(readiness.built.ms / 1000).toFixed(1)} s: ${readiness.built.tracks} tracks, ${readiness.built.baskets} baskets; RSS ${readiness.built.rssMb} MB, heap ${readiness.built.heapMb} MB`,
      );
    },
    (err: unknown) => {
      readiness.error = String(err);
      log.error({ err }, 'the recommender could not be built');
    },
  );
  const onError = (err: unknown, what: string) => log.warn({ err }, what);
  const radio = new RadioService({ queues: o.queues, catalog, sync, reco, now, onError, radio: o.radio });
  const answers = new Answers(catalog, now, o.idempotencyTtlMs);
  const mixes = new MixService({ queues: o.queues, reco, radio, now });
  const contextual = new ContextualService({ queues: o.queues, catalog, sync, reco, now });

  // Plays are recorded in commit order, off the write path; a failure is logged, never
  // thrown at the writer. Plays that arrive while a batch is being written go into the
  // next one: one append and one engine refresh per batch, not per play.
  const pendingPlays: { userId: string; e: RecordedListen }[] = [];
  let plays: Promise<void> | null = null;
  const drainPlays = async () => {
    await Promise.resolve(); // the caller has stored this promise in `plays` before we go on
    try {
      while (pendingPlays.length > 0) {
        const batch = pendingPlays.splice(0, 500);
        await radio.recordMany(batch).catch((err) => onError(err, `recording ${batch.length} plays`));
      }
    } finally {
      plays = null;
    }
  };
  const recordPlays = (queueId: string, events: QueueEvent[], state: QueueState) => {
    for (const e of events) {
      if (e.type !== 'current_item_changed' || e.data.itemId === null || e.data.reason === 'previous') continue;
      const item = findItemById(state, e.data.itemId);
      if (!item) continue;
      const source =
        state.type === 'radio' && typeof (state.metadata.radio as { stationId?: unknown })?.stationId === 'string'
          ? `station:${(state.metadata.radio as { stationId: string }).stationId}`
          : `queue:${queueId}`;
      pendingPlays.push({
        userId: e.userId,
        e: { trackId: item.trackId, action: 'play', position: null, source, contextType: KIND_OF_QUEUE[state.type] ?? null, sessionId: `queue:${queueId}` },
      });
    }
    if (pendingPlays.length > 0 && plays === null) plays = drainPlays();
  };

  // Queues people put together are co-occurrence data (not radio / mixes: those are ours).
  // Their baskets are rebuilt at most once a second per queue, off the write path: a
  // rebuild reads up to 500 tracks, which a write to a long queue must not pay each time.
  const dirty = new Map<string, QueueState>();
  let flushTimer: NodeJS.Timeout | null = null;
  const flushQueues = () => {
    flushTimer = null;
    for (const [queueId, state] of dirty) reco.engine.setQueue(queueId, state.deleted ? [] : state.items.slice(0, 500).map((i) => i.trackId));
    dirty.clear();
  };
  o.queues.onCommitted((queueId, events, state) => {
    radio.onCommitted(queueId, events, state);
    recordPlays(queueId, events, state);
    if ((state.type === 'user' || state.type === 'collaborative') && events.some((e) => CHANGES_ITEMS.has(e.type))) {
      dirty.set(queueId, state);
      flushTimer ??= setTimeout(flushQueues, 1000).unref();
    }
  });

  return {
    catalog,
    sync,
    reco,
    radio,
    mixes,
    contextual,
    answers,
    readiness,
    async close() {
      if (flushTimer) clearTimeout(flushTimer);
      flushQueues();
      await plays;
    },
  };
}
