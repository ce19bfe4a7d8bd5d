// The app factory: everything the service needs arrives as a parameter
// (store, tokens, clock, ids, limits), so tests and the CLI wire it their way.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Tokens } from './auth/tokens.ts';
import { USER_ID_PATTERN } from './auth/tokens.ts';
import {
  DEFAULT_LIMITS, DEFAULT_OVERLOAD, DEFAULT_RATE_LIMITS, DEFAULT_REALTIME, DEFAULT_RETENTION,
  type CorsConfig, type Limits, type PartyConfig, type OverloadConfig, type RateLimitConfig, type RealtimeConfig, type RetentionConfig,
} from './config.ts';
import type { Redis } from 'ioredis';
import { Admission, installAdmission } from './http/admission.ts';
import { installBrowserSupport, installSocketOriginCheck } from './http/browser.ts';
import { installRateLimits, installSocketCap } from './http/limits.ts';
import { installAuth } from './http/auth.ts';
import { clientErrorHandler, errorBody, frameworkErrorHandler, installErrorHandling } from './http/errors.ts';
import { ErrorResponse, errors } from './http/schemas.ts';
import { Metrics } from './metrics.ts';
import websocket from '@fastify/websocket';
import { AppError } from './errors.ts';
import { guardJson, guardParams } from './http/json-guard.ts';
import { playbackRoutes } from './playback/routes.ts';
import { PlaybackWriteBody } from './playback/schemas.ts';
import { PlaybackService, type PlaybackWrite } from './playback/service.ts';
import { asyncApiDocument } from './realtime/asyncapi.ts';
import { socketRoutes, type UserStream } from './realtime/sockets.ts';
import { coercingAjv, strictAjv } from './validation.ts';
import { queueRoutes } from './queues/routes.ts';
import { CollaboratorSchema, EventSchema, QueueSchema, QueueWindowSchema } from './queues/schemas.ts';
import { collabRoutes } from './collab/routes.ts';
import { LocalQueuePresence, RedisQueuePresence } from './collab/presence.ts';
import { InviteService } from './collab/service.ts';
import { RedisBus } from './realtime/redis-bus.ts';
import { fingerprint, QueueService } from './queues/service.ts';
import { LocalBus, type Bus, type SequencedEvent } from './realtime/bus.ts';
import { LocalPresence, presenceTtlMs, type Presence } from './realtime/presence.ts';
import type { Store } from './store/port.ts';
import { DEFAULT_MEDIA } from './config.ts';
import { mediaRoutes } from './media/routes.ts';
import { resolveMediaSettings, type MediaSettings } from './media/signing.ts';
import { offlineRoutes } from './offline/routes.ts';
import { partyRoutes } from './party/routes.ts';
import { recommendationsPlugin, RETRY_AFTER_SECONDS, type Readiness } from './radio/plugin.ts';
import { OfflineSyncService } from './offline/service.ts';
import type { FeatureStores } from './stores.ts';

/** Longest path parameter the router accepts (longer: 414 path_parameter_too_long). */
export const MAX_PARAM_LENGTH = 512;

export interface AppDeps {
  store: Store;
  /** Every feature store, on the same database as `store` (src/stores.ts). */
  features: FeatureStores;
  tokens: Tokens;
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
  /** Radio settings (issue 12): the per-user no-repeat window in days (0 = none). */
  radio?: { noRepeatDays: number };
}

/** The user stream as the sockets see it, over the playback service. */
function userStream(playback: PlaybackService): UserStream {
  return {
    readEvents: (userId, after, limit) => playback.readEvents(userId, after, limit) as unknown as Promise<SequencedEvent[]>,
    snapshot: (userId) => playback.snapshot(userId) as Promise<{ sequenceNumber: number; data: Record<string, unknown> }>,
    registerDevice: async (userId, deviceId, info) => {
      await playback.registerDevice(userId, deviceId, info);
    },
    setPlayback: async (userId, deviceId, args, mutationId) => {
      if (!validatePlayback(args)) {
        const e = validatePlayback.errors?.[0];
        throw new AppError('invalid', 'validation_failed', `args${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`, { op: 'set_playback', issues: validatePlayback.errors ?? [] });
      }
      const body = args as PlaybackWrite & { mutationId?: string; deviceId: string };
      const res = await playback.write({ userId, deviceId }, body, { idempotencyKey: mutationId, fingerprint: fingerprint('ws', 'set_playback', args) });
      return { sequenceNumber: res.body.sequenceNumber, result: res.body as unknown as Record<string, unknown> };
    },
  };
}
const validatePlayback = strictAjv.compile(PlaybackWriteBody);

export interface App {
  http: FastifyInstance;
  service: QueueService;
  playback: PlaybackService;
  metrics: Metrics;
  /** From now on answer 503 and close connections after each response (SIGTERM). */
  beginShutdown(): void;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const retention = deps.retention ?? DEFAULT_RETENTION;
  const metrics = new Metrics();
  const http = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: limits.bodyBytes,
    genReqId: () => randomUUID(),
    // Station and track ids in paths may be up to a few hundred characters (Fastify's default is 100).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // The router's own refusals (bad percent-escapes, over-long parameters) and the HTTP
    // parser's (headers too large, ...) answer in our error shape too.
    frameworkErrors: frameworkErrorHandler(MAX_PARAM_LENGTH),
    clientErrorHandler,
    // Our own hook answers 503 during shutdown, in the API's error shape.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  const realtime = deps.realtime ?? DEFAULT_REALTIME;
  const bus = deps.bus ?? new LocalBus();
  const presence = deps.presence ?? new LocalPresence(presenceTtlMs(realtime.heartbeatMs));
  let closing = false;

  http.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema));

  // An empty body on a POST/PUT is an empty object: next, previous and clear need none.
  const json = http.getDefaultJsonParser('error', 'ignore');
  http.removeContentTypeParser('application/json');
  http.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, {});
    json(req, body as string, (err, parsed) => {
      if (err) return done(err, undefined);
      try {
        guardJson(parsed);
      } catch (e) {
        return done(e as Error, undefined);
      }
      done(null, parsed);
    });
  });
  http.addHook('preValidation', async (request) => {
    // NUL and lone surrogates from percent-escapes never reach a store (PostgreSQL refuses them).
    guardParams(request.params, 'path');
    guardParams(request.query, 'query');
    if (request.body === undefined && ['POST', 'PUT', 'PATCH'].includes(request.method)) request.body = {};
  });

  installErrorHandling(http);
  // onRequest hooks, in this order: security headers and CORS (so every answer has them),
  // shutdown, admission (a refused request costs one branch: no JWT check, no Redis),
  // the per-IP limit (before the credential check), auth, the per-user limit, socket rules.
  const corsConfig = deps.cors ?? { origins: [] };
  await installBrowserSupport(http, corsConfig);
  // During shutdown new requests (also ones pipelined behind an in-flight one) get a 503
  // and their connection is closed; idle keep-alive connections are closed by server.ts.
  http.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw new AppError('unavailable', 'shutting_down', 'the server is shutting down; retry on another instance');
  });
  const admission = new Admission(deps.overload ?? DEFAULT_OVERLOAD, metrics, () => bus.lagMs?.() ?? 0);
  await installAdmission(http, admission);
  const rateLimits = deps.rateLimits ?? DEFAULT_RATE_LIMITS;
  const rateLimiter = await installRateLimits(http, { config: rateLimits, redis: deps.rateLimitRedis, metrics });
  installAuth(http, deps.tokens);
  rateLimiter.installUserLimit();
  installSocketOriginCheck(http, corsConfig);
  installSocketCap(http, rateLimits.maxSocketsPerUser, metrics);
  http.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await http.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Queue service',
        version: '0.1.0',
        description: 'Playback queues for music apps: event-sourced, with versions, idempotent writes and an event log.\n\n'
          + 'Limits: every user has RATE_LIMIT_PER_MINUTE requests per minute (default 6,000) on all routes; POST /auth/tokens and '
          + 'GET /media/verify have RATE_LIMIT_IP_PER_MINUTE per client IP (default 600); a user has at most WS_MAX_SOCKETS_PER_USER '
          + 'open sockets per instance (default 20). Past a limit: 429 with Retry-After. Limited answers carry RateLimit-Limit, '
          + 'RateLimit-Remaining and RateLimit-Reset. Under overload any route may answer 503 `overloaded` with Retry-After before '
          + 'doing any work. Browsers on the origins in CORS_ORIGINS may call the API and open sockets.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  // No validator badge: it would load an image from validator.swagger.io, which the page's CSP refuses.
  await http.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
  // Shared schemas are added here, at the root: a plugin that adds its own would
  // get fastify's default (coercing) validator instead of ours.
  http.addSchema(ErrorResponse);
  http.addSchema(CollaboratorSchema);
  http.addSchema(QueueWindowSchema);
  http.addSchema(QueueSchema);
  http.addSchema(EventSchema);

  const service = new QueueService({
    store: deps.store,
    now: deps.now ?? Date.now,
    newId: deps.newId ?? randomUUID,
    random: deps.random ?? Math.random,
    maxItemsPerQueue: limits.itemsPerQueue,
    addsPerMinute: limits.addsPerMinute,
    maxCollaborators: limits.collaboratorsPerQueue,
    cacheQueues: retention.cacheQueues,
    cacheItems: retention.cacheItems,
  });
  // [QW9] Expired idempotency records, and (EVENT_RETENTION_DAYS) old events below their
  // queue's snapshot, are swept in the background, a bounded batch at a time.
  const sweep = async () => {
    const now = (deps.now ?? Date.now)();
    const day = 24 * 3600_000;
    for (let round = 0; round < 100; round++) {
      const r = await deps.store.sweep({
        idempotencyBefore: now - retention.idempotencyTtlHours * 3600_000,
        eventsBefore: retention.eventRetentionDays === null ? undefined : now - retention.eventRetentionDays * day,
        limit: 5_000,
      });
      if (r.idempotencyRecords > 0 || r.events > 0) http.log.info(r, 'swept expired idempotency records and trimmed events');
      if (r.idempotencyRecords < 5_000 && r.events < 5_000) break;
    }
  };
  const sweeper = setInterval(() => void sweep().catch((err) => http.log.warn({ err }, 'sweep failed')), retention.sweepIntervalMs);
  sweeper.unref();
  http.addHook('onClose', async () => clearInterval(sweeper));
  service.onCommitted((_q, events) => {
    for (const e of events) metrics.eventsAppended.inc({ type: e.type });
  });

  const pub = { auth: 'public' as const };
  // Health, readiness and metrics answer even under overload (probes must see the process).
  const probe = { auth: 'public' as const, admission: false };
  http.get('/openapi.json', { config: pub, schema: { hide: true } }, async () => http.swagger());
  http.get('/healthz', { config: probe, schema: { tags: ['operations'], summary: 'The process is up', security: [] } }, async () => ({ status: 'ok' }));
  // The recommender builds in the background after start; until it is built (and while the
  // store does not answer) the instance is not ready: a load balancer sends traffic elsewhere.
  const recommender: Readiness = { ready: false, error: null };
  http.get('/readyz', {
    config: probe,
    schema: { tags: ['operations'], summary: 'Ready for traffic: the store answers and the recommender is built (else 503 with Retry-After)', security: [] },
  }, async (_r, reply) => {
    try {
      await deps.store.ping();
    } catch (err) {
      return reply.status(503).send(errorBody('store_unavailable', 'the store does not answer', { store: deps.store.kind, reason: String(err) }));
    }
    if (!recommender.ready) {
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return reply.status(503).send(errorBody('recommender_not_ready', recommender.error ? 'the recommender could not be built' : 'the recommender is still being built', { store: deps.store.kind }));
    }
    return { status: 'ready', store: deps.store.kind, recommender: recommender.built };
  });
  http.get('/metrics', { config: probe, schema: { hide: true } }, async (_r, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const ttlDefault = deps.tokenTtlSeconds ?? 30 * 24 * 3600;
  http.post('/auth/tokens', {
    config: { auth: 'admin', ipRateLimit: true },
    schema: {
      tags: ['auth'],
      summary: 'Mint a user token (Authorization: Bearer <admin API key>)',
      body: Type.Object(
        {
          userId: Type.String({ pattern: USER_ID_PATTERN }),
          ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 * 24 * 3600 })),
        },
        { additionalProperties: false },
      ),
      response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }), ...errors() },
    },
  }, async (r) => deps.tokens.mint(r.body.userId, r.body.ttlSeconds ?? ttlDefault));

  const playback = new PlaybackService({ store: deps.store, queues: service, bus, presence, now: deps.now ?? Date.now });
  // Committed queue events go to the bus; each instance forwards them to its sockets.
  service.onCommitted((queueId, events) => bus.publish({ stream: 'queue', id: queueId, events: events as unknown as SequencedEvent[] }));

  await http.register(queueRoutes(service));
  // Collaboration: who is looking at a queue (shared through Redis when there is one), invite codes.
  const queuePresence = bus instanceof RedisBus ? new RedisQueuePresence(bus.pub, bus.prefix, presenceTtlMs(realtime.heartbeatMs)) : new LocalQueuePresence();
  const invites = new InviteService({ queues: service, invites: deps.features.invites, now: deps.now ?? Date.now });
  await http.register(collabRoutes({ queues: service, invites, presence: queuePresence }));
  await http.register(playbackRoutes(playback));
  // Offline (docs/OFFLINE.md): POST /sync/offline, GET /queues/{id}/offline with signed
  // track URLs, and GET /media/verify for the media server that serves them.
  const media = deps.media ?? resolveMediaSettings(DEFAULT_MEDIA, randomUUID());
  const offline = new OfflineSyncService({ store: deps.store, queues: service, playback, offline: deps.features.offline, now: deps.now ?? Date.now });
  await http.register(offlineRoutes(offline, service, media, deps.now ?? Date.now));
  await http.register(mediaRoutes(media, deps.tokens, deps.now ?? Date.now));
  await http.register(websocket, { options: { maxPayload: realtime.maxPayloadBytes } });
  await http.register(socketRoutes({
    store: deps.store,
    queues: service,
    users: userStream(playback),
    bus,
    presence,
    metrics,
    options: realtime,
    queuePresence,
    admission,
  }));
  // ---- Listening parties (issue 6; src/party/): REST /parties/* and WS /ws/party/{partyId}.
  // After the websocket plugin.
  await http.register(partyRoutes({ store: deps.store, parties: deps.features.parties, queues: service, bus, metrics, realtime, now: deps.now, newId: deps.newId, options: deps.party }));
  // ---- Catalog, radio / infinite queues, recommendations, context (issue 7; src/catalog, src/reco,
  // src/radio): the catalog feature store and the in-memory engine; radio queues go through `service`.
  await http.register(recommendationsPlugin({ catalog: deps.features.catalog, queues: service, now: deps.now, noRepeatDays: deps.radio?.noRepeatDays, readiness: recommender }));
  http.get('/asyncapi.json', { config: pub, schema: { hide: true } }, async () => asyncApiDocument());
  http.addHook('onClose', async () => {
    queuePresence.close();
    await bus.close();
  });
  return {
    http, service, playback, metrics,
    beginShutdown: () => {
      closing = true;
    },
  };
}
