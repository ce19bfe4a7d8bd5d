// bench:core — mixed queue operations over HTTP with many concurrent clients,
// against our server on SQLite and on Postgres, and against a naive peer in the
// same run. Prints ops/s, p50/p99 latency and the server's peak RSS, with ratios.
// Run by hand: `npm run bench:core` (optional: BENCH_SECONDS, BENCH_CONNECTIONS).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';

process.env.QS_TEST_PG ??= process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const { startServerOn, client, mintToken } = await import('../test/helpers/server.ts');

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const USERS = 50;

interface Target {
  name: string;
  url: string;
  pid: number;
  /** [queueId, authorization header] per simulated user. */
  queues: [string, string][];
  stop(): Promise<void>;
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function ours(kind: 'sqlite' | 'postgres'): Promise<Target> {
  const s = await startServerOn(kind, { env: { LOG_LEVEL: 'error' } });
  const queues: [string, string][] = [];
  for (let u = 0; u < USERS; u++) {
    const token = await mintToken(s, `bench-user-${u}`);
    const res = await client(s.url, token)('POST', '/queues', { name: `q${u}`, tracks: Array.from({ length: 20 }, (_, i) => `track-${i}`) });
    queues.push([res.body.queue.id, `Bearer ${token}`]);
  }
  return { name: `ours (${kind})`, url: s.url, pid: s.proc.pid!, queues, stop: () => s.cleanup() };
}

async function peer(): Promise<Target> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'peer-crud.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => proc.stdout!.on('data', (d) => { const m = /listening on (\S+)/.exec(String(d)); if (m) resolve(m[1]!); }));
  const queues: [string, string][] = [];
  for (let u = 0; u < USERS; u++) {
    const res = await client(url)('POST', '/queues', { name: `q${u}`, tracks: Array.from({ length: 20 }, (_, i) => `track-${i}`) });
    queues.push([res.body.queue.id, '']);
  }
  return { name: 'peer: naive JSON-row CRUD (SQLite)', url, pid: proc.pid!, queues, stop: async () => { proc.kill('SIGTERM'); } };
}

interface Result { ops: number; p50: number; p99: number; errors: number }

async function run(t: Target, kind: 'mutations' | 'reads'): Promise<Result> {
  let n = 0;
  const r = await autocannon({
    url: t.url,
    connections,
    duration: seconds,
    requests: [{
      setupRequest: (req: any) => {
        const [id, auth] = t.queues[(n++ * 7919) % t.queues.length]!;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (auth) headers.authorization = auth;
        if (kind === 'reads') return { ...req, method: 'GET', path: `/queues/${id}`, headers: { authorization: auth } };
        // The mix keeps queues at a steady size: adds are balanced by clearing what is upcoming.
        const pick = n % 20;
        if (pick < 10) return { ...req, method: 'POST', path: `/queues/${id}/tracks`, headers, body: JSON.stringify({ tracks: [`t-${n}`] }) };
        if (pick < 16) return { ...req, method: 'POST', path: `/queues/${id}/next`, headers, body: '{}' };
        if (pick < 18) return { ...req, method: 'PUT', path: `/queues/${id}/repeat`, headers, body: JSON.stringify({ repeat: n % 40 < 20 ? 'all' : 'off' }) };
        return { ...req, method: 'POST', path: `/queues/${id}/clear`, headers, body: JSON.stringify({ upcomingOnly: true }) };
      },
    }],
  } as any);
  return { ops: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.non2xx + r.errors };
}

const rows: { target: string; phase: string; r: Result; rss: number }[] = [];
for (const make of [() => ours('sqlite'), () => ours('postgres'), peer]) {
  const t = await make();
  for (const phase of ['mutations', 'reads'] as const) {
    process.stderr.write(`${t.name}: ${phase} for ${seconds} s with ${connections} connections...\n`);
    const r = await run(t, phase);
    rows.push({ target: t.name, phase, r, rss: peakRssMb(t.pid) });
  }
  await t.stop();
}

const peerRow = (phase: string) => rows.find((x) => x.target.startsWith('peer') && x.phase === phase)!;
console.log(`\nbench:core  ${seconds} s per phase, ${connections} connections, ${USERS} queues; mutations = 50% add track, 30% next, 10% repeat, 10% clear upcoming`);
console.log('target                               phase      ops/s    p50 ms  p99 ms  non-2xx  peak RSS MB  ops/s vs peer');
for (const x of rows) {
  const ratio = x.r.ops / peerRow(x.phase).r.ops;
  console.log(
    `${x.target.padEnd(37)}${x.phase.padEnd(11)}${x.r.ops.toFixed(0).padStart(7)}${x.r.p50.toFixed(1).padStart(9)}${x.r.p99.toFixed(1).padStart(8)}${String(x.r.errors).padStart(9)}${x.rss.toFixed(0).padStart(13)}${ratio.toFixed(2).padStart(15)}`,
  );
}
