// Two service instances on one PostgreSQL database and one Redis of their own: the setup
// of every two-instance suite (cluster, faults, collab convergence, party cluster, SDK).
// Each suite gets a fresh database, a redis-server on a free port (so a test may stop and
// restart it) and its own key prefix.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createTempDatabase, type TempDatabase } from './pg.ts';
import { freePort, startRedis, stopProcess } from './redis.ts';
import { startServer, type RunningServer } from './server.ts';

export interface Cluster {
  db: TempDatabase;
  /** The Redis process; a test that restarts Redis replaces it (same port). */
  redis: ChildProcess;
  redisPort: number;
  adminKey: string;
  a: RunningServer;
  b: RunningServer;
  /** Stops both instances (a killed one is fine), Redis, and drops the database. */
  stop(): Promise<void>;
}

/** `prefix` names the suite's Redis keys; `env` goes to both instances. */
export async function startCluster(prefix: string, env: Record<string, string> = {}): Promise<Cluster> {
  const db = await createTempDatabase();
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  const adminKey = randomBytes(16).toString('hex');
  const all = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: `${prefix}-${randomBytes(4).toString('hex')}:`, ...env };
  // One after the other: the second finds the schema migrated, and a loaded machine does not
  // have to start two servers at once within startServer's time limit.
  let a: RunningServer | undefined;
  let b: RunningServer;
  try {
    a = await startServer({ databaseUrl: db.url, adminKey, env: all });
    b = await startServer({ databaseUrl: db.url, adminKey, env: all });
  } catch (err) {
    await a?.stop();
    await stopProcess(redis);
    await db.drop();
    throw err;
  }
  const cluster: Cluster = {
    db,
    redis,
    redisPort,
    adminKey,
    a,
    b,
    async stop() {
      await Promise.all([cluster.a.stop(), cluster.b.stop()]);
      await stopProcess(cluster.redis);
      await db.drop();
    },
  };
  return cluster;
}
