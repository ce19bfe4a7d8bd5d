// The app factory: everything the service needs arrives as a parameter (store and feature
// stores, tokens, clock, ids, limits, bus, presence), so tests and the CLI wire it their
// way. The services are built in one place (src/services.ts); here the HTTP server gets
// its cross-cutting rules, in order, and then each feature's transport is registered.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import type { Redis } from 'ioredis';
import type { Authenticator } from './auth/authenticator.ts';
import {
  DEFAULT_LIMITS,
  DEFAULT_MEDIA,
  DEFAULT_OVERLOAD,
  DEFAULT_RATE_LIMITS,
  DEFAULT_REALTIME,
  DEFAULT_RETENTION,
  type CorsConfig,
  type Limits,
  type OverloadConfig,
  type PartyConfig,
  type RadioConfig,
  type RateLimitConfig,
  type RealtimeConfig,
  type RetentionConfig,
} from './config.ts';
import { collabRoutes } from './collab/routes.ts';
import { LocalQueuePresence, type QueuePresence } from './realtime/queue-presence.ts';
import { AppError } from './errors.ts';
import { Admission, installAdmission } from './http/admission.ts';
import { installAuth } from './http/auth.ts';
import { installBodyParsing } from './http/body.ts';
import { browserHeaders, installBrowserSupport, installSocketOriginCheck } from './http/browser.ts';
import { installDocs } from './http/docs.ts';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './http/errors.ts';
import { installRateLimits, installSocketCap } from './http/limits.ts';
import { operationsRoutes } from './http/operations.ts';
import { ErrorResponse } from './http/schemas.ts';
import { installRouteOf, routeOf } from './http/route-of.ts';
import { tokenRoutes } from './http/token-routes.ts';
import { mediaRoutes } from './media/routes.ts';
import { resolveMediaSettings, type MediaSettings } from './media/signing.ts';
import { Metrics } from './metrics.ts';
import { offlineRoutes } from './offline/routes.ts';
import { partyClientMessages, partyServerMessages } from './party/protocol.ts';
import { partyRoutes } from './party/routes.ts';
import { playbackRoutes } from './playback/routes.ts';
import type { PlaybackService } from './playback/service.ts';
import { queueRoutes } from './queues/routes.ts';
import { CollaboratorSchema, EventSchema, QueueSchema, QueueWindowSchema } from './queues/schemas.ts';
import type { QueueService } from './queues/service.ts';
import { recommendationsPlugin } from './radio/plugin.ts';
import { RETRY_AFTER_SECONDS } from './radio/services.ts';
import { asyncApiDocument } from './realtime/asyncapi.ts';
import { LocalBus, type Bus } from './realtime/bus.ts';
import { LocalPresence, presenceTtlMs, type Presence } from './realtime/presence.ts';
import { CloseCode } from './realtime/protocol.ts';
import { SocketServer } from './realtime/socket-server.ts';
import { socketRoutes } from './queues/socket.ts';
import { buildServices } from './services.ts';
import type { Store } from './store/port.ts';
import { startSweeper } from './store/sweeper.ts';
import type { FeatureStores } from './stores.ts';

/** Longest path parameter the router accepts (longer: 414 path_parameter_too_long). */
export const MAX_PARAM_LENGTH = 512;

export interface AppDeps {
  store: Store;
  /** Every feature store, on the same database as `store` (src/stores.ts). */
  features: FeatureStores;
  /** Checks tokens (minted, and the identity provider's when configured), mints and revokes them (src/auth). */
  auth: Authenticator;
  tokenTtlSeconds?: number;
  limits?: Limits;
  now?: () => number;
  newId?: () => string;
  random?: () => number;
  /** A pino logger; none when absent. */
  logger?: FastifyBaseLogger;
  /** Carries committed events to sockets (other instances too); in-process by default. */
  bus?: Bus;
  /** Which devices have a socket open; this instance only by default. */
  presence?: Presence;
  /** Who has each queue open ([CO11]); this instance only by default (server.ts shares it through Redis). */
  queuePresence?: QueuePresence;
  realtime?: RealtimeConfig;
  /** Signed download URLs (offline play); without it, a random key for this process only. */
  media?: MediaSettings;
  /** Expiry of idempotency records, event trimming and the state cache; DEFAULT_RETENTION when absent. */
  retention?: RetentionConfig;
  /** Bounds on work in flight; past them requests and socket commands get a quick 503. */
  overload?: OverloadConfig;
  rateLimits?: RateLimitConfig;
  /** Rate-limit counters in this Redis (shared by the instances); local without it. */
  rateLimitRedis?: { client: Redis; prefix: string };
  /** Origins allowed for browsers (CORS and socket upgrades); none by default. */
  cors?: CorsConfig;
  /** Listening-party limits; DEFAULT_PARTY when absent. */
  party?: PartyConfig;
  /** Radio's memory of a listener (issue 24); DEFAULT_RADIO when absent. */
  radio?: RadioConfig;
}

export interface App {
  http: FastifyInstance;
  service: QueueService;
  playback: PlaybackService;
  metrics: Metrics;
  /** From now on answer 503 and close connections after each response (SIGTERM). */
  beginShutdown(): void;
}

/**
 * Errors on an open socket. A protocol error of the client's (a message past the size limit,
 * invalid UTF-8, a bad frame) has already been answered by ws with a close frame (1009, 1007,
 * 1002) and the rest of the client's data is read and dropped: the socket then closes
 * cleanly. @fastify/websocket's default terminated it at once, and a client still sending
 * (a second large message) got a reset instead of the close frame: 1006 (issue 20). Other
 * errors (a reset connection) end the socket at once, as before.
 */
function socketErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: WebSocket, request: FastifyRequest): void {
  if (typeof error.code === 'string' && error.code.startsWith('WS_ERR_')) {
    request.log.debug({ err: error.message }, 'socket closed for a protocol error');
    // Should the client never finish the closing handshake, it is cut off.
    setTimeout(() => socket.terminate(), 5_000).unref();
    return;
  }
  request.log.warn({ err: error.message }, 'socket error');
  socket.terminate();
}

/** Request ids: this process's random prefix, then a counter (base 36). */
function requestIds(): () => string {
  const prefix = randomUUID().slice(0, 13);
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const retention = deps.retention ?? DEFAULT_RETENTION;
  const realtime = deps.realtime ?? DEFAULT_REALTIME;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? randomUUID;
  const metrics = new Metrics();
  if (deps.store.commitStats) metrics.watchCommits(deps.store.commitStats.bind(deps.store));
  const http = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: limits.bodyBytes,
    // A per-process prefix and a counter: as unique as a UUID per request for the logs and
    // a 500's requestId, without a random UUID per request (issue 21).
    genReqId: requestIds(),
    // Station and track ids in paths may be up to a few hundred characters (Fastify's default is 100).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // The router's own refusals (bad percent-escapes, over-long parameters) and the HTTP
    // parser's (headers too large, ...) answer in our error shape too.
    frameworkErrors: frameworkErrorHandler(MAX_PARAM_LENGTH),
    clientErrorHandler,
    // Our own hook answers 503 during shutdown, in the API's error shape.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const bus = deps.bus ?? new LocalBus();
  const presence = deps.presence ?? new LocalPresence(presenceTtlMs(realtime.heartbeatMs), now);
  const queuePresence = deps.queuePresence ?? new LocalQueuePresence(now);
  const media = deps.media ?? resolveMediaSettings(DEFAULT_MEDIA, randomUUID());
  const services = buildServices({
    store: deps.store,
    features: deps.features,
    bus,
    presence,
    metrics,
    log: http.log,
    now,
    newId,
    random: deps.random ?? Math.random,
    limits,
    retention,
    party: deps.party,
    radio: deps.radio,
  });
  let closing = false;

  installBodyParsing(http);
  installErrorHandling(http);
  // onRequest hooks, in this order: admission (a refused request costs one branch and one
  // write: no JWT check, no Redis), security headers and CORS (so every answer has them),
  // shutdown, the per-IP limit (before the credential check), auth, the per-user limit,
  // socket rules.
  const corsConfig = deps.cors ?? { origins: [] };
  const headers = browserHeaders(corsConfig);
  // Admission first: a refused request costs one branch and one write (issue 20).
  installRouteOf(http);
  const admission = new Admission(deps.overload ?? DEFAULT_OVERLOAD, metrics, () => bus.lagMs?.() ?? 0);
  installAdmission(http, admission, { base: headers.api, cors: headers.cors });
  await installBrowserSupport(http, corsConfig, headers);
  // During shutdown new requests (also ones pipelined behind an in-flight one) get a 503
  // and their connection is closed; idle keep-alive connections are closed by server.ts.
  http.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    done(new AppError('unavailable', 'shutting_down', 'the server is shutting down; retry on another instance'));
  });
  const rateLimits = deps.rateLimits ?? DEFAULT_RATE_LIMITS;
  const rateLimiter = installRateLimits(http, { config: rateLimits, redis: deps.rateLimitRedis, metrics });
  installAuth(http, deps.auth);
  rateLimiter.installUserLimit();
  installSocketOriginCheck(http, corsConfig);
  installSocketCap(http, rateLimits.maxSocketsPerUser, metrics);
  http.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.method, routeOf(request).url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  await installDocs(http);
  // Shared schemas are added here, at the root: a plugin that adds its own would
  // get fastify's default (coercing) validator instead of ours.
  http.addSchema(ErrorResponse);
  http.addSchema(CollaboratorSchema);
  http.addSchema(QueueWindowSchema);
  http.addSchema(QueueSchema);
  http.addSchema(EventSchema);

  const stopSweeper = startSweeper(deps.store, retention, now, http.log, [
    { name: 'radio_history', sweep: () => services.recommendations.radio.pruneHistory() },
    // The idempotency records the features keep in their own tables, on the same expiry.
    { name: 'offline_outcomes', sweep: () => services.offline.sweep() },
    { name: 'reco_idempotency', sweep: () => services.recommendations.answers.sweep() },
  ]);
  http.addHook('onClose', async () => stopSweeper());

  // ---- Transport: each feature's routes and sockets over the services.
  const { queues, playback, recommendations } = services;
  metrics.watchJoins(() => queues.joinStats);
  await http.register(
    operationsRoutes({
      store: deps.store,
      metrics,
      recommender: recommendations.readiness,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
      asyncApi: () => asyncApiDocument({ server: partyServerMessages, client: partyClientMessages }),
    }),
  );
  await http.register(tokenRoutes(deps.auth, deps.tokenTtlSeconds ?? 30 * 24 * 3600));
  await http.register(queueRoutes(queues));
  // Collaboration: who is looking at a queue, invite codes.
  await http.register(collabRoutes({ queues, invites: services.invites, presence: queuePresence }));
  await http.register(playbackRoutes(playback));
  // Offline (docs/OFFLINE.md): POST /sync/offline, GET /queues/{id}/offline with signed
  // track URLs, and GET /media/verify for the media server that serves them.
  await http.register(offlineRoutes(services.offline, queues, media, now));
  await http.register(mediaRoutes(media, deps.auth, now));
  await http.register(websocket, { options: { maxPayload: realtime.maxPayloadBytes }, errorHandler: socketErrorHandler });
  // One connection lifecycle for the queue, sync and party sockets: heartbeat, token
  // expiry, held messages, re-sync after a bus reconnect, shutdown.
  const sockets = new SocketServer(http, {
    limits: realtime,
    heartbeatMs: realtime.heartbeatMs,
    bus,
    metrics,
    now,
    // Presence heals itself: entries of sockets that are no longer open are dropped.
    afterHeartbeat: (open) => {
      presence.refresh(open).catch((err) => http.log.warn({ err }, 'presence refresh failed'));
      queuePresence.keep(open);
    },
  });
  // A revocation (made here or on another instance) closes the sockets opened with what it revokes.
  const stopClosing = deps.auth.onRevocation(() => {
    sockets.closeWhere(
      (c) => c.credential !== null && deps.auth.isRevoked(c.credential),
      CloseCode.unauthorized,
      'the token was revoked; reconnect with a new token',
    );
  });
  http.addHook('onClose', async () => stopClosing());
  await http.register(
    socketRoutes({
      auth: deps.auth,
      server: sockets,
      queues,
      users: services.users,
      bus,
      presence,
      options: realtime,
      queuePresence,
      admission,
      now,
    }),
  );
  // Listening parties (src/party/): REST /parties/* and WS /ws/party/{partyId}, after the websocket plugin.
  await http.register(
    partyRoutes({
      service: services.parties,
      queues,
      server: sockets,
      bus,
      metrics,
      realtime,
      now,
      auth: deps.auth,
    }),
  );
  // Catalog, radio / infinite queues, recommendations, context (src/catalog, src/reco, src/radio).
  await http.register(recommendationsPlugin(recommendations, now));
  await http.register((await import('./console/plugin.ts')).consolePlugin()); // the web console at /console (issue 14)
  http.addHook('onClose', async () => {
    await recommendations.close();
    queuePresence.close();
    await bus.close();
  });
  return {
    http,
    service: queues,
    playback,
    metrics,
    beginShutdown: () => {
      closing = true;
    },
  };
}
