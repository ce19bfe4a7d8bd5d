// The only place that reads process.env. Everything else receives a Config.
import { resolve } from 'node:path';

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
  /** Radio: tracks a listener played or had queued by radio within this many days are avoided while others are left (0 = off). */
  radio: { noRepeatDays: number };
}

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
  tracksPerAdd: 500,
  eventsPerPage: 1000,
  addsPerMinute: 120,
  collaboratorsPerQueue: 1000,
};

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
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
    media: {
      baseUrl: baseUrl(env, 'MEDIA_BASE_URL', DEFAULT_MEDIA.baseUrl),
      signingKey: env.MEDIA_SIGNING_KEY || null,
      urlTtlSeconds: int(env, 'MEDIA_URL_TTL_SECONDS', DEFAULT_MEDIA.urlTtlSeconds, 1),
    },
    radio: { noRepeatDays: int(env, 'RADIO_NO_REPEAT_DAYS', 30, 0) },
  };
}
