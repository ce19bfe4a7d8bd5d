// Real server processes for end-to-end tests: `node src/cli.ts serve`
// on a free port, with its own data dir (SQLite) or its own database (Postgres).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTempDatabase, pgSkipReason, type TempDatabase } from './pg.ts';

const root = new URL('../..', import.meta.url).pathname;

export type StoreKind = 'sqlite' | 'postgres';

/** The stores end-to-end suites run against, with the skip reason when one is not available. */
export const storeKinds: { kind: StoreKind; skip: string | false }[] = [
  { kind: 'sqlite', skip: false },
  { kind: 'postgres', skip: pgSkipReason },
];

/**
 * Node's flags for a server, as `npm start` runs it (package.json): a young generation of
 * at most 16 MB per semi-space (V8's default grew it to 128 MB on this machine, most of the
 * recommender's RSS after the build; 8 MB made long queues pay twice for their scavenges,
 * issue 21: bench/README), and an old generation of at most 1 GB, which also caps how far
 * V8 lets the heap grow past what is live before a full collection (up to 4x without it;
 * issue 24), and no allocation-site pretenuring: V8 had learnt to allocate queue states
 * straight in the old generation, where a dead state kept its young items array alive
 * through the next scavenges (issue 21: 9,000-item writes spent a third of their CPU on
 * it; bench/README). The flags only work at start.
 */
export const SERVER_NODE_ARGS = ['--max-semi-space-size=16', '--max-old-space-size=1024', '--no-allocation-site-pretenuring'];

/**
 * The environment `npm start` gives node (package.json): glibc's malloc maps every block of
 * 128 KB or more on its own and unmaps it when freed (issue 24: with its default, a
 * threshold that rises as large blocks are freed, the recommender's build left 50-60 MB of
 * freed typed arrays resident in the process's heap). Ignored by other C libraries.
 */
export const SERVER_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: '131072' };

export interface ServerOptions {
  env?: Record<string, string>;
  dataDir?: string;
  databaseUrl?: string;
  adminKey?: string;
  /** Resolve only once /readyz answers 200 (the recommender is built); default true. */
  waitReady?: boolean;
  /** Flags for node itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses); default SERVER_NODE_ARGS. */
  nodeArgs?: string[];
  /** Another checkout of the service to run (bench/auth.ts runs the commit before a change as its peer); default this one. */
  root?: string;
  /**
   * 'bin': start `bin/queue-service.js serve`, as `npm start` does, with Node's compile cache
   * on (see warmCompileCache); default 'src': `src/cli.ts serve`, through Node's type stripper.
   */
  entry?: 'src' | 'bin';
}

export interface RunningServer {
  url: string;
  adminKey: string;
  dataDir: string;
  proc: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to clean up. */
  kill(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'qs-e2e-'));
  const adminKey = opts.adminKey ?? randomBytes(16).toString('hex');
  const env: Record<string, string> = {
    ...SERVER_ENV,
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_API_KEY: adminKey,
    LOG_LEVEL: 'warn',
    // The suites send many requests and open many sockets as one user from one address;
    // tests of the limits themselves set small ones (test/e2e/limits.test.ts).
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
    WS_MAX_SOCKETS_PER_USER: '100000',
    // Admission control runs at its defaults (issue 20): bursts and a loaded machine must
    // not turn into 503s.
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    // bin/queue-service.js's compile cache where warmCompileCache put it.
    ...(opts.entry === 'bin' && process.env.NODE_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE } : {}),
    ...opts.env,
  };
  const at = opts.root ?? root;
  const entry = opts.entry === 'bin' ? 'bin/queue-service.js' : 'src/cli.ts';
  const { proc, output } = spawnNode([...(opts.nodeArgs ?? SERVER_NODE_ARGS), join(at, entry), 'serve'], at, env);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave a half-started server behind
      reject(new Error(`server did not start in 30 s:\n${output()}`));
    }, 30_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output()}`));
    });
  });
  if (opts.waitReady !== false) {
    for (let t = 0; ; t++) {
      const r = await fetch(`${url}/readyz`).catch(() => null);
      if (r?.status === 200) break;
      if (t >= 600 || proc.exitCode !== null) {
        proc.kill('SIGKILL');
        throw new Error(`server did not get ready in 60 s:\n${output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    adminKey,
    dataDir,
    proc,
    output,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** A node process in `cwd`, its stdout and stderr gathered into one text. */
function spawnNode(args: string[], cwd: string, env: NodeJS.ProcessEnv): { proc: ChildProcess; output: () => string } {
  const proc = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/**
 * Loads the modules `serve` loads with Node's compile cache on, in a process of its own
 * that then exits: a server started with `entry: 'bin'` after it (same checkout, same
 * sources) finds every module's type-stripped code and bytecode there and never loads the
 * TypeScript stripper (issue 24 round 7: 6-10 MB less RSS; bench/README). The cache is
 * bin/queue-service.js's: NODE_COMPILE_CACHE or node-compile-cache in the OS temp dir
 * (the server gets the same PATH and HOME only, so the same dir), keyed by path and content.
 * The cache's directory is per set of V8 flags: give the server's `nodeArgs`.
 * `compiled`: the cache files this process wrote (0: the cache was already warm).
 */
export async function warmCompileCache(opts: Pick<ServerOptions, 'root' | 'nodeArgs'> = {}): Promise<{ dir: string; compiled: number }> {
  const at = opts.root ?? root;
  const script = `
    import module from 'node:module';
    import { readdirSync, statSync } from 'node:fs';
    import { join } from 'node:path';
    module.enableCompileCache();
    const dir = module.getCompileCacheDir();
    const t0 = Date.now();
    for (const m of ['src/cli.ts', 'src/server.ts', 'src/stores.ts', 'src/console/plugin.ts']) await import(new URL(m, ${JSON.stringify(`file://${at}/`)}).href);
    module.flushCompileCache();
    const compiled = dir ? readdirSync(dir).filter((f) => statSync(join(dir, f)).mtimeMs >= t0).length : -1;
    process.stdout.write('\\ncompile-cache ' + JSON.stringify({ dir: dir ?? '', compiled }) + '\\n');
    process.exit(0);`;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  if (process.env.NODE_COMPILE_CACHE) env.NODE_COMPILE_CACHE = process.env.NODE_COMPILE_CACHE;
  const { proc, output } = spawnNode([...(opts.nodeArgs ?? SERVER_NODE_ARGS), '--input-type=module', '-e', script], at, env);
  // 'close': after its pipes ended (on 'exit' they may still hold the last line).
  const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
  // src/cli.ts, imported without a command, prints its usage first.
  const m = /^compile-cache (.*)$/m.exec(output());
  if (code !== 0 || !m) throw new Error(`warming the compile cache failed (${code}):\n${output()}`);
  return JSON.parse(m[1]!);
}

/** Files of a compile-cache dir (warmCompileCache's `dir`) written at or after `since` (epoch ms): a server stopped since then compiled that many modules itself (0: it found them all in the cache). */
function compiledSince(dir: string, since: number): number {
  if (!dir) return -1;
  return readdirSync(dir).filter((f) => statSync(join(dir, f)).mtimeMs >= since).length;
}

/** How a benchmark's server is started (benchEntry), for its `startServer` and its report. */
export interface BenchEntry {
  entry: 'src' | 'bin';
  /** Says how, for the report: as `npm start` does and whether the compile cache was warm, or through the stripper. */
  started: string;
  /** After the server stopped, for the report: how many modules it compiled itself (0: no TypeScript stripper); '' when started from src or without a cache. */
  compiled(): string;
}

/**
 * A benchmark's server as `npm start` starts it (issue 24 round 7): bin/queue-service.js
 * with Node's compile cache warmed first, so that no TypeScript stripper is in the process;
 * `src` (an env setting, e.g. BENCH_RECO_ENTRY=src) starts `node src/cli.ts serve` as the
 * tests do. Call it right before `startServer`, with the server's node flags.
 */
export async function benchEntry(choice: string | undefined, nodeArgs?: string[]): Promise<BenchEntry> {
  if (choice === 'src') return { entry: 'src', started: 'started as `node src/cli.ts serve` (through the TypeScript stripper)', compiled: () => '' };
  const cache = await warmCompileCache({ nodeArgs });
  const spawnedAt = Date.now();
  const started =
    cache.dir === ''
      ? "started as `npm start` does (bin/queue-service.js serve); Node's compile cache could not be enabled (its directory not writable?): the server loads the TypeScript stripper"
      : `started as \`npm start\` does (bin/queue-service.js serve); Node's compile cache warmed first (${cache.compiled === 0 ? 'it was warm already' : `the warm-up compiled ${cache.compiled} modules`}; ${cache.dir})`;
  const compiled = () => {
    const n = compiledSince(cache.dir, spawnedAt);
    return n < 0 ? '' : `the server compiled ${n} modules itself${n === 0 ? ' (all from the compile cache: no TypeScript stripper loaded)' : ''}`;
  };
  return { entry: 'bin', started, compiled };
}

/** A server on the given store kind, with a fresh database for Postgres; `cleanup` drops it all. */
export async function startServerOn(kind: StoreKind, opts: ServerOptions = {}): Promise<RunningServer & { cleanup(): Promise<void>; db: TempDatabase | null }> {
  const db = kind === 'postgres' ? await createTempDatabase() : null;
  const server = await startServer({ ...opts, databaseUrl: db?.url });
  return {
    ...server,
    db,
    async cleanup() {
      await server.stop();
      await db?.drop();
      rmSync(server.dataDir, { recursive: true, force: true });
    },
  };
}

/** A small fetch wrapper for JSON APIs. */
export function client(base: string, token?: string) {
  return async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      h['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json };
  };
}

export async function mintToken(server: { url: string; adminKey: string }, userId: string, ttlSeconds?: number): Promise<string> {
  const res = await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId, ...(ttlSeconds ? { ttlSeconds } : {}) });
  if (res.status !== 200) throw new Error(`token for ${userId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the operator CLI (`src/cli.ts`) as its own process with exactly the given
 * configuration (nothing inherited but PATH and HOME); killed after `timeoutMs`.
 */
export function runCli(args: string[], env: Record<string, string | undefined>, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const proc = spawn(process.execPath, [join(root, 'src/cli.ts'), ...args], { cwd: root, env: clean, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  proc.stdin!.end(opts.stdin ?? '');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} took over ${timeoutMs / 1000} s\n${stdout}\n${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': a child's pipes may still hold output when it has exited (a second
    // `migrate` in CI once read an empty stdout after exit 0); 'close' comes after they end.
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
