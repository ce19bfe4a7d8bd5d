// Rate limits (issue 16), with @fastify/rate-limit's counter stores: local to the process, or
// in Redis (shared by every instance) when the app is given a Redis connection.
//  - per user, on every route a user token reaches (RATE_LIMIT_PER_MINUTE), keyed by the
//    token's user, so one user's excess never limits another;
//  - per client IP on the routes without a user token: POST /auth/tokens and GET
//    /media/verify (RATE_LIMIT_IP_PER_MINUTE), checked before the credential is;
//  - open sockets per user on this instance (WS_MAX_SOCKETS_PER_USER): the upgrade past it is 429.
// Answers carry RateLimit-Limit / -Remaining / -Reset; a 429 also Retry-After, in our error shape.
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { RateLimitConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { routeOf } from './route-of.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Limit this route per client IP (it takes no user token). */
    ipRateLimit?: boolean;
  }
}

export interface RateLimitDeps {
  config: RateLimitConfig;
  /** Counters in Redis, shared by the instances; local counters without it. */
  redis?: { client: Redis; prefix: string };
  metrics?: Metrics;
}

const WINDOW_MS = 60_000;

/**
 * @fastify/rate-limit's counter stores, used directly (issue 21). Through the plugin's
 * `createRateLimit` each check was an async function with three awaits and a promise per
 * request (about a tenth of a read's CPU); the stores answer through a callback, at once for
 * the local one (an LRU of fixed windows), after the round trip for Redis (one Lua script:
 * INCR and PEXPIRE). Same counters, same keys, same windows as before. The stores are not
 * in the package's typings, hence this interface.
 */
interface CounterStore {
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number }) => void, timeWindow: number, max: number): void;
}
const requireHere = createRequire(import.meta.url);
const LocalStore = requireHere('@fastify/rate-limit/store/LocalStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache?: number,
) => CounterStore;
const RedisStore = requireHere('@fastify/rate-limit/store/RedisStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  key?: string,
) => CounterStore;

/** Keys counted in the local store at most (the plugin's default); the least recent go first. */
const LOCAL_KEYS = 5000;

type Done = (err?: Error) => void;

/**
 * Counts one request against `key` and calls `done` (at once with the local store): with an
 * error past the limit, without otherwise. Every answer carries RateLimit-Limit / -Remaining /
 * -Reset. A store that fails (Redis down) lets the request through: the limits are for abuse,
 * not for correctness.
 */
function counter(store: CounterStore, max: number, what: 'user' | 'ip', metrics?: Metrics) {
  const limitText = String(max);
  return (key: string, reply: FastifyReply, done: Done): void => {
    store.incr(
      key,
      (err, res) => {
        if (err) return done();
        const resetSeconds = Math.ceil(res.ttl / 1000);
        reply.header('ratelimit-limit', limitText);
        reply.header('ratelimit-remaining', String(Math.max(0, max - res.current)));
        reply.header('ratelimit-reset', String(resetSeconds));
        if (res.current <= max) return done();
        metrics?.refused.inc({ transport: 'http', reason: `rate_limit_${what}` });
        const retryAfter = Math.max(1, resetSeconds);
        reply.header('retry-after', String(retryAfter));
        done(
          new AppError(
            'rate_limited',
            'rate_limited',
            what === 'user'
              ? `over ${max} requests per minute for this user; retry after ${resetSeconds} s`
              : `over ${max} requests per minute from this address; retry after ${resetSeconds} s`,
            { limit: max, windowSeconds: WINDOW_MS / 1000, retryAfterSeconds: retryAfter, scope: what },
          ),
        );
      },
      WINDOW_MS,
      max,
    );
  };
}

/** Sets up the counters and the per-IP limit; call before the auth hook (the IP limit guards the credential check). */
export function installRateLimits(http: FastifyInstance, deps: RateLimitDeps): { installUserLimit(): void } {
  const { config, redis, metrics } = deps;
  const store = redis ? new RedisStore(false, false, redis.client, `${redis.prefix}rl:`) : new LocalStore(false, false, LOCAL_KEYS);
  const perIp = config.perIpPerMinute > 0 ? counter(store, config.perIpPerMinute, 'ip', metrics) : null;
  const perUser = config.perUserPerMinute > 0 ? counter(store, config.perUserPerMinute, 'user', metrics) : null;
  if (perIp) {
    http.addHook('onRequest', (request: FastifyRequest, reply, done) => {
      if (!routeOf(request).config?.ipRateLimit) return done();
      perIp(`ip:${request.ip}`, reply, done);
    });
  }
  return {
    /** The per-user limit: after the auth hook, which sets request.userId. */
    installUserLimit() {
      if (!perUser) return;
      http.addHook('onRequest', (request, reply, done) => {
        if (!request.userId) return done();
        perUser(`user:${request.userId}`, reply, done);
      });
    },
  };
}

/**
 * Caps the sockets one user holds open on this instance. Counted from the upgrade request
 * (after auth) until its TCP connection closes, so a refused upgrade never counts.
 */
export function installSocketCap(http: FastifyInstance, maxPerUser: number, metrics?: Metrics): void {
  const open = new Map<string, number>();
  http.addHook('onRequest', (request, _reply, done) => {
    if (request.headers.upgrade === undefined || request.headers.upgrade.toLowerCase() !== 'websocket' || !request.userId || request.is404) return done();
    const userId = request.userId;
    const n = open.get(userId) ?? 0;
    if (n >= maxPerUser) {
      metrics?.refused.inc({ transport: 'ws', reason: 'sockets_per_user' });
      return done(
        new AppError('rate_limited', 'too_many_sockets', `this user already has ${n} sockets open here (the limit is ${maxPerUser}); close one first`, {
          limit: maxPerUser,
        }),
      );
    }
    open.set(userId, n + 1);
    request.raw.socket.once('close', () => {
      const left = (open.get(userId) ?? 1) - 1;
      if (left <= 0) open.delete(userId);
      else open.set(userId, left);
    });
    done();
  });
}
