// bench:core — the queue write and read path (issue 10), in one run, against:
//   ours on SQLite and on PostgreSQL (src/cli.ts serve, via test/helpers/server.ts),
//   the floor peer (bench/peer-floor.ts: one event row + one head row per write, one row per read),
//   the naive peer (bench/peer-crud.ts: the whole queue as one JSON row, rewritten per write),
// at several queue lengths, with the load generator (bench/core-load.ts, autocannon) in a
// process of its own. Prints ops/s, p50/p99, non-2xx, peak RSS of the server, the ratios
// and the load average around every phase. Run by hand (see bench/README.md):
//
//   npm run bench:core
//   BENCH_SECONDS=2 BENCH_LENGTHS=20,1000 BENCH_TARGETS=sqlite,floor npm run bench:core
//   BENCH_PHASES=writes-default,read-default,writes,reads ... (only these phases; the floor's are writes, reads)
//   BENCH_NODE_ARGS='--require ./probe.cjs' ... (more flags for the server processes)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadPlan, LoadQueue, LoadResult, ReadKind } from './core-load.ts';

process.env.QS_TEST_PG ??= process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const { startServerOn, client, mintToken, SERVER_NODE_ARGS } = await import('../test/helpers/server.ts');

// ---------------------------------------------------------------- knobs
type TargetKind = 'sqlite' | 'postgres' | 'floor' | 'naive';
const ALL_TARGETS: TargetKind[] = ['sqlite', 'postgres', 'floor', 'naive'];

function intList(name: string, fallback: string, min: number, max: number): number[] {
  const raw = process.env[name] || fallback;
  const out = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    throw new Error(`${name} must be a comma list of integers in ${min}..${max}, got "${raw}"`);
  }
  return out;
}
const seconds = intList('BENCH_SECONDS', '10', 1, 600)[0]!;
/** Unrecorded writes, then reads, on every fresh server before its first write and first read phase. */
const warmup = intList('BENCH_WARMUP', '2', 0, 60)[0]!;
const connections = intList('BENCH_CONNECTIONS', '32', 1, 1000)[0]!;
const lengths = intList('BENCH_LENGTHS', '20,1000,9000', 1, 9_500);
const targets = (process.env.BENCH_TARGETS || ALL_TARGETS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as TargetKind[];
for (const t of targets) if (!ALL_TARGETS.includes(t)) throw new Error(`BENCH_TARGETS: unknown target "${t}" (use ${ALL_TARGETS.join(',')})`);
/** Rounds of every phase on every server, interleaved (see the run below); 1 measures each server once, in turn. */
const rounds = intList('BENCH_ROUNDS', '1', 1, 20)[0]!;
/** Phase keys to run (e.g. writes-default,read-default; the floor's are writes,reads); all when unset. */
const onlyPhases = process.env.BENCH_PHASES ? new Set(process.env.BENCH_PHASES.split(',').map((s) => s.trim())) : null;
/** Queues per length: 50 small ones, fewer long ones (setup time); BENCH_QUEUES overrides, one per length. */
const queueCounts: number[] = process.env.BENCH_QUEUES ? intList('BENCH_QUEUES', '', 1, 1000) : lengths.map((n) => (n <= 100 ? 50 : n <= 2000 ? 20 : 8));
if (queueCounts.length !== lengths.length) throw new Error('BENCH_QUEUES needs one count per BENCH_LENGTHS entry');
const CHUNK = 500; // tracks per POST at setup (the API's limit per add)
const SETUP_CONCURRENCY = 4;

// ---------------------------------------------------------------- /proc readings
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* keep 100 */
}
/** user + system CPU seconds of a process. */
function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck; // fields 14 and 15 of stat
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- cleanup on any exit
const cleanups = new Set<() => Promise<unknown>>();
let loader: ChildProcess | null = null;
let stopping = false;
async function cleanupAll() {
  loader?.kill('SIGKILL');
  for (const c of [...cleanups].reverse()) await c().catch(() => {});
  cleanups.clear();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    stopping = true;
    process.stderr.write(`\n${sig}: stopping servers and dropping bench databases...\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}
const workDir = mkdtempSync(join(tmpdir(), 'qs-bench-core-'));
cleanups.add(async () => rmSync(workDir, { recursive: true, force: true }));

// ---------------------------------------------------------------- targets
interface Phase {
  key: string;
  label: string;
  kind: 'writes' | 'reads';
  prefer?: string;
  read?: ReadKind;
  /** The floor phase this one is compared to. */
  floorKey: 'writes' | 'reads';
}
const OUR_PHASES: Phase[] = [
  { key: 'writes-minimal', label: 'writes, Prefer: return=minimal', kind: 'writes', prefer: 'return=minimal', floorKey: 'writes' },
  { key: 'writes-default', label: 'writes, default answer', kind: 'writes', floorKey: 'writes' },
  { key: 'read-default', label: 'GET /queues/{id}', kind: 'reads', read: 'default', floorKey: 'reads' },
  { key: 'read-around', label: 'GET ?around=current&limit=20', kind: 'reads', read: 'around', floorKey: 'reads' },
  { key: 'read-events', label: 'GET /events?since=v-20&limit=50', kind: 'reads', read: 'events', floorKey: 'reads' },
];
const FLOOR_PHASES: Phase[] = [
  { key: 'writes', label: 'writes (each = 1 append)', kind: 'writes', floorKey: 'writes' },
  { key: 'reads', label: 'reads (each = 1 head row)', kind: 'reads', read: 'default', floorKey: 'reads' },
];
const NAIVE_PHASES: Phase[] = [
  { key: 'writes', label: 'writes (rewrite JSON row)', kind: 'writes', floorKey: 'writes' },
  { key: 'reads', label: 'reads (GET whole row)', kind: 'reads', read: 'default', floorKey: 'reads' },
];
const TARGET_LABEL: Record<TargetKind, string> = {
  sqlite: 'ours (SQLite)',
  postgres: 'ours (PostgreSQL)',
  floor: 'floor peer',
  naive: 'naive peer',
};

interface Running {
  url: string;
  pid: number;
  phases: Phase[];
  /** Authorization header value for the owner of queue `name`, '' when the target has no auth. */
  auth(name: string): Promise<string>;
  stop(): Promise<void>;
}

async function startOurs(kind: 'sqlite' | 'postgres'): Promise<Running> {
  // BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile there when it stops (open it in
  // Chrome DevTools, or summarise it by self time).
  // The flags `npm start` runs the server with, and the profiler's when asked.
  const nodeArgs = [
    ...SERVER_NODE_ARGS,
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
    // Extra flags for the server process (V8 flags, a --require of a probe), space-separated.
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean) : []),
  ];
  const s = await startServerOn(kind, { env: { LOG_LEVEL: 'error' }, nodeArgs });
  const stop = async () => {
    cleanups.delete(stop);
    await s.cleanup();
  };
  cleanups.add(stop);
  return { url: s.url, pid: s.proc.pid!, phases: OUR_PHASES, auth: async (name) => `Bearer ${await mintToken(s, name)}`, stop };
}

async function startPeer(kind: 'floor' | 'naive'): Promise<Running> {
  const dir = mkdtempSync(join(workDir, `${kind}-`));
  const file = join(import.meta.dirname, kind === 'floor' ? 'peer-floor.ts' : 'peer-crud.ts');
  // An on-disk database, so WAL and synchronous=NORMAL apply as they do for ours.
  const proc = spawn(process.execPath, [file, join(dir, 'peer.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    cleanups.delete(stop);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${kind} peer did not start in 30 s`)), 30_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${kind} peer exited before listening`));
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  return { url, pid: proc.pid!, phases: kind === 'floor' ? FLOOR_PHASES : NAIVE_PHASES, auth: async () => '', stop };
}

const start = (t: TargetKind): Promise<Running> => (t === 'sqlite' || t === 'postgres' ? startOurs(t) : startPeer(t));

// ---------------------------------------------------------------- setup: queues of a given length
/** Item ids of the tracks of `chunk` from a create/add answer: item_added events, else the queue's items. */
function idsFromAnswer(body: any, chunk: string[]): string[] {
  const wanted = new Set(chunk);
  const events: any[] = Array.isArray(body?.events) ? body.events : [];
  const fromEvents = events.filter((e) => e?.type === 'item_added' && wanted.has(e.data?.trackId)).map((e) => String(e.data.itemId));
  if (fromEvents.length > 0) return fromEvents;
  const items: any[] = body?.queue?.items ?? body?.items ?? [];
  return items.filter((it) => wanted.has(it?.trackId)).map((it) => String(it.itemId));
}
const versionOf = (res: { headers: Headers; body: any }): number => {
  const etag = /(\d+)/.exec(res.headers.get('etag') ?? '');
  return etag ? Number(etag[1]) : Number(res.body?.version ?? res.body?.queue?.version ?? 0);
};

async function createQueues(t: Running, tag: string, length: number, count: number): Promise<LoadQueue[]> {
  const out: LoadQueue[] = new Array(count);
  const t0 = Date.now();
  let done = 0;
  let nextIndex = 0;
  const minimal = { prefer: 'return=minimal' };
  const one = async (i: number) => {
    const auth = await t.auth(`bench-${length}-${i}`);
    const call = client(t.url);
    const headers = auth ? { ...minimal, authorization: auth } : minimal;
    const tracks = Array.from({ length }, (_, k) => `s${i}-${k}`);
    const first = tracks.slice(0, CHUNK);
    // The create is answered in full (a minimal answer need not name the queue); the adds minimally.
    let res = await call('POST', '/queues', { name: `bench ${length} #${i}`, tracks: first }, auth ? { authorization: auth } : {});
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST /queues: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    const id: string | undefined = res.body?.queue?.id ?? res.body?.events?.[0]?.queueId;
    if (typeof id !== 'string') throw new Error(`POST /queues: no queue id in the answer ${JSON.stringify(res.body).slice(0, 300)}`);
    const ids = idsFromAnswer(res.body, first);
    for (let k = CHUNK; k < length; k += CHUNK) {
      const chunk = tracks.slice(k, k + CHUNK);
      res = await call('POST', `/queues/${id}/tracks`, { tracks: chunk }, headers);
      if (res.status !== 200) throw new Error(`POST /queues/${id}/tracks: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      ids.push(...idsFromAnswer(res.body, chunk));
    }
    if (ids.length !== length) process.stderr.write(`  warning: queue ${id}: learnt ${ids.length} item ids of ${length} from the answers\n`);
    out[i] = { id, auth, ids, repeat: 'off', version: versionOf(res) };
    done++;
    if (length >= 5000 || done % 10 === 0 || done === count) {
      process.stderr.write(`  [${tag}] queue ${done}/${count} ready (${length} items, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(SETUP_CONCURRENCY, count) }, async () => {
      while (nextIndex < count) await one(nextIndex++);
    }),
  );
  return out;
}

/** After the writes: every queue's version (for events since N) and item count as the server sees it. */
async function refresh(t: Running, queues: LoadQueue[]): Promise<{ min: number; max: number } | null> {
  let min = Infinity;
  let max = -Infinity;
  for (const q of queues) {
    const res = await client(t.url)('GET', `/queues/${q.id}`, undefined, q.auth ? { authorization: q.auth } : {});
    if (res.status !== 200) throw new Error(`GET /queues/${q.id}: ${res.status}`);
    q.version = versionOf(res);
    const n = res.body?.itemCount ?? res.body?.items?.length ?? res.body?.queue?.items?.length;
    if (typeof n === 'number') {
      min = Math.min(min, n);
      max = Math.max(max, n);
    }
  }
  return Number.isFinite(min) ? { min, max } : null;
}

// ---------------------------------------------------------------- one phase = one load-generator process
let phaseNo = 0;
async function runLoader(plan: LoadPlan, serverPid: number): Promise<{ result: LoadResult; queues: LoadQueue[] | null; serverCpuPct: number }> {
  const n = ++phaseNo;
  const planPath = join(workDir, `plan-${n}.json`);
  const statePath = join(workDir, `state-${n}.json`);
  writeFileSync(planPath, JSON.stringify(plan));
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'core-load.ts'), planPath, statePath], { stdio: ['ignore', 'pipe', 'inherit'] });
  loader = proc;
  let stdout = '';
  let cpu0 = NaN;
  let t0 = 0;
  proc.stdout!.on('data', (d) => {
    stdout += d;
    if (!t0 && stdout.includes('started\n')) {
      cpu0 = cpuSeconds(serverPid);
      t0 = Date.now();
    }
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), (plan.seconds + 120) * 1000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  const serverCpuPct = ((cpuSeconds(serverPid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
  clearTimeout(timer);
  loader = null;
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`load generator exited with ${code}: ${stdout.slice(-500)}`);
  const result = JSON.parse(line) as LoadResult;
  let queues: LoadQueue[] | null = null;
  if (plan.phase === 'writes') queues = JSON.parse(readFileSync(statePath, 'utf8')) as LoadQueue[];
  rmSync(planPath, { force: true });
  rmSync(statePath, { force: true });
  return { result, queues, serverCpuPct };
}

// ---------------------------------------------------------------- the run
/** The group commit's counters (store_commits_total, store_commit_writes_total) from /metrics; null when not there. */
async function commitCounts(url: string): Promise<{ transactions: number; writes: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const total = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    const out = { transactions: total('store_commits_total'), writes: total('store_commit_writes_total') };
    return Number.isFinite(out.transactions) && Number.isFinite(out.writes) ? out : null;
  } catch {
    return null;
  }
}

interface Row {
  target: TargetKind;
  length: number;
  /** 1 unless BENCH_ROUNDS asks for more. */
  round: number;
  queues: number;
  phase: Phase;
  r: LoadResult;
  rssMb: number;
  serverCpuPct: number;
  loadBefore: string;
  loadAfter: string;
}
const rows: Row[] = [];
const notMeasured: string[] = [];
const lengthChecks: string[] = [];

const loadStart = loadavg();
const startedAt = new Date();
process.stderr.write(
  `bench:core: targets ${targets.join(',')}, lengths ${lengths.join(',')} (queues ${queueCounts.join(',')}), ${seconds} s per phase, ${connections} connections; load average ${loadStart}\n`,
);

/** One server at one queue length, set up once and measured in every round. */
interface Slot {
  target: TargetKind;
  length: number;
  count: number;
  tag: string;
  t: Running;
  queues: LoadQueue[];
  /** Writes ran since the harness last read every queue's version and length. */
  wrote: boolean;
  warmed: Set<string>;
}

async function setUp(target: TargetKind, length: number, count: number): Promise<Slot | null> {
  const tag = `${target} ${length}`;
  let t: Running;
  try {
    process.stderr.write(`[${tag}] starting ${TARGET_LABEL[target]}...\n`);
    t = await start(target);
  } catch (err) {
    notMeasured.push(`${TARGET_LABEL[target]} at ${length} items: could not start (${String((err as Error).message).split('\n')[0]})`);
    process.stderr.write(`[${tag}] not measured: ${(err as Error).message}\n`);
    return null;
  }
  try {
    process.stderr.write(`[${tag}] creating ${count} queues of ${length} items (chunks of ${CHUNK})...\n`);
    const queues = await createQueues(t, tag, length, count);
    return { target, length, count, tag, t, queues, wrote: true, warmed: new Set() };
  } catch (err) {
    notMeasured.push(`${TARGET_LABEL[target]} at ${length} items: failed (${String((err as Error).message).split('\n')[0]})`);
    process.stderr.write(`[${tag}] failed: ${(err as Error).stack ?? err}\n`);
    await t.stop();
    return null;
  }
}

/** The slot's phases (those asked for), each once: one round of this server. */
async function measure(slot: Slot, round: number): Promise<void> {
  const { t, target, length, tag } = slot;
  for (const phase of t.phases) {
    if (stopping) break;
    if (onlyPhases && !onlyPhases.has(phase.key)) continue;
    if (phase.kind === 'reads' && slot.wrote) {
      const seen = await refresh(t, slot.queues);
      const fifo = slot.queues.map((q) => q.ids.length);
      if (round === 1)
        lengthChecks.push(
          `${TARGET_LABEL[target].padEnd(18)} ${String(length).padStart(5)} items: after the writes the server reports ${seen ? `${seen.min}-${seen.max}` : 'n/a'} items per queue; the harness knows ${Math.min(...fifo)}-${Math.max(...fifo)} item ids per queue`,
        );
      slot.wrote = false;
    }
    const planFor = (p: Phase, secs: number): LoadPlan => ({
      url: t.url,
      connections,
      seconds: secs,
      phase: p.kind,
      prefer: p.prefer,
      read: p.read,
      trackBase: phaseNo * 10_000_000,
      queues: p.kind === 'reads' ? slot.queues.map((q) => ({ ...q, ids: [] })) : slot.queues,
    });
    if (warmup > 0 && !slot.warmed.has(phase.kind)) {
      // JIT and caches: so the first phase of a kind is not the one that pays for them.
      process.stderr.write(
        `[${tag}] warm-up, ${phase.kind} (${phase.kind === 'writes' ? 'default answer' : 'GET /queues/{id}'}): ${warmup} s, not recorded...\n`,
      );
      const warm = await runLoader(planFor({ ...phase, prefer: undefined, read: 'default' }, warmup), t.pid);
      if (warm.queues) slot.queues = warm.queues;
      slot.warmed.add(phase.kind);
    }
    const loadBefore = loadavg();
    const at = rounds > 1 ? `round ${round}/${rounds}, ` : '';
    process.stderr.write(`[${tag}] ${at}${phase.label}: ${seconds} s, ${connections} connections (load ${loadBefore})...\n`);
    const ours = phase.kind === 'writes' && target !== 'floor' && target !== 'naive';
    const commits0 = ours ? await commitCounts(t.url) : null;
    const { result, queues: after, serverCpuPct } = await runLoader(planFor(phase, seconds), t.pid);
    const commits1 = commits0 ? await commitCounts(t.url) : null;
    if (after) {
      slot.queues = after;
      slot.wrote = true;
    }
    const row: Row = { target, length, round, queues: slot.count, phase, r: result, rssMb: peakRssMb(t.pid), serverCpuPct, loadBefore, loadAfter: loadavg() };
    rows.push(row);
    process.stderr.write(
      `[${tag}] ${at}${phase.label}: ${result.opsPerSec.toFixed(0)} ops/s, p50 ${result.p50} ms, p99 ${result.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}${
        commits0 && commits1
          ? `, ${((commits1.writes - commits0.writes) / Math.max(1, commits1.transactions - commits0.transactions)).toFixed(1)} appends per transaction`
          : ''
      } (load ${row.loadAfter})\n`,
    );
  }
}

try {
  if (rounds === 1) {
    // One server at a time: each target and length set up, measured and stopped in turn.
    for (const target of targets) {
      for (const [li, length] of lengths.entries()) {
        if (stopping) break;
        const slot = await setUp(target, length, queueCounts[li]!);
        if (!slot) continue;
        try {
          if (!stopping) await measure(slot, 1);
        } catch (err) {
          notMeasured.push(`${TARGET_LABEL[target]} at ${length} items: failed (${String((err as Error).message).split('\n')[0]})`);
          process.stderr.write(`[${slot.tag}] failed: ${(err as Error).stack ?? err}\n`);
        } finally {
          await slot.t.stop();
        }
      }
    }
  } else {
    // Rounds: every server is set up first, then each round measures every one of them in
    // turn, the order reversed every other round (A B, B A, ...). This machine's speed drifts
    // by up to a quarter over minutes, so a ratio is taken between phases of the same round,
    // measured within a minute or two of each other, and the report gives every round's.
    const slots: Slot[] = [];
    for (const target of targets)
      for (const [li, length] of lengths.entries()) {
        if (stopping) break;
        const slot = await setUp(target, length, queueCounts[li]!);
        if (slot) slots.push(slot);
      }
    const failed = new Set<Slot>();
    for (let round = 1; round <= rounds && !stopping; round++) {
      const order = round % 2 === 1 ? slots : [...slots].reverse();
      for (const slot of order) {
        if (stopping || failed.has(slot)) continue;
        try {
          await measure(slot, round);
        } catch (err) {
          failed.add(slot);
          notMeasured.push(
            `${TARGET_LABEL[slot.target]} at ${slot.length} items, from round ${round}: failed (${String((err as Error).message).split('\n')[0]})`,
          );
          process.stderr.write(`[${slot.tag}] failed: ${(err as Error).stack ?? err}\n`);
        }
      }
    }
    for (const slot of slots) await slot.t.stop();
  }
} finally {
  await cleanupAll();
}
const loadEnd = loadavg();

// ---------------------------------------------------------------- report
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
function table(header: string[], body: string[][], rightFrom = 1): string {
  const w = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < rightFrom ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}
const find = (target: TargetKind, length: number, key: string, round = 1) =>
  rows.find((x) => x.target === target && x.length === length && x.phase.key === key && x.round === round);
const minLength = Math.min(...lengths);
const maxLength = Math.max(...lengths);

console.log(`\nbench:core — ${startedAt.toISOString()}, node ${process.version}, ${cpus().length} CPUs`);
console.log(
  `${seconds} s per phase, ${connections} connections, load generator (autocannon) in its own process; a fresh server per target and length, warmed up ${warmup} s with writes and ${warmup} s with reads (not recorded)${rounds > 1 ? `; ${rounds} rounds: every server set up first, then each round measures them all in turn, the order reversed every other round` : ''}.`,
);
console.log(
  `Queues per length: ${lengths.map((n, i) => `${queueCounts[i]} x ${n} items`).join(', ')}${lengths.some((_n, i) => queueCounts[i] !== queueCounts[0]) ? ' (fewer long queues: more connections share a queue, so they contend more)' : ''}.`,
);
console.log(
  'Writes: each connection cycles add 1 track, remove the oldest item the bench added to that queue, move a newer one to a random position, next, repeat all/off (20% each; the length stays put).',
);
console.log(
  'Reads: queues round robin. Peers: the floor maps every write to one append and every read to one row; the naive peer has the same write routes and answers every read with the whole queue.',
);
console.log(`Load average (1/5/15 min): ${loadStart} at the start, ${loadEnd} at the end (${cpus().length} CPUs).\n`);

const header = [
  'target',
  'items',
  'queues',
  'phase',
  ...(rounds > 1 ? ['round'] : []),
  'ops/s',
  'p50 ms',
  'p99 ms',
  'KB/answer',
  'non-2xx',
  'errors',
  'peak RSS MB',
  'server CPU %',
  'CPU µs/op',
  'loadgen CPU %',
  'x floor',
  'x floor CPU',
  `x ${minLength} items`,
  'load before -> after',
];
/** Server CPU per answered operation (µs): what a request costs, whatever else shares the machine. */
const cpuPerOp = (x: Row) => (x.serverCpuPct / 100 / x.r.opsPerSec) * 1e6;
const body = rows.map((x) => {
  const floor = find('floor', x.length, x.phase.floorKey, x.round);
  const small = find(x.target, minLength, x.phase.key, x.round);
  return [
    TARGET_LABEL[x.target],
    String(x.length),
    String(x.queues),
    x.phase.label,
    ...(rounds > 1 ? [String(x.round)] : []),
    fmt(x.r.opsPerSec),
    fmt(x.r.p50, 1),
    fmt(x.r.p99, 1),
    fmt(x.r.bytesPerAnswer / 1024, 1),
    String(x.r.non2xx),
    String(x.r.errors),
    fmt(x.rssMb),
    fmt(x.serverCpuPct),
    fmt(cpuPerOp(x)),
    fmt(x.r.generatorCpuPct),
    floor && x.target !== 'floor' ? fmt(x.r.opsPerSec / floor.r.opsPerSec, 2) : '-',
    floor && x.target !== 'floor' ? fmt(cpuPerOp(floor) / cpuPerOp(x), 2) : '-',
    small && x.length !== minLength ? fmt(x.r.opsPerSec / small.r.opsPerSec, 2) : '-',
    `${x.loadBefore.split(' ')[0]} -> ${x.loadAfter.split(' ')[0]}`,
  ];
});
console.log(table(header, body, 4));
console.log(
  `\nx floor: ops/s over the floor peer's at the same length (writes vs its writes, reads vs its reads). x ${minLength} items: ops/s over the same target and phase at ${minLength} items${rounds > 1 ? '; both in the same round' : ''}.`,
);
console.log("KB/answer: what the load generator read per answer, headers included (FLOOR_PAD_BYTES=N pads the floor's answers to compare like with like).");
console.log('peak RSS: VmHWM of the server process (ours: the node process; the PostgreSQL server is not counted), since it started for this length.');
console.log(
  'CPU: % of one core during the load (server: its process; loadgen: the autocannon process). ops/s counts 2xx answers only. Load average: the 1-minute figure before and after the phase.',
);
console.log(
  "CPU µs/op: server CPU per answered operation. x floor CPU: the floor peer's CPU per operation over ours (1.0 = as cheap as the floor); unlike ops/s it does not depend on how much of the machine the server got.",
);

if (lengthChecks.length) console.log(`\nQueue lengths after the write phases:\n${lengthChecks.map((l) => `  ${l}`).join('\n')}`);

const problems = rows.filter((x) => x.r.non2xx || x.r.errors || x.r.idMisses || Object.keys(x.r.sentByOp).some((k) => k.includes('substituted')));
if (problems.length) {
  console.log('\nNon-2xx answers, errors and substitutions:');
  for (const x of problems) {
    const subs = Object.entries(x.r.sentByOp)
      .filter(([k]) => k.includes('substituted'))
      .map(([k, v]) => `${k}: ${v}`);
    const failed = Object.entries(x.r.failedByOp).map(([k, v]) => `${k}: ${v}`);
    console.log(
      `  ${TARGET_LABEL[x.target]} ${x.length} items, ${x.phase.label}: ${[...failed, ...subs, x.r.errors ? `connection errors ${x.r.errors} (timeouts ${x.r.timeouts})` : '', x.r.idMisses ? `adds without a recognisable item id: ${x.r.idMisses}` : ''].filter(Boolean).join('; ')}`,
    );
    if (x.r.sampleFailure) console.log(`    first: ${x.r.sampleFailure.replace(/\s+/g, ' ').slice(0, 240)}`);
  }
}
if (notMeasured.length) console.log(`\nNot measured:\n${notMeasured.map((l) => `  ${l}`).join('\n')}`);

// The issues' targets, where this run measured what they need: a ratio is taken within a
// round, and with several rounds the check reads the median of the rounds' values.
const roundsRun = [...new Set(rows.map((x) => x.round))].sort((a, b) => a - b);
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** One figure per round where the round measured it. */
const perRound = (f: (round: number) => number | undefined) => roundsRun.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
const shown = (v: number[], digits: number, unit = '') =>
  v.length > 1 ? `${fmt(median(v), digits)}${unit} (median of rounds: ${v.map((x) => fmt(x, digits)).join(', ')})` : `${fmt(v[0]!, digits)}${unit}`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const ops = (t: TargetKind, n: number, key: string) => (r: number) => find(t, n, key, r)?.r.opsPerSec;
const p99 = (t: TargetKind, n: number, key: string) => (r: number) => find(t, n, key, r)?.r.p99;
const ratio = (a: (r: number) => number | undefined, b: (r: number) => number | undefined) => (r: number) => {
  const x = a(r);
  const y = b(r);
  return x === undefined || y === undefined ? undefined : x / y;
};
/** A target: the figure per round, its median against the bar; nothing when the run did not measure it. */
function target(list: string[], label: string, v: number[], digits: number, unit: string, bar: string, ok: (m: number) => boolean): void {
  if (v.length) list.push(`${label}: ${shown(v, digits, unit)} (${bar}): ${verdict(ok(median(v)))}`);
}
const atLength = maxLength < 9000 ? '; the issue sets it at 9,000 items' : '';
const checks: string[] = [];
const checks21: string[] = [];
for (const key of ['writes-minimal', 'writes-default']) {
  const label = OUR_PHASES.find((p) => p.key === key)!.label;
  const small = ops('sqlite', minLength, key);
  if (minLength === 20) {
    target(checks, `SQLite ${label}, 20 items`, perRound(small), 0, '/s', '>= 5,000/s', (m) => m >= 5000);
    target(checks, `SQLite ${label}, 20 items, p99`, perRound(p99('sqlite', 20, key)), 1, ' ms', '< 20 ms', (m) => m < 20);
  }
  const floorRatio = perRound(ratio(small, ops('floor', minLength, 'writes')));
  target(checks, `SQLite ${label}, ${minLength} items, x the floor's writes`, floorRatio, 2, 'x', '>= 0.6x', (m) => m >= 0.6);
  if (key === 'writes-default') {
    target(checks21, `SQLite ${label}, ${minLength} items, x the floor's writes`, floorRatio, 2, 'x', '>= 0.7x', (m) => m >= 0.7);
    target(checks21, `SQLite ${label}, ${minLength} items, p99`, perRound(p99('sqlite', minLength, key)), 1, ' ms', '< 20 ms', (m) => m < 20);
  }
  if (maxLength !== minLength) {
    const long = perRound(ratio(ops('sqlite', maxLength, key), small));
    target(checks, `SQLite ${label}, ${maxLength} items, x the ${minLength}-item rate`, long, 2, 'x', `>= 0.8x${atLength}`, (m) => m >= 0.8);
    if (key === 'writes-minimal') {
      target(checks21, `SQLite ${label}, ${maxLength} items, x the ${minLength}-item rate`, long, 2, 'x', `>= 0.8x${atLength}`, (m) => m >= 0.8);
      const p99s = perRound(ratio(p99('sqlite', maxLength, key), p99('sqlite', minLength, key)));
      target(checks21, `SQLite ${label}, ${maxLength} items, p99 x the ${minLength}-item p99`, p99s, 2, 'x', '< 2x', (m) => m < 2);
    }
  }
  const pg = perRound(ops('postgres', minLength, key));
  target(checks, `PostgreSQL ${label}, ${minLength} items`, pg, 0, '/s', '>= 2,500/s', (m) => m >= 2500);
  target(checks21, `PostgreSQL ${label}, ${minLength} items`, pg, 0, '/s', '>= 2,500/s', (m) => m >= 2500);
}
const get20 = ops('sqlite', minLength, 'read-default');
if (minLength === 20) target(checks, 'SQLite GET /queues/{id}, 20 items', perRound(get20), 0, '/s', '>= 15,000/s', (m) => m >= 15000);
target(
  checks21,
  `SQLite GET /queues/{id}, ${minLength} items, x the floor's reads`,
  perRound(ratio(get20, ops('floor', minLength, 'reads'))),
  2,
  'x',
  '>= 0.5x',
  (m) => m >= 0.5,
);
for (const key of ['read-default', 'read-around']) {
  if (maxLength === minLength) continue;
  const label = OUR_PHASES.find((p) => p.key === key)!.label;
  target(
    checks,
    `SQLite ${label}, ${maxLength} items, x the default GET at ${minLength} items`,
    perRound(ratio(ops('sqlite', maxLength, key), get20)),
    2,
    'x',
    `>= 0.8x${atLength}`,
    (m) => m >= 0.8,
  );
}
const short = seconds < 10 ? `, short ${seconds} s phases` : '';
if (checks.length) console.log(`\nIssue 10 targets (this run${short}; re-check on a quiet machine):\n${checks.map((c) => `  ${c}`).join('\n')}`);
if (checks21.length) console.log(`\nIssue 21 targets (this run${short}; ratios within a round):\n${checks21.map((c) => `  ${c}`).join('\n')}`);
const busy = [loadStart, loadEnd].some((l) => Number(l.split(' ')[0]) > cpus().length * 0.5);
if (busy)
  console.log(
    `\nNote: the load average was above ${cpus().length * 0.5} at the start or the end: other work shared the CPUs, read the figures as lower bounds.`,
  );
