// The only place that reads process.env. Everything else receives a Config.
import { resolve } from 'node:path';
import { WIRE_LIMITS } from './model/wire.ts';

// The identity provider's settings (issue 23; checked by src/auth/provider.ts).
/** Asymmetric signature algorithms only: never `none`, never an HMAC (which a public key would sign). */
export const PROVIDER_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_PROVIDER_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

export interface ProviderConfig {
  /** Expected `iss`, and where discovery starts when jwksUrl is null. */
  issuer: string | null;
  /** The JWK set; null: found through `${issuer}/.well-known/openid-configuration`. */
  jwksUrl: string | null;
  /** Accepted `aud` values (any one). */
  audience: string[];
  /** The claim that holds the user's id (default `sub`). */
  userClaim: string;
  algorithms: string[];
  /** Tolerance on `exp` and `nbf`, in seconds. */
  clockSkewSeconds: number;
  /** At most one fetch of the key set (or of the discovery document) per this many ms. */
  cooldownMs: number;
  /** The key set is fetched again in the background this often (ms); 0 = only for unknown keys. */
  refreshMs: number;
  /** A token that names none of our scopes gets no rights (instead of its user's full rights). */
  requireScopes: boolean;
}

export interface Limits {
  /** Largest request body in bytes. */
  bodyBytes: number;
  /** Items one queue may hold. */
  itemsPerQueue: number;
  /** Tracks one add may carry (fixed: the request schema says it). */
  tracksPerAdd: number;
  /** Events one page of GET /queues/{id}/events may return. */
  eventsPerPage: number;
  /** Tracks one user other than the owner may add to one queue per minute (collaborative queues). */
  addsPerMinute: number;
  /** Collaborators one queue may have besides its owner. */
  collaboratorsPerQueue: number;
}

export interface RealtimeConfig {
  /** Past this many missed events a resuming socket gets a snapshot instead. */
  replayCap: number;
  /** Bytes queued for one socket before it is closed as a slow consumer (4008). */
  maxBufferedBytes: number;
  heartbeatMs: number;
  maxMessagesPerSecond: number;
  /** Largest message a client may send. */
  maxPayloadBytes: number;
}

/** Listening parties (src/party/). */
export interface PartyConfig {
  /** Members one party may have, the host included; the next join is 422 party_full. */
  maxMembers: number;
}

export const DEFAULT_PARTY: PartyConfig = { maxMembers: 1000 };
export const DEFAULT_RADIO: RadioConfig = { recentHours: 24, recentTracks: 200, historyDays: 90 };

/** Signed download URLs for offline play (GET /queues/{id}/offline, docs/OFFLINE.md). */
export interface MediaConfig {
  /** Where the operator's media server or CDN serves `/tracks/{trackId}`; no trailing slash. */
  baseUrl: string;
  /** HMAC key of the URLs; null = derived from the admin key (see src/media/signing.ts). */
  signingKey: string | null;
  /** How long a signed URL stays valid. */
  urlTtlSeconds: number;
}

export const DEFAULT_MEDIA: MediaConfig = {
  baseUrl: 'http://127.0.0.1:8080/media',
  signingKey: null,
  urlTtlSeconds: 7 * 24 * 3600,
};

function baseUrl(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name] || fallback;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

/**
 * Admission control (issues 16 and 20; docs/SPEC.md [AD1]-[AD9]): how much work runs at
 * once, how long the rest waits for its turn, and when the server counts as overloaded.
 */
export interface OverloadConfig {
  /** HTTP requests and socket commands started at once; more wait their turn. 0 = admission control off. */
  concurrency: number;
  /** Work waiting for its turn; past it the heaviest tenant's is refused (queue_full). */
  maxQueued: number;
  /** The longest a request or command waits for its turn (ms), in any case. */
  maxWaitMs: number;
  /** Overload is the oldest waiting work's delay staying above this (ms) ... */
  targetMs: number;
  /** ... for this long (ms); a burst that drains within it is served in full. */
  intervalMs: number;
  /** Under overload the newest work is served first, and work that waited this long (ms) is refused. */
  shedWaitMs: number;
  /** Writes wait while the socket fan-out lags more than this (ms) behind the commits; 0 = never. */
  maxFanOutLagMs: number;
  /** V8 heap in use past which new work is refused; 0 = 90% of the heap limit. */
  maxHeapUsedBytes: number;
  /** What Retry-After says on a 503. */
  retryAfterSeconds: number;
}

/** Rate limits (issue 16): per user on every route, per IP on the routes without a user token. */
export interface RateLimitConfig {
  /** Requests per user (the token's user) per minute; 0 = no limit. */
  perUserPerMinute: number;
  /** Requests per client IP per minute to POST /auth/tokens and GET /media/verify; 0 = no limit. */
  perIpPerMinute: number;
  /** Open sockets per user on this instance; past it the upgrade is answered 429. */
  maxSocketsPerUser: number;
}

/** Browser access (issue 16). */
export interface CorsConfig {
  /** Origins allowed to call the API and open sockets: exact origins, or ['*']; empty = none. */
  origins: string[];
}

export const DEFAULT_OVERLOAD: OverloadConfig = {
  concurrency: 64,
  maxQueued: 4096,
  maxWaitMs: 5000,
  targetMs: 50,
  intervalMs: 2000,
  shedWaitMs: 500,
  maxFanOutLagMs: 250,
  maxHeapUsedBytes: 0,
  retryAfterSeconds: 1,
};

export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  perUserPerMinute: 6000,
  perIpPerMinute: 600,
  maxSocketsPerUser: 20,
};

/** Tokens (issue 23): the app's identity provider, if any, and how revocations reach this instance. */
export interface AuthConfig {
  /** AUTH_ISSUER / AUTH_JWKS_URL and the rest; null: only tokens this service mints. */
  provider: ProviderConfig | null;
  /** How often the database is read for revocations another instance made (ms; the Redis signal is quicker). */
  revocationPollMs: number;
}

export const DEFAULT_AUTH: AuthConfig = { provider: null, revocationPollMs: 10_000 };

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | null;
  redisUrl: string | null;
  /** Prefix of every Redis channel and key, so several deployments (or test runs) can share a Redis. */
  redisKeyPrefix: string;
  /** Operator key that mints user tokens; null = generate one in dataDir on first start. */
  adminApiKey: string | null;
  /** Default lifetime of minted tokens. */
  tokenTtlSeconds: number;
  logLevel: string;
  limits: Limits;
  realtime: RealtimeConfig;
  media: MediaConfig;
  retention: RetentionConfig;
  overload: OverloadConfig;
  rateLimits: RateLimitConfig;
  cors: CorsConfig;
  party: PartyConfig;
  radio: RadioConfig;
  auth: AuthConfig;
}

/**
 * Radio's memory of a listener (issue 24). A station never repeats itself while anything
 * else is left; across stations only what the listener heard lately is avoided (the newer
 * bound of a window and a count), and always what they skipped.
 */
export interface RadioConfig {
  /** Tracks radio queued for the listener, or they played, this many hours back are avoided by their other stations (0 = none). */
  recentHours: number;
  /** ... but at most this many of the newest (0 = none). */
  recentTracks: number;
  /** Radio history (and the skips radio avoids) is kept this many days; the sweeper deletes older rows. */
  historyDays: number;
}

/** How long what is kept for retries and resumes lives, and how much stays hot in memory. */
export interface RetentionConfig {
  /** Idempotency records expire after this many hours; a retry after that is a new write. */
  idempotencyTtlHours: number;
  /** Events older than this many days, below their queue's snapshot, are trimmed; null keeps all. */
  eventRetentionDays: number | null;
  /** How often the sweep for the two above runs. */
  sweepIntervalMs: number;
  /** Queue states kept in memory: at most this many queues, and this weight in items in all (items, history, metadata: state-cache.ts). */
  cacheQueues: number;
  cacheItems: number;
}

export const DEFAULT_RETENTION: RetentionConfig = {
  idempotencyTtlHours: 24,
  eventRetentionDays: null,
  sweepIntervalMs: 10 * 60_000,
  cacheQueues: 2_000,
  cacheItems: 100_000,
};

export const DEFAULT_REALTIME: RealtimeConfig = {
  replayCap: 500,
  maxBufferedBytes: 4 * 1024 * 1024,
  heartbeatMs: 30_000,
  maxMessagesPerSecond: 100,
  maxPayloadBytes: 1024 * 1024,
};

export const DEFAULT_LIMITS: Limits = {
  bodyBytes: 1024 * 1024,
  itemsPerQueue: 10_000,
  tracksPerAdd: WIRE_LIMITS.tracksPerAdd,
  eventsPerPage: WIRE_LIMITS.eventsPerPage,
  addsPerMinute: 120,
  collaboratorsPerQueue: WIRE_LIMITS.collaboratorsPerQueue,
};

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/** Admission settings of issue 16 that issue 20 replaced: set, they would be ignored silently. */
const REPLACED_OVERLOAD_SETTINGS: Record<string, string> = {
  OVERLOAD_MAX_IN_FLIGHT: 'OVERLOAD_CONCURRENCY (work started at once; more waits its turn)',
  OVERLOAD_MAX_WRITES_PER_QUEUE: 'nothing: writes to one queue wait their turn, refused only when their backlog could not be served in time',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 'OVERLOAD_TARGET_MS and OVERLOAD_INTERVAL_MS (overload is a queue that stands, not a slow sample)',
};

/** Radio's 30-day per-listener window of issue 12, replaced by a short window and a count (issue 24). */
const REPLACED_RADIO_SETTINGS: Record<string, string> = {
  RADIO_NO_REPEAT_DAYS:
    'RADIO_RECENT_HOURS and RADIO_RECENT_TRACKS (what other stations avoid: what the listener heard lately) and RADIO_HISTORY_DAYS (how long radio history is kept)',
};

function checkReplacedSettings(env: NodeJS.ProcessEnv): void {
  for (const [name, instead] of Object.entries({ ...REPLACED_OVERLOAD_SETTINGS, ...REPLACED_RADIO_SETTINGS })) {
    if (env[name] !== undefined && env[name] !== '') throw new Error(`${name} is no longer read; use ${instead} (README, Configuration)`);
  }
}

/** CORS_ORIGINS: a comma list of origins (scheme://host[:port]) or `*` alone. */
function origins(env: NodeJS.ProcessEnv): string[] {
  const list = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (list.includes('*')) {
    if (list.length > 1) throw new Error('CORS_ORIGINS: `*` cannot be combined with other origins');
    return ['*'];
  }
  return list.map((o) => {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new Error(`CORS_ORIGINS: "${o}" is not an origin like https://player.example.com`);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== o.replace(/\/+$/, '')) {
      throw new Error(`CORS_ORIGINS: "${o}" is not an origin like https://player.example.com (no path)`);
    }
    return u.origin;
  });
}

function httpUrl(name: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${raw}"`);
  return raw;
}

/** AUTH_*: the identity provider whose access tokens are accepted beside the minted ones (README "Using your identity provider"). */
function authConfig(env: NodeJS.ProcessEnv): AuthConfig {
  const revocationPollMs = int(env, 'AUTH_REVOCATION_POLL_SECONDS', DEFAULT_AUTH.revocationPollMs / 1000, 0) * 1000;
  const issuer = env.AUTH_ISSUER ? httpUrl('AUTH_ISSUER', env.AUTH_ISSUER) : null;
  const jwksUrl = env.AUTH_JWKS_URL ? httpUrl('AUTH_JWKS_URL', env.AUTH_JWKS_URL) : null;
  if (!issuer && !jwksUrl) {
    for (const name of ['AUTH_AUDIENCE', 'AUTH_USER_CLAIM', 'AUTH_ALGORITHMS']) {
      if (env[name]) throw new Error(`${name} is set but neither AUTH_ISSUER nor AUTH_JWKS_URL is`);
    }
    return { provider: null, revocationPollMs };
  }
  const audience = (env.AUTH_AUDIENCE ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  // Without an audience any token the provider issues for any other app would be accepted.
  if (audience.length === 0)
    throw new Error('AUTH_AUDIENCE is required with AUTH_ISSUER or AUTH_JWKS_URL (the API identifier or client id your tokens are issued for)');
  const algorithms = env.AUTH_ALGORITHMS
    ? env.AUTH_ALGORITHMS.split(',')
        .map((a) => a.trim())
        .filter(Boolean)
    : DEFAULT_PROVIDER_ALGORITHMS;
  for (const a of algorithms) {
    if (!(PROVIDER_ALGORITHMS as readonly string[]).includes(a)) {
      throw new Error(`AUTH_ALGORITHMS: "${a}" is not accepted; use asymmetric ones (${PROVIDER_ALGORITHMS.join(', ')}), never none or HS*`);
    }
  }
  if (algorithms.length === 0) throw new Error('AUTH_ALGORITHMS names no algorithm');
  const flag = (env.AUTH_REQUIRE_SCOPES ?? '').toLowerCase();
  if (flag && !['true', 'false', '1', '0'].includes(flag)) throw new Error(`AUTH_REQUIRE_SCOPES must be true or false, got "${env.AUTH_REQUIRE_SCOPES}"`);
  return {
    provider: {
      issuer,
      jwksUrl,
      audience,
      userClaim: env.AUTH_USER_CLAIM || 'sub',
      algorithms,
      clockSkewSeconds: int(env, 'AUTH_CLOCK_SKEW_SECONDS', 30, 0),
      cooldownMs: int(env, 'AUTH_JWKS_COOLDOWN_SECONDS', 30, 0) * 1000,
      refreshMs: int(env, 'AUTH_JWKS_REFRESH_SECONDS', 600, 0) * 1000,
      requireScopes: flag === 'true' || flag === '1',
    },
    revocationPollMs,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  checkReplacedSettings(env);
  return {
    host: env.HOST || '127.0.0.1',
    port: int(env, 'PORT', 8080),
    dataDir: resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || null,
    redisUrl: env.REDIS_URL || null,
    redisKeyPrefix: env.REDIS_KEY_PREFIX ?? 'qs:',
    adminApiKey: env.ADMIN_API_KEY || null,
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 30 * 24 * 3600, 1),
    logLevel: env.LOG_LEVEL || 'info',
    limits: {
      bodyBytes: int(env, 'LIMIT_BODY_BYTES', DEFAULT_LIMITS.bodyBytes, 1024),
      itemsPerQueue: int(env, 'LIMIT_ITEMS_PER_QUEUE', DEFAULT_LIMITS.itemsPerQueue, 1),
      tracksPerAdd: DEFAULT_LIMITS.tracksPerAdd,
      eventsPerPage: DEFAULT_LIMITS.eventsPerPage,
      addsPerMinute: int(env, 'LIMIT_ADDS_PER_MINUTE', DEFAULT_LIMITS.addsPerMinute, 1),
      collaboratorsPerQueue: int(env, 'LIMIT_COLLABORATORS_PER_QUEUE', DEFAULT_LIMITS.collaboratorsPerQueue, 1),
    },
    realtime: {
      replayCap: int(env, 'WS_REPLAY_CAP', DEFAULT_REALTIME.replayCap, 0),
      maxBufferedBytes: int(env, 'WS_MAX_BUFFERED_BYTES', DEFAULT_REALTIME.maxBufferedBytes, 1024),
      heartbeatMs: int(env, 'WS_HEARTBEAT_MS', DEFAULT_REALTIME.heartbeatMs, 100),
      maxMessagesPerSecond: int(env, 'WS_MAX_MESSAGES_PER_SECOND', DEFAULT_REALTIME.maxMessagesPerSecond, 1),
      maxPayloadBytes: DEFAULT_REALTIME.maxPayloadBytes,
    },
    retention: {
      idempotencyTtlHours: int(env, 'IDEMPOTENCY_TTL_HOURS', DEFAULT_RETENTION.idempotencyTtlHours, 1),
      eventRetentionDays: env.EVENT_RETENTION_DAYS ? int(env, 'EVENT_RETENTION_DAYS', 0, 1) : null,
      sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', DEFAULT_RETENTION.sweepIntervalMs, 100),
      cacheQueues: int(env, 'QUEUE_CACHE_QUEUES', DEFAULT_RETENTION.cacheQueues, 1),
      cacheItems: int(env, 'QUEUE_CACHE_ITEMS', DEFAULT_RETENTION.cacheItems, 1),
    },
    media: {
      baseUrl: baseUrl(env, 'MEDIA_BASE_URL', DEFAULT_MEDIA.baseUrl),
      signingKey: env.MEDIA_SIGNING_KEY || null,
      urlTtlSeconds: int(env, 'MEDIA_URL_TTL_SECONDS', DEFAULT_MEDIA.urlTtlSeconds, 1),
    },
    overload: {
      concurrency: int(env, 'OVERLOAD_CONCURRENCY', DEFAULT_OVERLOAD.concurrency, 0),
      maxQueued: int(env, 'OVERLOAD_MAX_QUEUED', DEFAULT_OVERLOAD.maxQueued, 0),
      maxWaitMs: int(env, 'OVERLOAD_MAX_WAIT_MS', DEFAULT_OVERLOAD.maxWaitMs, 1),
      targetMs: int(env, 'OVERLOAD_TARGET_MS', DEFAULT_OVERLOAD.targetMs, 1),
      intervalMs: int(env, 'OVERLOAD_INTERVAL_MS', DEFAULT_OVERLOAD.intervalMs, 1),
      shedWaitMs: int(env, 'OVERLOAD_SHED_WAIT_MS', DEFAULT_OVERLOAD.shedWaitMs, 1),
      maxFanOutLagMs: int(env, 'OVERLOAD_MAX_FANOUT_LAG_MS', DEFAULT_OVERLOAD.maxFanOutLagMs, 0),
      maxHeapUsedBytes: int(env, 'OVERLOAD_MAX_HEAP_BYTES', DEFAULT_OVERLOAD.maxHeapUsedBytes, 0),
      retryAfterSeconds: int(env, 'OVERLOAD_RETRY_AFTER_SECONDS', DEFAULT_OVERLOAD.retryAfterSeconds, 1),
    },

    rateLimits: {
      perUserPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', DEFAULT_RATE_LIMITS.perUserPerMinute, 0),
      perIpPerMinute: int(env, 'RATE_LIMIT_IP_PER_MINUTE', DEFAULT_RATE_LIMITS.perIpPerMinute, 0),
      maxSocketsPerUser: int(env, 'WS_MAX_SOCKETS_PER_USER', DEFAULT_RATE_LIMITS.maxSocketsPerUser, 1),
    },
    cors: { origins: origins(env) },
    party: { maxMembers: int(env, 'PARTY_MAX_MEMBERS', DEFAULT_PARTY.maxMembers, 1) },
    radio: {
      recentHours: int(env, 'RADIO_RECENT_HOURS', DEFAULT_RADIO.recentHours, 0),
      recentTracks: int(env, 'RADIO_RECENT_TRACKS', DEFAULT_RADIO.recentTracks, 0),
      historyDays: int(env, 'RADIO_HISTORY_DAYS', DEFAULT_RADIO.historyDays, 1),
    },
    auth: authConfig(env),
  };
}
