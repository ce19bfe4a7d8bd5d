// Rate limits (issue 16), with @fastify/rate-limit's counters: local to the process, or
// in Redis (shared by every instance) when the app is given a Redis connection.
//  - per user, on every route a user token reaches (RATE_LIMIT_PER_MINUTE), keyed by the
//    token's user, so one user's excess never limits another;
//  - per client IP on the routes without a user token: POST /auth/tokens and GET
//    /media/verify (RATE_LIMIT_IP_PER_MINUTE), checked before the credential is;
//  - open sockets per user on this instance (WS_MAX_SOCKETS_PER_USER): the upgrade past it is 429.
// Answers carry RateLimit-Limit / -Remaining / -Reset; a 429 also Retry-After, in our error shape.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { RateLimitConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

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
type Check = ReturnType<FastifyInstance['createRateLimit']>;

async function limit(check: Check, request: FastifyRequest, reply: FastifyReply, what: 'user' | 'ip', metrics?: Metrics): Promise<void> {
  const r = await check(request);
  if (r.isAllowed) return;
  reply.header('ratelimit-limit', String(r.max));
  reply.header('ratelimit-remaining', String(r.remaining));
  reply.header('ratelimit-reset', String(r.ttlInSeconds));
  if (!r.isExceeded) return;
  metrics?.refused.inc({ transport: 'http', reason: `rate_limit_${what}` });
  reply.header('retry-after', String(Math.max(1, r.ttlInSeconds)));
  throw new AppError(
    'rate_limited',
    'rate_limited',
    what === 'user'
      ? `over ${r.max} requests per minute for this user; retry after ${r.ttlInSeconds} s`
      : `over ${r.max} requests per minute from this address; retry after ${r.ttlInSeconds} s`,
    {
      limit: r.max,
      windowSeconds: WINDOW_MS / 1000,
      retryAfterSeconds: Math.max(1, r.ttlInSeconds),
      scope: what,
    },
  );
}

/** Registers the counters and the per-IP limit; call before the auth hook (the IP limit guards the credential check). */
export async function installRateLimits(http: FastifyInstance, deps: RateLimitDeps): Promise<{ installUserLimit(): void }> {
  const { config, redis, metrics } = deps;
  await http.register(rateLimit, {
    global: false,
    // Redis down: serve rather than refuse everyone (the limits are for abuse, not for correctness).
    skipOnError: true,
    ...(redis ? { redis: redis.client, nameSpace: `${redis.prefix}rl:` } : {}),
  });
  const perIp =
    config.perIpPerMinute > 0 ? http.createRateLimit({ max: config.perIpPerMinute, timeWindow: WINDOW_MS, keyGenerator: (r) => `ip:${r.ip}` }) : null;
  const perUser =
    config.perUserPerMinute > 0 ? http.createRateLimit({ max: config.perUserPerMinute, timeWindow: WINDOW_MS, keyGenerator: (r) => `user:${r.userId}` }) : null;
  if (perIp) {
    // A callback hook: the few routes limited per IP pay for the promise, the others nothing.
    http.addHook('onRequest', (request, reply, done) => {
      if (!request.routeOptions.config?.ipRateLimit) return done();
      limit(perIp, request, reply, 'ip', metrics).then(() => done(), done);
    });
  }
  return {
    /** The per-user limit: after the auth hook, which sets request.userId. */
    installUserLimit() {
      if (!perUser) return;
      http.addHook('onRequest', (request, reply, done) => {
        if (!request.userId) return done();
        limit(perUser, request, reply, 'user', metrics).then(() => done(), done);
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
