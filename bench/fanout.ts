// bench:fanout — WebSocket fan-out: N sockets subscribed to queues, writers changing
// the queues over REST. Measures delivered events/s, commit-to-socket latency (each
// event carries the server's commit timestamp in epoch ms; client and servers share the
// machine clock) and server memory per connection, for:
//   - ours, embedded (one process, SQLite),
//   - ours, two instances on Postgres + Redis (sockets split across both, writes to both),
//   - the ceiling: a bare `ws` server that only broadcasts the same payloads (bench/fanout-peers/bare-ws.ts),
//   - the peer: two Socket.IO instances with the Redis adapter (bench/fanout-peers/socketio.ts),
// and reports ours as ratios to both. Phases per system:
//   1. hold N sockets (FANOUT_SOCKETS, default 5000) for FANOUT_SECONDS, check they all stay open
//      and all receive a live event; memory per connection = (server RSS after - before) / N;
//   2. latency at a fixed 2,000 events/s delivered (Q queues x 20 subscribers, 2000/20 writes/s);
//   3. throughput ceiling: double the write rate until delivered/s stops growing or p99 passes 1 s.
// Run by hand, never in CI: `npm run bench:fanout`. Knobs: FANOUT_SOCKETS, FANOUT_SECONDS,
// FANOUT_SYSTEMS (comma list of embedded,bare,cluster,socketio), BENCH_DATABASE_URL.
// Only loopback addresses; every process, database, data dir and Redis it starts is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import { envInt } from './env.ts';

const ROOT = new URL('..', import.meta.url).pathname;
/** An admin URL of a Postgres where the bench may create (and then drops) a database of its own. */
const PG_ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const SOCKETS = envInt('FANOUT_SOCKETS', 5000, 20);
const SECONDS = envInt('FANOUT_SECONDS', 10, 1);
/** Subscribers per queue in phases 2 and 3; the queue count follows from the socket count. */
const SUBS = 20;
const QUEUES = Math.min(100, Math.floor(SOCKETS / SUBS));
const FIXED_DELIVERED = 2000;
const BASE_WRITES = FIXED_DELIVERED / SUBS; // writes/s spread over QUEUES queues
const STEP_SECONDS = Math.max(3, Math.round(SECONDS / 2));
const MAX_STEPS = 8;
const CONNECT_CONCURRENCY = 50;
const MAX_INFLIGHT_WRITES = 512;
const MAX_MINUTES = 40; // the whole run is stopped (and cleaned up) past this
const ALL_SYSTEMS = ['embedded', 'bare', 'cluster', 'socketio'] as const;
type SystemKey = (typeof ALL_SYSTEMS)[number];
const SELECTED = (process.env.FANOUT_SYSTEMS ?? ALL_SYSTEMS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as SystemKey[];
for (const s of SELECTED)
  if (!ALL_SYSTEMS.includes(s)) {
    console.error(`FANOUT_SYSTEMS: unknown system "${s}" (known: ${ALL_SYSTEMS.join(', ')})`);
    process.exit(2);
  }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[fanout ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

// ---------------------------------------------------------------- preflight: file descriptors

function fdLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/);
  const n = (s: string | undefined) => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(soft), hard: n(hard) };
}
{
  // The harness holds every client socket; each server process inherits the same limit.
  // (Node raises its soft limit to the hard one at startup, so the hard limit is what counts.)
  const need = SOCKETS + 1024;
  const { soft, hard } = fdLimits();
  if (soft < need) {
    console.error(
      `bench:fanout needs at least ${need} open files per process for ${SOCKETS} sockets, but the limit is ${soft} (hard limit ${hard}).\n` +
        (hard >= need
          ? `Raise it in this shell and run again:  ulimit -n ${need} && npm run bench:fanout\n`
          : `The hard limit is too low too: raise it (as root: \`ulimit -Hn ${need}\`, or /etc/security/limits.conf)${soft - 1024 >= 20 ? `, or run fewer sockets: FANOUT_SOCKETS=${soft - 1024} npm run bench:fanout` : ''}\n`),
    );
    process.exit(2);
  }
  const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  if (range.length === 2 && range[1]! - range[0]! < SOCKETS * 2) {
    log(`warning: the ephemeral port range ${range.join('-')} is small for ${SOCKETS} sockets; connections may fail`);
  }
}

// ---------------------------------------------------------------- cleanup

const cleanups: { name: string; fn: () => Promise<void> }[] = [];
function onCleanup(name: string, fn: () => Promise<void>): () => Promise<void> {
  const entry = { name, fn };
  cleanups.push(entry);
  // Running it early removes it from the list, so it runs once.
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i < 0) return;
    cleanups.splice(i, 1);
    await fn();
  };
}
async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const c = cleanups.pop()!;
    await c.fn().catch((err) => log(`cleanup of ${c.name} failed: ${String(err)}`));
  }
}
let exiting = false;
async function abort(why: string, code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    log(`${why}: cleaning up`);
    await cleanupAll();
  }
  process.exit(code);
}
process.on('SIGINT', () => void abort('interrupted', 130));
process.on('SIGTERM', () => void abort('terminated', 143));
setTimeout(() => void abort(`the run took over ${MAX_MINUTES} minutes`, 3), MAX_MINUTES * 60_000).unref();

// ---------------------------------------------------------------- processes

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** SIGTERM (our server drains for up to 10 s), SIGKILL if it is still there after 12 s. */
async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 12_000);
  await done;
  clearTimeout(t);
}

/** A redis-server of our own on a free loopback port, no persistence: gone with its keys when stopped. */
async function startRedis(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
    stdio: 'ignore',
  });
  const failed = new Promise<never>((_, reject) => p.once('error', (e) => reject(new Error(`redis-server: ${e.message}`))));
  const url = `redis://127.0.0.1:${port}`;
  const stop = onCleanup(`redis-server :${port}`, () => stopChild(p));
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; ; i++) {
    const up = await Promise.race([
      failed,
      probe
        .connect()
        .then(() => probe.ping())
        .then(
          () => true,
          () => false,
        ),
    ]);
    if (up) break;
    if (i > 50) {
      await stop();
      throw new Error('redis-server did not answer in 5 s');
    }
    await sleep(100);
  }
  probe.disconnect();
  return { url, pid: p.pid!, stop };
}

/** Deletes every key under a prefix (our instances keep presence keys there). */
async function dropRedisKeys(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

/**
 * Spawns a Node process that prints "listening on <url>" and waits for that line. Its
 * cleanup (stop it, then `after`) is registered before anything can fail, so a process
 * that never comes up is not left behind.
 */
async function startListening(label: string, args: string[], env: Record<string, string>, after?: () => void): Promise<{ url: string; pid: number }> {
  const proc = spawn(process.execPath, [...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  onCleanup(`${label} pid ${proc.pid}`, async () => {
    await stopChild(proc);
    after?.();
  });
  let out = '';
  proc.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${label} did not start in 60 s: ${out.slice(-500)}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    proc.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${label} exited with ${code} before listening: ${out.slice(-500)}`));
    });
  });
  // Keep reading what it prints (and show errors), so a full pipe never blocks it.
  proc.stdout!.removeAllListeners('data');
  proc.stderr!.removeAllListeners('data');
  proc.stdout!.resume();
  proc.stderr!.on('data', (d) => log(`${label}: ${String(d).trim().slice(0, 500)}`));
  return { url, pid: proc.pid! };
}

function startPeer(file: string, env: Record<string, string> = {}): Promise<{ url: string; pid: number }> {
  return startListening(`peer ${file}`, [join(ROOT, 'bench', 'fanout-peers', file)], env);
}

/** Our server (`src/cli.ts serve`) on a free port with a data dir of its own. */
function startOurServer(env: Record<string, string>): Promise<{ url: string; pid: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'qs-fanout-'));
  return startListening(
    'our server',
    [join(ROOT, 'src', 'cli.ts'), 'serve'],
    { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'error', ...env },
    () => rmSync(dataDir, { recursive: true, force: true }),
  );
}

/** A database of our own on the Postgres at PG_ADMIN_URL, dropped at cleanup. */
async function createDatabase(): Promise<string> {
  const name = `qs_fanout_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  onCleanup(`database ${name}`, () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

// ---------------------------------------------------------------- /proc readings

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
/** utime + stime of a process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}
const TICKS_PER_SECOND = 100;

// ---------------------------------------------------------------- HTTP writes

const agent = new Agent({ keepAlive: true, maxSockets: 128 });
function http(method: string, url: string, body: unknown, auth: string | null): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (auth) headers.authorization = auth;
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: any = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

// ---------------------------------------------------------------- systems under test

interface Instance {
  url: string;
  pid: number;
}
interface QueueRef {
  id: string;
  version: number;
  /** Items this run added and may remove, so queues keep a steady size. */
  added: string[];
  open: number;
}
interface System {
  key: SystemKey;
  name: string;
  client: 'ws-ours' | 'ws-bare' | 'socketio';
  instances: Instance[];
  /** Other processes whose CPU counts (the Redis server). */
  helperPids: number[];
  auth: string | null;
  token: string | null;
  queues: QueueRef[];
  /** Are sequence numbers gapless per queue across the whole system (checked per socket)? */
  checkSequence: boolean;
  stop(): Promise<void>;
}

const OWNER = 'fanout-owner';
const SEED_TRACKS = Array.from({ length: 20 }, (_, i) => `seed-${i}`);

async function createQueues(instances: Instance[], auth: string | null): Promise<QueueRef[]> {
  const queues: QueueRef[] = [];
  for (let q = 0; q < QUEUES; q++) {
    const r = await http('POST', `${instances[q % instances.length]!.url}/queues`, { name: `fanout-${q}`, tracks: SEED_TRACKS }, auth);
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /queues: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    queues.push({ id: r.body.queue.id, version: r.body.queue.version, added: [], open: 0 });
  }
  return queues;
}

async function ourSystem(key: 'embedded' | 'cluster'): Promise<System> {
  const adminKey = randomBytes(16).toString('hex');
  // One user holds every socket and sends every write: the per-user limits (issue 16) would stop the bench.
  const env: Record<string, string> = {
    ADMIN_API_KEY: adminKey,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_IP_PER_MINUTE: '0',
    WS_MAX_SOCKETS_PER_USER: '1000000',
  };
  let redis: Awaited<ReturnType<typeof startRedis>> | null = null;
  const prefix = `qs-fanout-${randomBytes(4).toString('hex')}:`;
  if (key === 'cluster') {
    env.DATABASE_URL = await createDatabase();
    redis = await startRedis();
    const redisUrl = redis.url;
    // Runs after the instances stop (cleanups run last-in first-out) and before Redis stops.
    onCleanup('Redis keys', async () => {
      const n = await dropRedisKeys(redisUrl, prefix);
      if (n) log(`dropped ${n} Redis keys under ${prefix}`);
    });
    env.REDIS_URL = redis.url;
    env.REDIS_KEY_PREFIX = prefix;
  }
  // One after the other: the first one migrates the database.
  const instances: Instance[] = [];
  for (let i = 0; i < (key === 'cluster' ? 2 : 1); i++) instances.push(await startOurServer(env));
  const minted = await http('POST', `${instances[0]!.url}/auth/tokens`, { userId: OWNER }, `Bearer ${adminKey}`);
  if (minted.status !== 200) throw new Error(`POST /auth/tokens: ${minted.status} ${JSON.stringify(minted.body).slice(0, 300)}`);
  const token: string = minted.body.token;
  const auth = `Bearer ${token}`;
  const queues = await createQueues(instances, auth);
  return {
    key,
    name: key === 'cluster' ? 'ours: 2 instances, Postgres + Redis' : 'ours: embedded (SQLite)',
    client: 'ws-ours',
    instances,
    helperPids: redis ? [redis.pid] : [],
    auth,
    token,
    queues,
    checkSequence: true,
    stop: cleanupAll,
  };
}

async function bareSystem(): Promise<System> {
  const instances = [await startPeer('bare-ws.ts')];
  return {
    key: 'bare',
    name: 'ceiling: bare ws broadcast',
    client: 'ws-bare',
    instances,
    helperPids: [],
    auth: null,
    token: null,
    queues: await createQueues(instances, null),
    checkSequence: true,
    stop: cleanupAll,
  };
}

async function socketIoSystem(): Promise<System> {
  const redis = await startRedis();
  const instances = [await startPeer('socketio.ts', { REDIS_URL: redis.url }), await startPeer('socketio.ts', { REDIS_URL: redis.url })];
  return {
    key: 'socketio',
    name: 'peer: 2 Socket.IO + Redis adapter',
    client: 'socketio',
    instances,
    helperPids: [redis.pid],
    auth: null,
    token: null,
    queues: await createQueues(instances, null),
    // Two instances without a store have no shared sequence: counted, not order-checked.
    checkSequence: false,
    stop: cleanupAll,
  };
}

// ---------------------------------------------------------------- clients and measurement

const CONTROL = new Set(['hello', 'snapshot', 'ack', 'error', 'subscribed', 'presence']);

interface Sub {
  index: number;
  q: number;
  inst: number;
  open: boolean;
  lastSeq: number;
  got: number;
  closeCode: number | null;
  close(): void;
}

class Stats {
  received = 0;
  inWindow = 0;
  windowOpen = false;
  /** Events whose write was accepted, times the open subscribers of its queue then. */
  expected = 0;
  lat: number[] = [];
  gaps = 0;
  dups = 0;
  reset(): void {
    this.received = 0;
    this.inWindow = 0;
    this.expected = 0;
    this.lat = [];
  }
}
let stats = new Stats();
let sequenceChecked = true;

function onEvent(sub: Sub, m: any): void {
  if (!m || typeof m.sequenceNumber !== 'number' || CONTROL.has(m.type)) return;
  const now = Date.now();
  sub.got++;
  stats.received++;
  if (stats.windowOpen) stats.inWindow++;
  stats.lat.push(now - m.timestamp);
  if (sequenceChecked) {
    if (m.sequenceNumber <= sub.lastSeq) stats.dups++;
    else if (m.sequenceNumber !== sub.lastSeq + 1) stats.gaps++;
    sub.lastSeq = Math.max(sub.lastSeq, m.sequenceNumber);
  }
}

function connectOne(sys: System, index: number, q: number, inst: number, onClose: (s: Sub) => void): Promise<Sub> {
  const queue = sys.queues[q]!;
  const base = sys.instances[inst]!.url;
  const sub: Sub = { index, q, inst, open: false, lastSeq: queue.version, got: 0, closeCode: null, close: () => undefined };
  return new Promise<Sub>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.close();
      reject(new Error('timeout'));
    }, 30_000);
    const opened = () => {
      clearTimeout(timer);
      sub.open = true;
      queue.open++;
      resolve(sub);
    };
    const closed = (code: number) => {
      clearTimeout(timer);
      if (sub.open) {
        sub.open = false;
        queue.open--;
        sub.closeCode = code;
        onClose(sub);
      }
    };
    if (sys.client === 'socketio') {
      const s: IoSocket = ioClient(base, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30_000, query: { queueId: queue.id } });
      sub.close = () => s.disconnect();
      s.once('ready', opened);
      s.on('event', (m: unknown) => onEvent(sub, m));
      s.on('disconnect', () => closed(1000));
      s.on('connect_error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      return;
    }
    const path = sys.client === 'ws-ours' ? `/ws/queues/${queue.id}?since=${queue.version}&token=${encodeURIComponent(sys.token!)}` : `/ws/queues/${queue.id}`;
    const ws = new WebSocket(base.replace(/^http/, 'ws') + path, { perMessageDeflate: false });
    sub.close = () => ws.close();
    // Ours: ready once `hello` arrived (the subscription is then set up); the bare server: once open.
    let ready = false;
    if (sys.client === 'ws-bare')
      ws.once('open', () => {
        ready = true;
        opened();
      });
    ws.on('message', (d) => {
      if (!ready) {
        ready = true;
        opened();
        return;
      }
      onEvent(sub, JSON.parse(String(d)));
    });
    ws.on('close', (code) => closed(code));
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface StepResult {
  offeredWrites: number;
  issuedWrites: number;
  okWrites: number;
  failedWrites: number;
  deliveredPerSec: number;
  expected: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** REST round trip of the writes (commit included), ms. */
  writeP50: number;
  writeP99: number;
  serverCpu: number;
  helperCpu: number;
  harnessCpu: number;
  /** The writer issued fewer writes than offered. */
  shortfall: boolean;
  /** Share of the window the harness's event loop was busy (1 = saturated). */
  harnessLoop: number;
  /** The writer fell behind while the harness's loop was saturated: the harness, not the system, was the limit. */
  writerBound: boolean;
}

/** Writes at `rate` per second for `seconds`, then waits for the deliveries to drain. */
async function drive(sys: System, rate: number, seconds: number, maxWrites = Infinity): Promise<StepResult> {
  stats.reset();
  const failures = new Map<string, number>();
  let issued = 0;
  let ok = 0;
  let failed = 0;
  let inflight = 0;
  const pending = new Set<Promise<void>>();
  const writeMs: number[] = [];
  const write = () => {
    const w0 = performance.now();
    const k = issued;
    const q = k % sys.queues.length;
    // Consecutive rounds over the queues alternate instances, so each queue is written through both.
    const inst = Math.floor(k / sys.queues.length) % sys.instances.length;
    const queue = sys.queues[q]!;
    const base = sys.instances[inst]!.url;
    const remove = queue.added.length > 0 ? queue.added.shift()! : null;
    const p = (
      remove
        ? http('DELETE', `${base}/queues/${queue.id}/items/${remove}`, undefined, sys.auth)
        : http('POST', `${base}/queues/${queue.id}/tracks`, { tracks: [`t-${k}`] }, sys.auth)
    )
      .then(
        (r) => {
          if (r.status === 200 || r.status === 201) {
            ok++;
            writeMs.push(performance.now() - w0);
            const events: { data?: { itemId?: string } }[] = r.body?.events ?? [];
            stats.expected += events.length * queue.open;
            if (!remove && events[0]?.data?.itemId) queue.added.push(events[0].data.itemId);
          } else {
            failed++;
            const why = `${r.status} ${r.body?.error?.code ?? ''}`.trim();
            failures.set(why, (failures.get(why) ?? 0) + 1);
          }
        },
        (err: Error) => {
          failed++;
          failures.set(err.message, (failures.get(err.message) ?? 0) + 1);
        },
      )
      .finally(() => {
        inflight--;
        pending.delete(p);
      });
    inflight++;
    issued++;
    pending.add(p);
  };

  const cpu0 = sys.instances.reduce((a, i) => a + cpuTicks(i.pid), 0);
  const helper0 = sys.helperPids.reduce((a, p) => a + cpuTicks(p), 0);
  const harness0 = process.cpuUsage();
  const t0 = performance.now();
  stats.windowOpen = true;
  let shortfall = false;
  const elu0 = performance.eventLoopUtilization();
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds || issued >= maxWrites) break;
    const due = Math.min(maxWrites, Math.floor(rate * elapsed));
    while (issued < due && inflight < MAX_INFLIGHT_WRITES) write();
    if (issued < due - Math.max(5, rate * 0.05)) shortfall = true;
    await sleep(5);
  }
  const windowSeconds = (performance.now() - t0) / 1000;
  stats.windowOpen = false;
  const inWindow = stats.inWindow;
  const cpu1 = sys.instances.reduce((a, i) => a + cpuTicks(i.pid), 0);
  const helper1 = sys.helperPids.reduce((a, p) => a + cpuTicks(p), 0);
  const harness1 = process.cpuUsage(harness0);
  const harnessLoop = performance.eventLoopUtilization(elu0).utilization;
  // Let the writes in flight finish and the sockets drain (stop when nothing moves for 3 s).
  await Promise.race([Promise.allSettled([...pending]), sleep(30_000)]);
  let last = -1;
  let still = 0;
  for (let waited = 0; waited < 20_000 && stats.received < stats.expected; waited += 100) {
    await sleep(100);
    if (stats.received === last) {
      if (++still >= 30) break;
    } else {
      still = 0;
      last = stats.received;
    }
  }
  if (failures.size) log(`  write failures: ${[...failures].map(([k, v]) => `${k} x${v}`).join(', ')}`);
  const sorted = Float64Array.from(stats.lat).sort();
  const writesSorted = Float64Array.from(writeMs).sort();
  return {
    offeredWrites: rate,
    issuedWrites: issued / windowSeconds,
    okWrites: ok,
    failedWrites: failed,
    deliveredPerSec: inWindow / windowSeconds,
    expected: stats.expected,
    received: stats.received,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    writeP50: percentile(writesSorted, 50),
    writeP99: percentile(writesSorted, 99),
    serverCpu: ((cpu1 - cpu0) / TICKS_PER_SECOND / windowSeconds) * 100,
    helperCpu: ((helper1 - helper0) / TICKS_PER_SECOND / windowSeconds) * 100,
    harnessCpu: ((harness1.user + harness1.system) / 1e6 / windowSeconds) * 100,
    shortfall,
    harnessLoop,
    writerBound: shortfall && harnessLoop > 0.85,
  };
}

interface HoldResult {
  target: number;
  connected: number;
  failedReasons: Map<string, number>;
  connectSeconds: number;
  memPerConnKb: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  openAfterHold: number;
  liveReceived: number;
  closeCodes: Map<number, number>;
}

interface SystemResult {
  name: string;
  key: SystemKey;
  hold: HoldResult;
  fixed: StepResult;
  ramp: StepResult[];
  ceiling: StepResult;
  gaps: number;
  dups: number;
  sequenceChecked: boolean;
  /** Ours only: counters read from the instances' /metrics at the end. */
  serverCounters: string | null;
}

/** Catch-ups from the store (after a gap in the bus) and slow-consumer closes, summed over the instances. */
async function ourCounters(instances: Instance[]): Promise<string> {
  const sums = new Map<string, number>([
    ['websocket_catchups_total{reason="gap"}', 0],
    ['websocket_catchups_total{reason="reconnect"}', 0],
    ['websocket_slow_consumer_closes_total', 0],
  ]);
  for (const i of instances) {
    const text = await http('GET', `${i.url}/metrics`, undefined, null).then(
      (r) => String(r.body),
      () => '',
    );
    for (const line of text.split('\n')) {
      const m = /^(websocket_catchups_total\{reason="\w+"\}|websocket_slow_consumer_closes_total) (\d+)/.exec(line);
      if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
    }
  }
  return [...sums].map(([k, v]) => `${k.replace('websocket_', '')} ${v}`).join(', ') || 'no counters';
}

async function runSystem(sys: System): Promise<SystemResult> {
  stats = new Stats();
  sequenceChecked = sys.checkSequence;
  const closeCodes = new Map<number, number>();
  let expectClose = false;
  const onClose = (s: Sub) => {
    if (!expectClose) closeCodes.set(s.closeCode ?? 0, (closeCodes.get(s.closeCode ?? 0) ?? 0) + 1);
  };

  // Warm the server's upgrade path once, so module loading is not counted as per-connection memory.
  const warm = await connectOne(sys, -1, 0, 0, () => undefined);
  expectClose = true;
  warm.close();
  await sleep(1500);
  expectClose = false;
  const rssBefore = sys.instances.reduce((a, i) => a + rssKb(i.pid), 0);

  // ---- phase 1: connect and hold
  log(`${sys.name}: phase 1, connecting ${SOCKETS} sockets to ${sys.queues.length} queues over ${sys.instances.length} instance(s)`);
  const subs: Sub[] = [];
  const failedReasons = new Map<string, number>();
  const c0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECT_CONCURRENCY }, async () => {
      while (next < SOCKETS) {
        const i = next++;
        const q = i % sys.queues.length;
        const inst = Math.floor(i / sys.queues.length) % sys.instances.length;
        try {
          subs.push(await connectOne(sys, i, q, inst, onClose));
        } catch (err) {
          const why = (err as Error).message || String(err);
          failedReasons.set(why, (failedReasons.get(why) ?? 0) + 1);
        }
      }
    }),
  );
  const connectSeconds = (performance.now() - c0) / 1000;
  await sleep(2000);
  const rssAfter = sys.instances.reduce((a, i) => a + rssKb(i.pid), 0);
  log(`  ${subs.length}/${SOCKETS} connected in ${connectSeconds.toFixed(1)} s; holding for ${SECONDS} s`);
  for (let s = 0; s < SECONDS; s++) await sleep(1000);
  const openAfterHold = subs.filter((s) => s.open).length;
  // Every held socket must still be live: one write per queue, each open socket should get it.
  const gotBefore = new Map(subs.map((s) => [s, s.got]));
  await drive(sys, 200, 60, sys.queues.length);
  const deadline = Date.now() + 15_000;
  let liveReceived = 0;
  while (Date.now() < deadline) {
    liveReceived = subs.filter((s) => s.got > gotBefore.get(s)!).length;
    if (liveReceived >= openAfterHold) break;
    await sleep(100);
  }
  const hold: HoldResult = {
    target: SOCKETS,
    connected: subs.length,
    failedReasons,
    connectSeconds,
    memPerConnKb: subs.length ? (rssAfter - rssBefore) / subs.length : NaN,
    rssBeforeMb: rssBefore / 1024,
    rssAfterMb: rssAfter / 1024,
    openAfterHold,
    liveReceived,
    closeCodes,
  };
  log(`  open after hold: ${openAfterHold}; received a live event: ${liveReceived}; memory/connection: ${hold.memPerConnKb.toFixed(1)} KB`);

  // Keep SUBS sockets per queue for phases 2 and 3.
  expectClose = true;
  for (const s of subs) if (Math.floor(s.index / sys.queues.length) >= SUBS && s.open) s.close();
  await sleep(2000);
  expectClose = false;
  const kept = subs.filter((s) => s.open).length;
  log(`  kept ${kept} sockets (${SUBS} per queue where they all connected) for phases 2 and 3`);

  // ---- phase 2: fixed rate
  log(`${sys.name}: phase 2, ${BASE_WRITES} writes/s (${FIXED_DELIVERED} events/s delivered) for ${SECONDS} s`);
  const fixed = await drive(sys, BASE_WRITES, SECONDS);
  log(
    `  delivered ${fixed.deliveredPerSec.toFixed(0)}/s, p50 ${fixed.p50} ms, p99 ${fixed.p99} ms; writes p50 ${fixed.writeP50.toFixed(0)} ms, p99 ${fixed.writeP99.toFixed(0)} ms`,
  );

  // ---- phase 3: ramp to the ceiling
  log(`${sys.name}: phase 3, doubling the write rate (${STEP_SECONDS} s steps) until delivered/s stops growing or p99 > 1 s`);
  const ramp: StepResult[] = [];
  let best = fixed;
  for (let k = 1; k <= MAX_STEPS; k++) {
    const r = await drive(sys, BASE_WRITES * 2 ** k, STEP_SECONDS);
    ramp.push(r);
    log(
      `  ${r.offeredWrites} writes/s offered, ${r.issuedWrites.toFixed(0)} issued: delivered ${r.deliveredPerSec.toFixed(0)}/s, p99 ${r.p99} ms, server CPU ${r.serverCpu.toFixed(0)}%, harness CPU ${r.harnessCpu.toFixed(0)}% (loop ${(r.harnessLoop * 100).toFixed(0)}% busy)`,
    );
    const grew = r.deliveredPerSec >= best.deliveredPerSec * 1.05;
    if (r.deliveredPerSec > best.deliveredPerSec) best = r;
    if (!grew || r.p99 > 1000 || r.shortfall || r.failedWrites > r.okWrites * 0.01) break;
  }

  const serverCounters = sys.client === 'ws-ours' ? await ourCounters(sys.instances) : null;
  expectClose = true;
  for (const s of subs) if (s.open) s.close();
  await sleep(1000);
  return {
    name: sys.name,
    key: sys.key,
    hold,
    fixed,
    ramp,
    ceiling: best,
    gaps: stats.gaps,
    dups: stats.dups,
    sequenceChecked: sys.checkSequence,
    serverCounters,
  };
}

// ---------------------------------------------------------------- main

const started = new Date();
const load0 = loadavg();
log(`${SOCKETS} sockets, ${QUEUES} queues, ${SECONDS} s phases, ${STEP_SECONDS} s ramp steps; systems: ${SELECTED.join(', ')}`);
log(`machine: ${cpus().length} cores, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

const makers: Record<SystemKey, () => Promise<System>> = {
  embedded: () => ourSystem('embedded'),
  bare: bareSystem,
  cluster: () => ourSystem('cluster'),
  socketio: socketIoSystem,
};
const results: SystemResult[] = [];
const skipped: string[] = [];
for (const key of SELECTED) {
  let sys: System;
  try {
    sys = await makers[key]();
  } catch (err) {
    log(`${key}: could not start (${(err as Error).message.split('\n')[0]}); skipped`);
    skipped.push(`${key}: ${(err as Error).message.split('\n')[0]}`);
    await cleanupAll();
    continue;
  }
  try {
    results.push(await runSystem(sys));
  } catch (err) {
    log(`${sys.name}: failed: ${(err as Error).stack ?? String(err)}`);
    skipped.push(`${key}: failed: ${(err as Error).message}`);
  } finally {
    // The processes, then (for the clusters) their Redis keys and Redis, the database and data dirs.
    await sys.stop();
  }
}
agent.destroy();
const load1 = loadavg();

// ---------------------------------------------------------------- report

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? (a / b).toFixed(2) : '-');
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const out: string[] = [];
const say = (s = '') => out.push(s);

say(
  `bench:fanout  ${started.toISOString()}  FANOUT_SOCKETS=${SOCKETS} FANOUT_SECONDS=${SECONDS}  (${QUEUES} queues; phases 2-3: ${SUBS} subscribers per queue)`,
);
say(`machine: ${cpus().length} cores; load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
say();
say(`phase 1: hold ${SOCKETS} sockets for ${SECONDS} s; memory per connection = server RSS after connecting minus before, / connected (all instances summed)`);
say(
  `${pad('system', 38)}${lpad('connected', 11)}${lpad('conn s', 8)}${lpad('open after', 11)}${lpad('live event', 11)}${lpad('RSS MB before/after', 21)}${lpad('KB/conn', 9)}`,
);
for (const r of results) {
  const h = r.hold;
  say(
    `${pad(r.name, 38)}${lpad(`${h.connected}/${h.target}`, 11)}${lpad(f1(h.connectSeconds), 8)}${lpad(String(h.openAfterHold), 11)}${lpad(String(h.liveReceived), 11)}${lpad(`${f0(h.rssBeforeMb)}/${f0(h.rssAfterMb)}`, 21)}${lpad(f1(h.memPerConnKb), 9)}`,
  );
  if (h.failedReasons.size) say(`    connect failures: ${[...h.failedReasons].map(([k, v]) => `${k} x${v}`).join('; ')}`);
  if (h.closeCodes.size) say(`    closed by the server during the run: ${[...h.closeCodes].map(([k, v]) => `code ${k} x${v}`).join('; ')}`);
}
say();
say(
  `phase 2: ${BASE_WRITES} writes/s over ${QUEUES} queues x ${SUBS} subscribers = ${FIXED_DELIVERED} events/s for ${SECONDS} s; latency = socket receive time - commit timestamp; write = REST round trip`,
);
say(
  `${pad('system', 38)}${lpad('delivered/s', 12)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('max ms', 8)}${lpad('write p50/p99', 15)}${lpad('missing', 9)}${lpad('server CPU', 11)}${lpad('harness CPU/loop', 17)}`,
);
for (const r of results) {
  const x = r.fixed;
  say(
    `${pad(r.name, 38)}${lpad(f0(x.deliveredPerSec), 12)}${lpad(f0(x.p50), 8)}${lpad(f0(x.p99), 8)}${lpad(f0(x.max), 8)}${lpad(`${f0(x.writeP50)}/${f0(x.writeP99)}`, 15)}${lpad(String(Math.max(0, x.expected - x.received)), 9)}${lpad(`${f0(x.serverCpu)}%`, 11)}${lpad(`${f0(x.harnessCpu)}%/${f0(x.harnessLoop * 100)}%`, 17)}`,
  );
}
say();
say(
  `phase 3: write rate doubled every ${STEP_SECONDS} s from ${BASE_WRITES * 2}/s until delivered/s grows < 5%, p99 > 1 s, or the writer falls behind (server CPU = all instances; Redis CPU separate)`,
);
say(
  `${pad('system', 38)}${lpad('writes/s', 9)}${lpad('issued/s', 9)}${lpad('delivered/s', 12)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('write p50/p99', 15)}${lpad('missing', 9)}${lpad('server CPU', 11)}${lpad('redis CPU', 10)}${lpad('harness CPU/loop', 17)}`,
);
for (const r of results) {
  for (const x of r.ramp) {
    say(
      `${pad(r.name, 38)}${lpad(String(x.offeredWrites), 9)}${lpad(`${x.writerBound ? '*' : ''}${f0(x.issuedWrites)}`, 9)}${lpad(f0(x.deliveredPerSec), 12)}${lpad(f0(x.p50), 8)}${lpad(f0(x.p99), 8)}${lpad(`${f0(x.writeP50)}/${f0(x.writeP99)}`, 15)}${lpad(String(Math.max(0, x.expected - x.received)), 9)}${lpad(`${f0(x.serverCpu)}%`, 11)}${lpad(r.key === 'cluster' || r.key === 'socketio' ? `${f0(x.helperCpu)}%` : '-', 10)}${lpad(`${f0(x.harnessCpu)}%/${f0(x.harnessLoop * 100)}%`, 17)}${x.failedWrites ? `  ${x.failedWrites} failed writes` : ''}`,
    );
  }
}
say('  harness CPU/loop = the bench process: CPU (all its threads) / share of the time its event loop was busy');
say('  * the writer fell behind while the harness loop was over 85% busy: that step is bound by the harness, not the system');
say();
say('summary (ceiling = most delivered/s in any step of phases 2-3; ">=" = reached while the harness was the limit, so the system may go higher)');
say(`${pad('system', 38)}${lpad('ceiling/s', 10)}${lpad('p99@2k ms', 10)}${lpad('KB/conn', 9)}${lpad('held', 12)}${lpad('seq check', 22)}`);
for (const r of results) {
  const seq = r.sequenceChecked ? `${r.gaps} gaps, ${r.dups} dups` : 'not checked';
  say(
    `${pad(r.name, 38)}${lpad(`${r.ceiling.writerBound ? '>=' : ''}${f0(r.ceiling.deliveredPerSec)}`, 10)}${lpad(f0(r.fixed.p99), 10)}${lpad(f1(r.hold.memPerConnKb), 9)}${lpad(`${r.hold.liveReceived}/${r.hold.target}`, 12)}${lpad(seq, 22)}`,
  );
}
for (const r of results) if (r.serverCounters) say(`  ${r.name}: ${r.serverCounters}`);
const bare = results.find((r) => r.key === 'bare');
const sio = results.find((r) => r.key === 'socketio');
const ours = results.filter((r) => r.key === 'embedded' || r.key === 'cluster');
if (ours.length) {
  say();
  say('ours as ratios (throughput: higher is better; p99 and memory: lower is better)');
  say(
    `${pad('ours', 38)}${lpad('ceiling/bare', 13)}${lpad('ceiling/sio', 12)}${lpad('p99/bare', 10)}${lpad('p99/sio', 9)}${lpad('mem/bare', 10)}${lpad('mem/sio', 9)}`,
  );
  for (const r of ours) {
    say(
      `${pad(r.name, 38)}${lpad(ratio(r.ceiling.deliveredPerSec, bare?.ceiling.deliveredPerSec ?? NaN), 13)}${lpad(ratio(r.ceiling.deliveredPerSec, sio?.ceiling.deliveredPerSec ?? NaN), 12)}${lpad(ratio(r.fixed.p99, bare?.fixed.p99 ?? NaN), 10)}${lpad(ratio(r.fixed.p99, sio?.fixed.p99 ?? NaN), 9)}${lpad(ratio(r.hold.memPerConnKb, bare?.hold.memPerConnKb ?? NaN), 10)}${lpad(ratio(r.hold.memPerConnKb, sio?.hold.memPerConnKb ?? NaN), 9)}`,
    );
  }
  say();
  say('targets (issue 3):');
  if (bare?.ceiling.writerBound)
    say('  (the bare ws ceiling was bound by the harness: the true ceiling is higher, so "% of the bare ws ceiling" is an upper bound)');
  for (const r of ours) {
    const held = r.hold.connected === SOCKETS && r.hold.openAfterHold === SOCKETS && r.hold.liveReceived === SOCKETS;
    const p99ok = r.fixed.p99 < 50 && r.fixed.deliveredPerSec >= FIXED_DELIVERED * 0.95;
    const ceil = bare ? r.ceiling.deliveredPerSec / bare.ceiling.deliveredPerSec : NaN;
    say(
      `  ${r.name}: ${SOCKETS} sockets held ${held ? 'YES' : 'NO'}${SOCKETS < 5000 ? ' (fewer than the 5,000 of the target)' : ''}; p99 < 50 ms at ${FIXED_DELIVERED}/s ${p99ok ? 'YES' : 'NO'} (${f0(r.fixed.p99)} ms); >= 70% of the bare ws ceiling ${Number.isFinite(ceil) ? (ceil >= 0.7 ? 'YES' : 'NO') : 'n/a'} (${Number.isFinite(ceil) ? `${(ceil * 100).toFixed(0)}%` : 'no bare run'})`,
    );
  }
}
if (skipped.length) {
  say();
  say(`not measured: ${skipped.join('; ')}`);
}
process.stdout.write(`\n${out.join('\n')}\n`);
await cleanupAll();
process.exit(0);
