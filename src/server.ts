// Starts the service: open and migrate the store, build the app, listen, and
// shut down cleanly on SIGTERM/SIGINT (finish in-flight requests, close the store).
import { buildApp } from './app.ts';
import { describeAuth, startAuthenticator } from './auth/setup.ts';
import { resolveAdminKey, Tokens } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { pino } from 'pino';
import { RedisQueuePresence, type QueuePresence } from './realtime/queue-presence.ts';
import type { Bus } from './realtime/bus.ts';
import { presenceTtlMs, RedisPresence, type Presence } from './realtime/presence.ts';
import { RedisBus } from './realtime/redis-bus.ts';
import { Redis } from 'ioredis';
import { describeStore } from './store/index.ts';
import { openStorage } from './stores.ts';
import { resolveMediaSettings } from './media/signing.ts';

export function redactToken(url: string | undefined): string | undefined {
  return url?.replace(/([?&]token=)[^&]*/gi, '$1***');
}

function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export async function serve(config: Config): Promise<void> {
  const storage = openStorage(config);
  const { store } = storage;
  await store.migrate();
  const admin = resolveAdminKey(config.adminApiKey, config.dataDir);
  const tokens = new Tokens(admin.key);
  const logger = pino({
    level: config.logLevel,
    // Socket upgrades may carry the token in the query string: never log it.
    serializers: { req: (req) => ({ method: req.method, url: redactToken(req.url), remoteAddress: req.ip }) },
  });
  const features = storage.features();
  let redisPub: Redis | undefined;
  let bus: Bus | undefined;
  let presence: Presence | undefined;
  let queuePresence: QueuePresence | undefined;
  let limitsRedis: Redis | undefined;
  if (config.redisUrl) {
    const redisBus = new RedisBus(config.redisUrl, config.redisKeyPrefix, logger);
    bus = redisBus;
    redisPub = redisBus.pub;
    presence = new RedisPresence(redisBus.pub, config.redisKeyPrefix, presenceTtlMs(config.realtime.heartbeatMs));
    // Who has each queue open ([CO11]), shared by the instances too.
    queuePresence = new RedisQueuePresence(redisBus.pub, config.redisKeyPrefix, presenceTtlMs(config.realtime.heartbeatMs));
    // Rate-limit counters get a connection of their own that fails fast: a request never
    // waits for a Redis that is away (the limits are then skipped, see src/http/limits.ts).
    limitsRedis = new Redis(config.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 500,
      retryStrategy: (n: number) => Math.min(n * 100, 2000),
    });
    limitsRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis (rate limits) connection error'));
    // Without its offline queue a command sent before the connection is up fails, and the
    // limits are skipped for it: wait (a little) for the connection, so the shared counters
    // apply from the first request an instance serves.
    const ready = limitsRedis;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        logger.warn('redis (rate limits) not connected after 5 s: starting; limits apply once it connects');
        resolve();
      }, 5000);
      ready.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  // Minted tokens, the identity provider's (AUTH_*), and revocations (read before the first request).
  const auth = await startAuthenticator({
    config: config.auth,
    tokens,
    store: features.revocations,
    log: logger,
    redis: config.redisUrl && redisPub ? { url: config.redisUrl, prefix: config.redisKeyPrefix, pub: redisPub } : undefined,
  });
  const app = await buildApp({
    store,
    features,
    auth,
    limits: config.limits,
    realtime: config.realtime,
    media: resolveMediaSettings(config.media, admin.key),
    radio: config.radio,
    party: config.party,
    tokenTtlSeconds: config.tokenTtlSeconds,
    retention: config.retention,
    logger,
    bus,
    presence,
    queuePresence,
    overload: config.overload,
    rateLimits: config.rateLimits,
    rateLimitRedis: limitsRedis ? { client: limitsRedis, prefix: config.redisKeyPrefix } : undefined,
    cors: config.cors,
  });
  const { http } = app;
  await http.listen({ host: config.host, port: config.port });
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const keyHint = admin.file ? `$(cat ${admin.file})` : '$ADMIN_API_KEY';
  const lines = [
    `queue-service listening on ${base}  (API docs: ${base}/docs, OpenAPI: ${base}/openapi.json)`,
    `data: ${describeStore(config)}${config.redisUrl ? `; fan-out through Redis ${redactUrl(config.redisUrl)}` : ''}`,
    describeAuth(config.auth),
    admin.generated
      ? `admin API key generated and kept in ${admin.file}: ${admin.key}`
      : `admin API key: ${admin.file ? `kept in ${admin.file}` : 'from ADMIN_API_KEY'}`,
    `get a user token:  curl -s -X POST ${base}/auth/tokens -H "Authorization: Bearer ${keyHint}" -H 'content-type: application/json' -d '{"userId":"alice"}'`,
    `              or:  npm run cli -- token alice`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    http.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      http.log.error('shutdown took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    app.beginShutdown();
    // Keep-alive connections idle after their last answer would hold close() open.
    const idle = setInterval(() => http.server.closeIdleConnections(), 100);
    idle.unref();
    try {
      await http.close();
      await auth.close();
      limitsRedis?.disconnect();
      await store.close();
      process.exit(0);
    } catch (err) {
      http.log.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
