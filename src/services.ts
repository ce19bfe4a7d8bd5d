// The composition root: every service of the app, built in one place from the
// configuration and the parts the process opened (the store and feature stores, the bus,
// presence, the clock and the id generator). The HTTP and socket plugins receive these
// services and only register transport.
import type { FastifyBaseLogger } from 'fastify';
import { InviteService } from './collab/service.ts';
import type { Limits, PartyConfig, RadioConfig, RetentionConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import { OfflineSyncService } from './offline/service.ts';
import { DEFAULT_PARTY_OPTIONS, PartyService } from './party/service.ts';
import { PlaybackService } from './playback/service.ts';
import { userStream } from './playback/user-stream.ts';
import { QueueService } from './queues/service.ts';
import { buildRecommendations, type Recommendations } from './radio/services.ts';
import type { Bus } from './realtime/bus.ts';
import type { Presence } from './realtime/presence.ts';
import type { UserStream } from './queues/socket-commands.ts';
import type { Store } from './store/port.ts';
import type { FeatureStores } from './stores.ts';

export interface ServiceDeps {
  store: Store;
  features: FeatureStores;
  bus: Bus;
  presence: Presence;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** The clock (epoch ms), the id generator and the random source every service uses. */
  now: () => number;
  newId: () => string;
  random: () => number;
  limits: Limits;
  retention: RetentionConfig;
  party?: Partial<PartyConfig>;
  radio?: RadioConfig;
}

export interface Services {
  queues: QueueService;
  playback: PlaybackService;
  /** The user sync stream as the sockets use it (over `playback`). */
  users: UserStream;
  invites: InviteService;
  offline: OfflineSyncService;
  parties: PartyService;
  recommendations: Recommendations;
}

export function buildServices(d: ServiceDeps): Services {
  const { store, features, bus, now, newId } = d;
  // The one expiry of every idempotency record (IDEMPOTENCY_TTL_HOURS).
  const idempotencyTtlMs = d.retention.idempotencyTtlHours * 3600_000;
  const onListenerError = (err: unknown) => d.log.error({ err }, 'a listener failed after a commit (the write stands)');
  const queues = new QueueService({
    store,
    now,
    newId,
    random: d.random,
    maxItemsPerQueue: d.limits.itemsPerQueue,
    addsPerMinute: d.limits.addsPerMinute,
    maxCollaborators: d.limits.collaboratorsPerQueue,
    cacheQueues: d.retention.cacheQueues,
    cacheItems: d.retention.cacheItems,
    onListenerError,
  });
  // Every stream's commits are told one way (CommitListeners, src/util/commit.ts), and the
  // bus is hooked to each here. Queues, after each commit, in this order: metrics, then the
  // bus (each instance forwards the events to its sockets), then the recommender's hooks
  // (registered by buildRecommendations).
  queues.onCommitted((_q, events) => {
    for (const e of events) d.metrics.eventsAppended.inc({ type: e.type });
  });
  queues.onCommitted((queueId, events) => bus.publish({ stream: 'queue', id: queueId, events }));
  // Presence notes leave the same way, through the services' listeners: no socket publishes.
  queues.onNote((queueId, note) => bus.publish({ stream: 'queue', id: queueId, events: [], note }));
  const playback = new PlaybackService({ store, queues, presence: d.presence, now, onListenerError });
  playback.onCommitted((userId, events) => bus.publish({ stream: 'user', id: userId, events }));
  playback.onNote((userId, note) => bus.publish({ stream: 'user', id: userId, events: [], note }));
  const parties = new PartyService({ store: features.parties, queues, now, newId, options: { ...DEFAULT_PARTY_OPTIONS, ...d.party }, onListenerError });
  parties.onCommitted((partyId, events) => bus.publish({ stream: 'party', id: partyId, events }));
  return {
    queues,
    playback,
    users: userStream(playback),
    invites: new InviteService({ queues, invites: features.invites, now }),
    offline: new OfflineSyncService({ store, queues, playback, offline: features.offline, now, idempotencyTtlMs }),
    parties,
    recommendations: buildRecommendations({ catalog: features.catalog, queues, now, radio: d.radio, idempotencyTtlMs, log: d.log }),
  };
}
