// bench:client — the client SDK's mirrors against a plain `ws` client doing the same by hand.
//   (a) commit-to-mirror latency: CLIENT_MIRRORS (default 500) mirrors of one queue, split over
//       CLIENT_PROCS (default 2) processes, while a writer process changes the queue at
//       CLIENT_RATE writes/s (default 4) for BENCH_SECONDS (default 15). Each event carries the
//       server's commit time (epoch ms; one machine clock). Per delivery p50/p99, and per
//       write the time until the last mirror had it ("every mirror").
//   (b) catch-up after a restart: CLIENT_RESTART_MIRRORS (default 50) mirrors; with the writer
//       going, the server is SIGKILLed and started again on the same data and port; from the
//       moment it answers /readyz, the time until every mirror holds the version the server
//       had then (and when each socket was back).
// Both with SDK mirrors (`QueueClient.openQueue`, the built package) and with the plain client
// (bench/client-mirrors.ts: the sync socket, `subscribe` with its own `since`, the same
// reconnect back-off), one after the other on the same server, reported as ratios.
// Run by hand, never in CI: `npm run bench:client` (the package is built by npm install).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { envInt } from './env.ts';
import { SERVER_NODE_ARGS } from '../test/helpers/server.ts';

const ROOT = new URL('..', import.meta.url).pathname;

const MIRRORS = envInt('CLIENT_MIRRORS', 500, 1);
const PROCS = envInt('CLIENT_PROCS', 2, 1);
const RATE = envInt('CLIENT_RATE', 4, 1);
const SECONDS = envInt('BENCH_SECONDS', 15, 2);
const RESTART_MIRRORS = envInt('CLIENT_RESTART_MIRRORS', 50, 1);
const RECONNECT = { baseMs: envInt('CLIENT_RECONNECT_BASE_MS', 100, 1), maxMs: envInt('CLIENT_RECONNECT_MAX_MS', 1000, 1) };
const MAX_MINUTES = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[client ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const pct = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');

// ---------------------------------------------------------------- processes and cleanup

const children = new Set<ChildProcess>();
let dataDir = '';
async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));
setTimeout(() => {
  log(`the run took over ${MAX_MINUTES} minutes`);
  void cleanup().then(() => process.exit(3));
}, MAX_MINUTES * 60_000).unref();

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

interface Server {
  url: string;
  proc: ChildProcess;
}

const ADMIN_KEY = randomBytes(16).toString('hex');

/** Our server on SQLite in `dataDir`, on `port`; resolves when /readyz answers 200, with that instant. */
async function startServer(port: number): Promise<Server & { readyAt: number }> {
  const proc = spawn(process.execPath, [...SERVER_NODE_ARGS, join(ROOT, 'src/cli.ts'), 'serve'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'error',
      RATE_LIMIT_PER_MINUTE: '10000000',
      RATE_LIMIT_IP_PER_MINUTE: '10000000',
      WS_MAX_SOCKETS_PER_USER: '100000',
    },
  });
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const r = await fetch(`${url}/readyz`).catch(() => null);
    if (r?.status === 200) return { url, proc, readyAt: Date.now() };
    if (proc.exitCode !== null || i > 3000) throw new Error(`server did not get ready:\n${err}`);
    await sleep(10);
  }
}

async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json().catch(() => null);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

/** A forked helper process with a request/answer helper over IPC. */
function helper(file: string) {
  const p = fork(join(ROOT, 'bench', file), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(p);
  const waiters: { type: string; resolve: (m: any) => void }[] = [];
  p.on('message', (m: any) => {
    if (m.type === 'error') log(`${file}: ${m.message}`);
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  return {
    proc: p,
    ask(msg: Record<string, unknown>, answer: string, timeoutMs = 120_000): Promise<any> {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${file}: no '${answer}' in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          type: answer,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
        p.send(msg);
      });
    },
    send: (msg: Record<string, unknown>) => p.send(msg),
    async close() {
      await this.ask({ cmd: 'close' }, 'closed', 30_000).catch(() => p.kill('SIGKILL'));
      children.delete(p);
    },
  };
}

// ---------------------------------------------------------------- the phases

type Kind = 'sdk' | 'ws';
const NAME: Record<Kind, string> = { sdk: 'SDK mirrors (QueueClient.openQueue)', ws: 'plain ws client, by hand' };

interface FanResult {
  kind: Kind;
  mirrors: number;
  connectMs: number;
  writes: number;
  failedWrites: number;
  deliveries: number;
  expected: number;
  p50: number;
  p99: number;
  max: number;
  everyP50: number;
  everyP99: number;
  complete: number;
  duplicates: number;
  gaps: number;
  load: [string, string];
}

async function fanout(url: string, token: string, queueId: string, kind: Kind): Promise<FanResult> {
  const load0 = loadavg();
  const per = Math.ceil(MIRRORS / PROCS);
  const procs = Array.from({ length: PROCS }, () => helper('client-mirrors.ts'));
  const t0 = Date.now();
  await Promise.all(
    procs.map((p, i) =>
      p.ask(
        { cmd: 'start', kind, n: Math.min(per, MIRRORS - i * per), baseUrl: url, token, queueId, reconnect: RECONNECT, prefix: `${kind}-fan-${i}` },
        'ready',
        300_000,
      ),
    ),
  );
  const connectMs = Date.now() - t0;
  log(`${kind}: ${MIRRORS} mirrors hold the queue after ${connectMs} ms; writing ${RATE}/s for ${SECONDS} s`);
  await sleep(1000);
  await Promise.all(procs.map((p) => p.ask({ cmd: 'mark' }, 'marked')));
  const writer = helper('client-writer.ts');
  writer.send({ cmd: 'start', baseUrl: url, token, queueId, rate: RATE });
  await sleep(SECONDS * 1000);
  const w = await writer.ask({ cmd: 'stop' }, 'stopped');
  children.delete(writer.proc);
  log(`${kind}: writer stopped after ${w.ok} writes (${w.failed} failed); waiting for the last deliveries`);
  // Let the last deliveries arrive.
  const head = (await call(url, token, 'GET', `/queues/${queueId}?limit=1`)).version as number;
  const end = Date.now() + 30_000;
  let reports: any[] = [];
  for (;;) {
    reports = await Promise.all(procs.map((p) => p.ask({ cmd: 'report' }, 'report')));
    if (reports.every((r) => r.versions.every((v: number) => v >= head)) || Date.now() > end) break;
    await sleep(250);
  }
  const latencies = reports.flatMap((r) => r.latencies as number[]);
  const merged = new Map<number, { commit: number; last: number; count: number }>();
  for (const r of reports) {
    for (const [v, x] of r.byVersion as [number, { commit: number; last: number; count: number }][]) {
      const m = merged.get(v) ?? { commit: x.commit, last: 0, count: 0 };
      m.last = Math.max(m.last, x.last);
      m.count += x.count;
      merged.set(v, m);
    }
  }
  log(`${kind}: ${latencies.length} deliveries recorded; closing the mirrors`);
  const every = [...merged.values()].filter((m) => m.count === MIRRORS).map((m) => m.last - m.commit);
  await Promise.all(procs.map((p) => p.close()));
  return {
    kind,
    mirrors: MIRRORS,
    connectMs,
    writes: w.ok,
    failedWrites: w.failed,
    deliveries: latencies.length,
    expected: w.ok * MIRRORS,
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    max: pct(latencies, 1),
    everyP50: pct(every, 0.5),
    everyP99: pct(every, 0.99),
    complete: every.length,
    duplicates: reports.reduce((a, r) => a + r.duplicates, 0),
    gaps: reports.reduce((a, r) => a + r.gaps, 0),
    load: [load0, loadavg()],
  };
}

interface RestartResult {
  kind: Kind;
  mirrors: number;
  downMs: number;
  readyVersion: number;
  reopenP50: number;
  reopenMax: number;
  caughtP50: number;
  caughtMax: number;
  /** Per mirror: from its socket back (or the target written, if later) to holding the target: the resume without the back-off. */
  resumeP50: number;
  resumeMax: number;
  behind: number;
  duplicates: number;
  gaps: number;
  load: [string, string];
}

async function restart(server: { current: Server }, port: number, token: string, queueId: string, kind: Kind): Promise<RestartResult> {
  const load0 = loadavg();
  const url = server.current.url;
  const p = helper('client-mirrors.ts');
  await p.ask({ cmd: 'start', kind, n: RESTART_MIRRORS, baseUrl: url, token, queueId, reconnect: RECONNECT, prefix: `${kind}-restart` }, 'ready', 120_000);
  const writer = helper('client-writer.ts');
  writer.send({ cmd: 'start', baseUrl: url, token, queueId, rate: RATE });
  await sleep(3000);
  const killedAt = Date.now();
  await p.ask({ cmd: 'killed', at: killedAt }, 'killed');
  const old = server.current.proc;
  const exited = new Promise((r) => old.once('exit', r));
  old.kill('SIGKILL');
  await exited;
  children.delete(old);
  log(`${kind}: server killed with ${RESTART_MIRRORS} mirrors open and writes going; restarting`);
  const s = await startServer(port);
  server.current = s;
  // The version the mirrors must reach: one written the moment the server is ready (the
  // writer goes on too), so a mirror has it only once its socket is back and resumed.
  const readyVersion = (await call(url, token, 'POST', `/queues/${queueId}/tracks`, { tracks: ['restart-probe'] })).version as number;
  const probeAt = Date.now();
  const c = await p.ask({ cmd: 'catchup', version: readyVersion, timeoutMs: 60_000 }, 'catchup', 90_000);
  await writer.ask({ cmd: 'stop' }, 'stopped');
  children.delete(writer.proc);
  await p.close();
  const mirrors = c.mirrors as { reopenedAt: number | null; reachedAt: number | null; version: number }[];
  const reopen = mirrors.filter((m) => m.reopenedAt !== null).map((m) => m.reopenedAt! - s.readyAt);
  // -1: it already held that version when asked (cannot happen after a kill, but counted as 0).
  const caught = mirrors.filter((m) => m.reachedAt !== null).map((m) => (m.reachedAt! < 0 ? 0 : m.reachedAt! - s.readyAt));
  const resume = mirrors
    .filter((m) => m.reopenedAt !== null && m.reachedAt !== null && m.reachedAt >= 0)
    .map((m) => m.reachedAt! - Math.max(m.reopenedAt!, probeAt));
  return {
    resumeP50: pct(resume, 0.5),
    resumeMax: pct(resume, 1),
    kind,
    mirrors: RESTART_MIRRORS,
    downMs: s.readyAt - killedAt,
    readyVersion,
    reopenP50: pct(reopen, 0.5),
    reopenMax: pct(reopen, 1),
    caughtP50: pct(caught, 0.5),
    caughtMax: pct(caught, 1),
    behind: mirrors.length - caught.length,
    duplicates: c.duplicates,
    gaps: c.gaps,
    load: [load0, loadavg()],
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const loadStart = loadavg();
  log(`load average ${loadStart}; ${cpus().length} cores`);
  dataDir = mkdtempSync(join(tmpdir(), 'qs-bench-client-'));
  const port = await freePort();
  const server = { current: (await startServer(port)) as Server };
  const url = server.current.url;
  const tok = await call(url, ADMIN_KEY, 'POST', '/auth/tokens', { userId: 'bench' });
  const token = tok.token as string;
  const q = await call(url, token, 'POST', '/queues', { name: 'bench:client', tracks: Array.from({ length: 50 }, (_, i) => `seed-${i}`) });
  const queueId = q.queue.id as string;

  const fan: FanResult[] = [];
  for (const kind of ['sdk', 'ws'] as Kind[]) fan.push(await fanout(url, token, queueId, kind));
  const rs: RestartResult[] = [];
  for (const kind of ['sdk', 'ws'] as Kind[]) rs.push(await restart(server, port, token, queueId, kind));
  const loadEnd = loadavg();
  await cleanup();

  const [a, b] = fan as [FanResult, FanResult];
  const [ra, rb] = rs as [RestartResult, RestartResult];
  const out: string[] = [];
  out.push(`# bench:client — ${new Date().toISOString()}`);
  out.push('');
  out.push(
    `${cpus().length} cores; load average ${loadStart} at the start, ${loadEnd} at the end. Server: src/cli.ts serve (SQLite), one process. Reconnect back-off for both clients: ${RECONNECT.baseMs} ms doubling to ${RECONNECT.maxMs} ms, jittered 50-100 %.`,
  );
  out.push('');
  out.push(`## (a) commit to every mirror: ${MIRRORS} mirrors of one queue in ${PROCS} processes, ${RATE} writes/s for ${SECONDS} s`);
  out.push('');
  out.push(`| | ${NAME.sdk} | ${NAME.ws} | SDK ÷ plain |`);
  out.push('|---|---|---|---|');
  const row = (label: string, x: number, y: number, d = 1) => out.push(`| ${label} | ${f(x, d)} | ${f(y, d)} | ${f(x / y, 2)} |`);
  row('per delivery p50 (ms)', a.p50, b.p50);
  row('per delivery p99 (ms)', a.p99, b.p99);
  row('per delivery max (ms)', a.max, b.max);
  row('every mirror has it, p50 (ms)', a.everyP50, b.everyP50);
  row('every mirror has it, p99 (ms)', a.everyP99, b.everyP99);
  row(`connect ${MIRRORS} mirrors (ms)`, a.connectMs, b.connectMs, 0);
  out.push(`| writes (failed) | ${a.writes} (${a.failedWrites}) | ${b.writes} (${b.failedWrites}) | |`);
  out.push(`| deliveries / expected | ${a.deliveries} / ${a.expected} | ${b.deliveries} / ${b.expected} | |`);
  out.push(`| writes every mirror got | ${a.complete} | ${b.complete} | |`);
  out.push(`| duplicates / gaps seen | – | ${b.duplicates} / ${b.gaps} | |`);
  out.push(`| load average before → after | ${a.load[0]} → ${a.load[1]} | ${b.load[0]} → ${b.load[1]} | |`);
  out.push('');
  out.push(
    `## (b) catch-up after SIGKILL + restart: ${RESTART_MIRRORS} mirrors, writes going at ${RATE}/s (times from /readyz answering 200; the target is a write made at that moment)`,
  );
  out.push('');
  out.push(`| | ${NAME.sdk} | ${NAME.ws} | SDK ÷ plain |`);
  out.push('|---|---|---|---|');
  const row2 = (label: string, x: number, y: number, d = 0) => out.push(`| ${label} | ${f(x, d)} | ${f(y, d)} | ${f(x / y, 2)} |`);
  row2('socket back, p50 (ms)', ra.reopenP50, rb.reopenP50);
  row2('socket back, last (ms)', ra.reopenMax, rb.reopenMax);
  row2('holds the write made at ready, p50 (ms)', ra.caughtP50, rb.caughtP50);
  row2('every mirror holds it (ms)', ra.caughtMax, rb.caughtMax);
  row2('socket back (or write answered, if later) → holds it, p50 (ms)', ra.resumeP50, rb.resumeP50, 1);
  row2('socket back (or write answered, if later) → holds it, max (ms)', ra.resumeMax, rb.resumeMax, 1);
  out.push(`| server down (kill → ready, ms) | ${ra.downMs} | ${rb.downMs} | |`);
  out.push(`| mirrors that did not catch up in 60 s | ${ra.behind} | ${rb.behind} | |`);
  out.push(`| duplicates / gaps seen | – | ${rb.duplicates} / ${rb.gaps} | |`);
  out.push(`| load average before → after | ${ra.load[0]} → ${ra.load[1]} | ${rb.load[0]} → ${rb.load[1]} | |`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch(async (err) => {
  log(String(err?.stack ?? err));
  await cleanup();
  process.exit(1);
});
