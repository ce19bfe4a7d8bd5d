// The app factory: everything the service needs arrives as a parameter
// (store, tokens, clock, ids, limits), so tests and the CLI wire it their way.
import { randomUUID } from 'node:crypto';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Tokens } from './auth/tokens.ts';
import { USER_ID_PATTERN } from './auth/tokens.ts';
import { DEFAULT_LIMITS, type Limits } from './config.ts';
import { installAuth } from './http/auth.ts';
import { errorBody, installErrorHandling } from './http/errors.ts';
import { ErrorResponse, errors } from './http/schemas.ts';
import { Metrics } from './metrics.ts';
import { queueRoutes } from './queues/routes.ts';
import { EventSchema, QueueSchema } from './queues/schemas.ts';
import { QueueService } from './queues/service.ts';
import type { Store } from './store/port.ts';

export interface AppDeps {
  store: Store;
  tokens: Tokens;
  tokenTtlSeconds?: number;
  limits?: Limits;
  now?: () => number;
  newId?: () => string;
  random?: () => number;
  logger?: FastifyServerOptions['logger'];
}

export interface App {
  http: FastifyInstance;
  service: QueueService;
  metrics: Metrics;
}

/** Bodies are validated strictly (no type coercion); query strings and params are coerced from text. */
function validators() {
  const strict = new Ajv.default({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false });
  const coercing = new Ajv.default({ allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: false });
  addFormats.default(strict);
  addFormats.default(coercing);
  return { strict, coercing };
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const metrics = new Metrics();
  const http = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyBytes,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const { strict, coercing } = validators();
  http.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));

  // An empty body on a POST/PUT is an empty object: next, previous and clear need none.
  const json = http.getDefaultJsonParser('error', 'ignore');
  http.removeContentTypeParser('application/json');
  http.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, {});
    json(req, body as string, done);
  });
  http.addHook('preValidation', async (request) => {
    if (request.body === undefined && ['POST', 'PUT', 'PATCH'].includes(request.method)) request.body = {};
  });

  installErrorHandling(http);
  installAuth(http, deps.tokens);
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
        description: 'Playback queues for music apps: event-sourced, with versions, idempotent writes and an event log.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await http.register(swaggerUi, { routePrefix: '/docs' });
  // Shared schemas are added here, at the root: a plugin that adds its own would
  // get fastify's default (coercing) validator instead of ours.
  http.addSchema(ErrorResponse);
  http.addSchema(QueueSchema);
  http.addSchema(EventSchema);

  const service = new QueueService({
    store: deps.store,
    now: deps.now ?? Date.now,
    newId: deps.newId ?? randomUUID,
    random: deps.random ?? Math.random,
    maxItemsPerQueue: limits.itemsPerQueue,
  });
  service.onCommitted((_q, events) => {
    for (const e of events) metrics.eventsAppended.inc({ type: e.type });
  });

  const pub = { auth: 'public' as const };
  http.get('/openapi.json', { config: pub, schema: { hide: true } }, async () => http.swagger());
  http.get('/healthz', { config: pub, schema: { tags: ['operations'], summary: 'The process is up', security: [] } }, async () => ({ status: 'ok' }));
  http.get('/readyz', { config: pub, schema: { tags: ['operations'], summary: 'The store answers', security: [] } }, async (_r, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ready', store: deps.store.kind };
    } catch (err) {
      return reply.status(503).send(errorBody('store_unavailable', 'the store does not answer', { store: deps.store.kind, reason: String(err) }));
    }
  });
  http.get('/metrics', { config: pub, schema: { hide: true } }, async (_r, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const ttlDefault = deps.tokenTtlSeconds ?? 30 * 24 * 3600;
  http.post('/auth/tokens', {
    config: { auth: 'admin' },
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

  await http.register(queueRoutes(service));
  return { http, service, metrics };
}
