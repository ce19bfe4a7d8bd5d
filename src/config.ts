// The only place that reads process.env. Everything else receives a Config.
import { resolve } from 'node:path';

export interface Limits {
  /** Largest request body in bytes. */
  bodyBytes: number;
  /** Items one queue may hold. */
  itemsPerQueue: number;
  /** Tracks one add may carry. */
  tracksPerAdd: number;
  /** Events one page of GET /queues/{id}/events may return. */
  eventsPerPage: number;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | null;
  redisUrl: string | null;
  /** Operator key that mints user tokens; null = generate one in dataDir on first start. */
  adminApiKey: string | null;
  /** Default lifetime of minted tokens. */
  tokenTtlSeconds: number;
  logLevel: string;
  limits: Limits;
}

export const DEFAULT_LIMITS: Limits = {
  bodyBytes: 1024 * 1024,
  itemsPerQueue: 10_000,
  tracksPerAdd: 500,
  eventsPerPage: 1000,
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
    adminApiKey: env.ADMIN_API_KEY || null,
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 30 * 24 * 3600, 1),
    logLevel: env.LOG_LEVEL || 'info',
    limits: {
      bodyBytes: int(env, 'LIMIT_BODY_BYTES', DEFAULT_LIMITS.bodyBytes, 1024),
      itemsPerQueue: int(env, 'LIMIT_ITEMS_PER_QUEUE', DEFAULT_LIMITS.itemsPerQueue, 1),
      tracksPerAdd: int(env, 'LIMIT_TRACKS_PER_ADD', DEFAULT_LIMITS.tracksPerAdd, 1),
      eventsPerPage: DEFAULT_LIMITS.eventsPerPage,
    },
  };
}
