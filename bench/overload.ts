// bench:overload — does the service plateau or collapse past its knee? (issue 16)
// One server (embedded SQLite) with OVERLOAD_SOCKETS subscribers over OVERLOAD_QUEUES
// queues (the fan-out load), and a load generator in a process of its own that offers
// queue writes at a fixed rate, open loop (it does not wait for answers before sending
// more), over HTTP (POST tracks / DELETE item, alternating) or as socket commands
// (add_tracks / remove_item on one socket per queue). Per transport it first doubles the
// rate until the goodput (2xx or ack per second) falls below 95% of the offered rate:
// the knee is the last rate served in full. Then it offers 1x, 2x and 4x the knee and
// reports goodput, p50/p99 of the served requests, how many were refused (503 /
// `overloaded`) and how fast, and the events delivered to the subscribers.
// Targets: goodput at 4x >= 90% of the peak, served p99 < 100 ms, refusals within 5 ms.
// Run by hand, never in CI: `npm run bench:overload`. Knobs (env): OVERLOAD_SOCKETS (2000),
// OVERLOAD_QUEUES (100), OVERLOAD_SECONDS (8 per step), OVERLOAD_TRANSPORTS (http,ws),
// OVERLOAD_KNEE_HTTP / OVERLOAD_KNEE_WS (skip the search), OVERLOAD_SERVER_ENV (K=V,...
// passed to the server, e.g. OVERLOAD_MAX_IN_FLIGHT=0 to switch the bound off),
// OVERLOAD_CPU_PROF (a directory: the server runs with --cpu-prof and writes there on exit).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { envInt } from './env.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[overload ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

// ---------------------------------------------------------------- the generator process

type Transport = 'http' | 'ws';
interface GenConfig {
  transport: Transport;
  url: string;
  token: string;
  queues: string[];
  rate: number;
  seconds: number;
}
export interface GenResult {
  transport: Transport;
  offered: number;
  issuedPerSec: number;
  goodput: number;
  servedP50: number;
  servedP99: number;
  refused: number;
  refusedP50: number;
  refusedP99: number;
  refusedMax: number;
  other: Record<string, number>;
  timeouts: number;
  /** Most the generator fell behind its schedule (ms): large = the harness was starved. */
  maxLagMs: number;
}

const TIMEOUT_MS = 10_000;

async function generate(cfg: GenConfig): Promise<GenResult> {
  const served: number[] = [];
  const refusedLat: number[] = [];
  const other: Record<string, number> = {};
  let okInWindow = 0;
  let timeouts = 0;
  let issued = 0;
  let outstanding = 0;
  let windowOpen = true;
  const added: string[][] = cfg.queues.map(() => []);
  const count = (k: string) => (other[k] = (other[k] ?? 0) + 1);
  const done = (t0: number, status: 'ok' | 'refused' | string, q: number, itemId?: string) => {
    outstanding--;
    const ms = performance.now() - t0;
    if (status === 'ok') {
      served.push(ms);
      if (windowOpen) okInWindow++;
      if (itemId) added[q]!.push(itemId);
    } else if (status === 'refused') refusedLat.push(ms);
    else count(status);
  };

  let fire: (k: number) => void;
  let finish: () => void = () => undefined;
  if (cfg.transport === 'http') {
    const agent = new Agent({ keepAlive: true, maxSockets: 4096 });
    const auth = `Bearer ${cfg.token}`;
    fire = (k) => {
      const q = k % cfg.queues.length;
      const remove = added[q]!.shift();
      const path = remove ? `/queues/${cfg.queues[q]}/items/${remove}` : `/queues/${cfg.queues[q]}/tracks`;
      const payload = remove ? undefined : JSON.stringify({ tracks: [`t-${k}`] });
      const headers: Record<string, string> = { authorization: auth };
      if (payload) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      const t0 = performance.now();
      outstanding++;
      let settled = false;
      const settle = (s: string, itemId?: string) => {
        if (settled) return;
        settled = true;
        done(t0, s, q, itemId);
      };
      const req = request(cfg.url + path, { method: remove ? 'DELETE' : 'POST', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            let itemId: string | undefined;
            if (!remove) {
              try {
                itemId = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.events?.[0]?.data?.itemId;
              } catch {
                // no item id: the next write to this queue adds again
              }
            }
            settle('ok', itemId);
          } else if (code === 503) {
            if (remove) added[q]!.unshift(remove);
            settle('refused');
          } else settle(`http ${code}`);
        });
      });
      req.setTimeout(TIMEOUT_MS, () => {
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', (e) => settle(e.message === 'timeout' ? 'timeout' : `error ${e.message}`));
      req.end(payload);
    };
    finish = () => agent.destroy();
  } else {
    const sockets: WebSocket[] = [];
    const pending = new Map<string, { t0: number; q: number; remove?: string }>();
    await Promise.all(cfg.queues.map((id, q) => new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${cfg.url.replace(/^http/, 'ws')}/ws/queues/${id}?token=${encodeURIComponent(cfg.token)}&deviceId=gen-${q}`, { perMessageDeflate: false });
      sockets[q] = ws;
      ws.once('unexpected-response', (_r, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
      ws.once('error', reject);
      ws.on('message', (d) => {
        const m = JSON.parse(String(d));
        if (m.type === 'hello') return resolve();
        if (m.type !== 'ack' && m.type !== 'error') return;
        const p = pending.get(m.mutationId);
        if (!p) return;
        pending.delete(m.mutationId);
        if (m.type === 'ack') done(p.t0, 'ok', p.q, p.remove ? undefined : m.events?.[0]?.data?.itemId);
        else {
          if (p.remove) added[p.q]!.unshift(p.remove);
          done(p.t0, m.error?.code === 'overloaded' ? 'refused' : `ws ${m.error?.code}`, p.q);
        }
      });
    })));
    const run = randomBytes(4).toString('hex');
    fire = (k) => {
      const q = k % cfg.queues.length;
      const remove = added[q]!.shift();
      const mutationId = `${run}-${k}`;
      const msg = remove
        ? { type: 'command', mutationId, op: 'remove_item', args: { itemId: remove } }
        : { type: 'command', mutationId, op: 'add_tracks', args: { tracks: [`t-${k}`] } };
      pending.set(mutationId, { t0: performance.now(), q, remove });
      outstanding++;
      sockets[q]!.send(JSON.stringify(msg));
    };
    finish = () => {
      timeouts += pending.size;
      for (const p of pending.values()) if (p) outstanding--;
      for (const s of sockets) s.terminate();
    };
  }

  const t0 = performance.now();
  let maxLag = 0;
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= cfg.seconds) break;
    const due = Math.floor(cfg.rate * elapsed);
    if (issued < due) maxLag = Math.max(maxLag, ((due - issued) / cfg.rate) * 1000);
    while (issued < due) fire(issued++);
    await sleep(2);
  }
  const window = (performance.now() - t0) / 1000;
  windowOpen = false;
  for (let waited = 0; outstanding > 0 && waited < TIMEOUT_MS + 1000; waited += 50) await sleep(50);
  finish();
  return {
    transport: cfg.transport,
    offered: cfg.rate,
    issuedPerSec: issued / window,
    goodput: okInWindow / window,
    servedP50: percentile(served, 50),
    servedP99: percentile(served, 99),
    refused: refusedLat.length,
    refusedP50: percentile(refusedLat, 50),
    refusedP99: percentile(refusedLat, 99),
    refusedMax: refusedLat.length ? Math.max(...refusedLat) : NaN,
    other,
    timeouts,
    maxLagMs: maxLag,
  };
}

if (process.argv[2] === '--generate') {
  const result = await generate(JSON.parse(process.env.OVERLOAD_GEN!) as GenConfig);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- the bench (main process)

const SOCKETS = envInt('OVERLOAD_SOCKETS', 2000, 0);
const QUEUES = envInt('OVERLOAD_QUEUES', 100, 1);
const SECONDS = envInt('OVERLOAD_SECONDS', 8, 2);
const TRANSPORTS = (process.env.OVERLOAD_TRANSPORTS ?? 'http,ws').split(',').map((s) => s.trim()).filter(Boolean) as Transport[];
const SERVER_ENV = Object.fromEntries((process.env.OVERLOAD_SERVER_ENV ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const CPU_PROF = process.env.OVERLOAD_CPU_PROF;

const children: ChildProcess[] = [];
async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}
let dataDir = '';
async function cleanup(): Promise<void> {
  for (const c of children.splice(0)) await stopChild(c);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function startServer(adminKey: string): Promise<{ url: string; pid: number }> {
  dataDir = mkdtempSync(join(tmpdir(), 'qs-overload-'));
  const nodeArgs = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
  const proc = spawn(process.execPath, [...nodeArgs, join(ROOT, 'src/cli.ts'), 'serve'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir,
      ADMIN_API_KEY: adminKey, LOG_LEVEL: 'error',
      // The bench is one user from one address: only the overload bounds are under test.
      RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_IP_PER_MINUTE: '0', WS_MAX_SOCKETS_PER_USER: '1000000',
      WS_MAX_MESSAGES_PER_SECOND: '1000000', LIMIT_ADDS_PER_MINUTE: '100000000',
      ...SERVER_ENV,
    },
  });
  children.push(proc);
  let out = '';
  proc.stderr!.on('data', (d) => log(`server: ${String(d).trim().slice(0, 400)}`));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  proc.stdout!.resume();
  return { url, pid: proc.pid! };
}

async function api(url: string, method: string, path: string, auth: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** Events delivered to the subscribers. */
let delivered = 0;
async function subscribe(url: string, token: string, queues: string[]): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < SOCKETS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, SOCKETS - i) }, (_, j) => new Promise<void>((resolve, reject) => {
      const q = queues[(i + j) % queues.length]!;
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/queues/${q}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
      out.push(ws);
      ws.once('error', reject);
      ws.on('message', (d) => {
        const m = JSON.parse(String(d));
        if (m.type === 'hello') return resolve();
        if (typeof m.sequenceNumber === 'number' && m.type !== 'snapshot') delivered++;
      });
    })));
  }
  return out;
}

interface Step extends GenResult {
  deliveredPerSec: number;
  loadBefore: string;
  loadAfter: string;
}

async function step(transport: Transport, url: string, token: string, queues: string[], rate: number): Promise<Step> {
  const loadBefore = load();
  const gen = spawn(process.execPath, [join(ROOT, 'bench/overload.ts'), '--generate'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OVERLOAD_GEN: JSON.stringify({ transport, url, token, queues, rate, seconds: SECONDS } satisfies GenConfig) },
  });
  children.push(gen);
  let out = '';
  gen.stdout!.on('data', (d) => (out += d));
  let deliveredPerSec = 0;
  // The subscribers' count covers the offered window (the generator starts its clock after setup).
  const measure = (async () => {
    await sleep(1000);
    const a = delivered;
    const ta = performance.now();
    await sleep((SECONDS - 1.5) * 1000);
    deliveredPerSec = (delivered - a) / ((performance.now() - ta) / 1000);
  })();
  const code = await new Promise<number | null>((r) => gen.once('exit', r));
  children.splice(children.indexOf(gen), 1);
  await measure;
  const m = /RESULT (.*)/.exec(out);
  if (!m) throw new Error(`generator exited with ${code} and no result: ${out.slice(-500)}`);
  const r = JSON.parse(m[1]!) as GenResult;
  await sleep(1000); // let the backlog of the step drain before the next one
  return { ...r, deliveredPerSec, loadBefore, loadAfter: load() };
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
function row(label: string, s: Step): string {
  const other = Object.entries(s.other).map(([k, v]) => `${k} x${v}`).join(', ');
  return `| ${label} | ${s.offered} | ${f0(s.issuedPerSec)} | ${f0(s.goodput)} | ${f1(s.servedP50)} / ${f1(s.servedP99)} | ${s.refused} | ${f1(s.refusedP50)} / ${f1(s.refusedP99)} / ${f1(s.refusedMax)} | ${s.timeouts}${other ? `; ${other}` : ''} | ${f0(s.deliveredPerSec)} | ${f0(s.maxLagMs)} | ${s.loadBefore} -> ${s.loadAfter} |`;
}
const HEADER = '| step | offered/s | issued/s | goodput/s | served p50 / p99 ms | refused | refused p50 / p99 / max ms | timeouts; other | events delivered/s | generator lag ms | load avg before -> after |\n|---|---|---|---|---|---|---|---|---|---|---|';

async function main(): Promise<void> {
  log(`load average at start: ${load()} (2-core machine shared with other engineers: figures are noisy)`);
  const adminKey = randomBytes(16).toString('hex');
  const server = await startServer(adminKey);
  log(`server ${server.url} pid ${server.pid}${Object.keys(SERVER_ENV).length ? ` env ${JSON.stringify(SERVER_ENV)}` : ''}`);
  const token = (await api(server.url, 'POST', '/auth/tokens', adminKey, { userId: 'bench-owner' })).token as string;
  const queues: string[] = [];
  for (let q = 0; q < QUEUES; q++) {
    const r = await api(server.url, 'POST', '/queues', token, { name: `overload-${q}`, tracks: Array.from({ length: 20 }, (_, i) => `seed-${i}`) });
    queues.push(r.queue.id);
  }
  const subs = await subscribe(server.url, token, queues);
  log(`${subs.length} subscriber sockets on ${queues.length} queues`);

  const report: string[] = [];
  for (const transport of TRANSPORTS) {
    const fixedKnee = envInt(transport === 'http' ? 'OVERLOAD_KNEE_HTTP' : 'OVERLOAD_KNEE_WS', 0, 0);
    const steps: { label: string; s: Step }[] = [];
    let knee = fixedKnee;
    if (!knee) {
      for (let rate = 100; rate <= 12_800; rate *= 2) {
        const s = await step(transport, server.url, token, queues, rate);
        steps.push({ label: `ramp ${rate}`, s });
        log(`${transport} ramp ${rate}/s: goodput ${f0(s.goodput)}/s, p99 ${f1(s.servedP99)} ms, refused ${s.refused}`);
        if (s.goodput < 0.95 * rate) break;
        knee = rate;
      }
      if (!knee) knee = 100;
    }
    for (const mult of [1, 2, 4]) {
      const s = await step(transport, server.url, token, queues, knee * mult);
      steps.push({ label: `${mult}x knee`, s });
      log(`${transport} ${mult}x (${knee * mult}/s): goodput ${f0(s.goodput)}/s, p99 ${f1(s.servedP99)} ms, refused ${s.refused} (p99 ${f1(s.refusedP99)} ms)`);
    }
    const peak = Math.max(...steps.map((x) => x.s.goodput));
    const at4 = steps[steps.length - 1]!.s;
    const measured = steps.filter((x) => x.label.endsWith('knee')).map((x) => x.s);
    const p99 = Math.max(...measured.map((s) => s.servedP99));
    const refusedP99 = Math.max(...measured.map((s) => (s.refused ? s.refusedP99 : 0)));
    report.push(
      `\n### ${transport === 'http' ? 'HTTP writes' : 'socket commands'} (knee ${knee}/s${fixedKnee ? ', given' : ''})\n`,
      HEADER,
      ...steps.map((x) => row(x.label, x.s)),
      '',
      `goodput at 4x = ${f0(at4.goodput)}/s = ${((at4.goodput / peak) * 100).toFixed(0)}% of the peak ${f0(peak)}/s (target >= 90%): ${at4.goodput >= 0.9 * peak ? 'met' : 'NOT met'}`,
      `served p99 at 1x-4x: max ${f1(p99)} ms (target < 100 ms): ${p99 < 100 ? 'met' : 'NOT met'}`,
      `refused p99 at 1x-4x: max ${f1(refusedP99)} ms (target < 5 ms): ${refusedP99 < 5 ? 'met' : 'NOT met'}`,
    );
  }
  const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
  const refusedLines = metrics.split('\n').filter((l) => l.startsWith('requests_refused_total'));
  for (const s of subs) s.terminate();
  await cleanup();
  process.stdout.write(`${report.join('\n')}\n\nserver refusals: ${refusedLines.join('; ') || 'none'}\nload average at end: ${load()}\n`);
  if (CPU_PROF) process.stdout.write(`CPU profile of the server written to ${CPU_PROF}\n`);
}

try {
  await main();
} catch (err) {
  log(String((err as Error).stack ?? err));
  await cleanup();
  process.exit(1);
}
