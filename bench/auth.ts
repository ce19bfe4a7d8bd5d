// bench/auth.ts (issue 23): what checking tokens costs now that a token may be a provider's,
// carry scopes and be revoked.
//
//   npm run bench:auth                      # about 2-3 minutes
//   BENCH_SECONDS=3 BENCH_ROUNDS=1 npm run bench:auth
//
// 1. HTTP, `GET /queues/{id}` (20 queues of 20 items, 16 connections, the load generator
//    bench/core-load.ts in its own process), on two servers (SQLite) in the same run: the
//    commit before issue 23 (BENCH_BASE_REF, default the merge-base with main, checked out
//    into a temp dir with `git archive`) as the peer, with its minted token; and this tree,
//    with a local identity provider configured, with a minted token, a scoped minted token
//    (queue:read), and provider tokens signed RS256 and ES256. Rounds alternate the order.
//    Every token is verified once and then served from the per-instance cache, so this is
//    the steady-state cost per request (cache hit, revocation check, scope check).
// 2. In this process: first checks of new tokens (no cache) per second, HS256 (minted)
//    against RS256, ES256, EdDSA (provider; keys already fetched), and cached checks per
//    second against a bare Map lookup (the old cache's floor).
// Load average (os.loadavg) is printed before and after.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadPlan, LoadQueue, LoadResult } from './core-load.ts';
import { envInt } from './env.ts';
import { Authenticator } from '../src/auth/authenticator.ts';
import { ProviderTokens } from '../src/auth/provider.ts';
import { LocalRevocationSignal } from '../src/auth/revocation-signal.ts';
import { Revocations } from '../src/auth/revocations.ts';
import { Tokens } from '../src/auth/tokens.ts';
import type { Revocation, RevocationStore } from '../src/auth/revocation-store.ts';

const { startServer, client } = await import('../test/helpers/server.ts');
const { startIdp } = await import('../test/helpers/idp.ts');

const SECONDS = envInt('BENCH_SECONDS', 6, 1);
const ROUNDS = envInt('BENCH_ROUNDS', 2, 1);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 16, 1);
const root = new URL('..', import.meta.url).pathname;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const log = (s: string) => process.stderr.write(`${s}\n`);

console.log(`bench:auth  ${new Date().toISOString()}  load average at start: ${load()}`);

// ---------------------------------------------------------------- 1. HTTP
const baseRef = process.env.BENCH_BASE_REF || execFileSync('git', ['merge-base', 'HEAD', 'main'], { cwd: root }).toString().trim();
const baseDir = mkdtempSync(join(tmpdir(), 'qs-bench-auth-base-'));
execFileSync('sh', ['-c', `git archive ${baseRef} | tar -x -C ${baseDir}`], { cwd: root });
symlinkSync(join(root, 'node_modules'), join(baseDir, 'node_modules'));
const idp = await startIdp({ algs: ['RS256', 'ES256', 'EdDSA'] });
const quiet = { LOG_LEVEL: 'error', OVERLOAD_MAX_IN_FLIGHT: '0', OVERLOAD_MAX_WAIT_MS: '0', OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' };
log(`peer: ${baseRef.slice(0, 10)} in ${baseDir}`);
const peer = await startServer({ root: baseDir, env: quiet });
const ours = await startServer({ env: { ...quiet, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience } });
const workDir = mkdtempSync(join(tmpdir(), 'qs-bench-auth-'));

async function queuesFor(server: { url: string }, auth: string, userToken: string): Promise<LoadQueue[]> {
  const api = client(server.url, userToken);
  const out: LoadQueue[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await api('POST', '/queues', { name: `q${i}`, tracks: Array.from({ length: 20 }, (_, k) => `t${k}`) });
    if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
    out.push({ id: r.body.queue.id, auth, ids: [], repeat: 'off', version: r.body.queue.version });
  }
  return out;
}

async function mint(server: { url: string; adminKey: string }, userId: string, scopes?: string[]): Promise<string> {
  const r = await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId, ...(scopes ? { scopes } : {}) });
  if (r.status !== 200) throw new Error(`mint: ${r.status}`);
  return r.body.token;
}

const peerToken = await mint(peer, 'bench');
const targets: { name: string; url: string; queues: LoadQueue[] }[] = [];
targets.push({ name: 'peer (before issue 23), minted', url: peer.url, queues: await queuesFor(peer, `Bearer ${peerToken}`, peerToken) });
const minted = await mint(ours, 'bench');
const oursQueues = await queuesFor(ours, '', minted);
const withAuth = (token: string) => oursQueues.map((q) => ({ ...q, auth: `Bearer ${token}` }));
targets.push({ name: 'ours, minted', url: ours.url, queues: withAuth(minted) });
targets.push({ name: 'ours, minted with scope queue:read', url: ours.url, queues: withAuth(await mint(ours, 'bench', ['queue:read'])) });
const [rsKid, esKid] = idp.kids();
targets.push({ name: 'ours, provider RS256', url: ours.url, queues: withAuth(await idp.token({ sub: 'bench', kid: rsKid, expiresIn: 3600 })) });
targets.push({ name: 'ours, provider ES256', url: ours.url, queues: withAuth(await idp.token({ sub: 'bench', kid: esKid, expiresIn: 3600 })) });

let phase = 0;
async function run(t: (typeof targets)[number], seconds = SECONDS): Promise<LoadResult> {
  const plan: LoadPlan = { url: t.url, connections: CONNECTIONS, seconds, phase: 'reads', read: 'default', trackBase: 0, queues: t.queues };
  const file = join(workDir, `plan-${++phase}.json`);
  writeFileSync(file, JSON.stringify(plan));
  const proc = spawn('nice', ['-n', '5', process.execPath, join(import.meta.dirname, 'core-load.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`load generator exited with ${code}: ${out.slice(-300)}`);
  return JSON.parse(line) as LoadResult;
}

// Warm-up, not recorded: each server's code paths compiled, each token verified and cached.
for (const t of targets) {
  log(`warm-up: ${t.name}`);
  await run(t, 2);
}
const results = new Map<string, LoadResult[]>();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const t of order) {
    log(`round ${round + 1}: ${t.name}`);
    const r = await run(t);
    if (r.non2xx || r.errors) throw new Error(`${t.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    results.set(t.name, [...(results.get(t.name) ?? []), r]);
  }
}
const peerOps = results.get(targets[0]!.name)!.map((r) => r.opsPerSec);
const peerMean = peerOps.reduce((a, b) => a + b, 0) / peerOps.length;
console.log(`\nGET /queues/{id} (20 items), ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds; ops/s per round, p50/p99 ms of the last`);
console.log('| token | ops/s | ÷ peer | p50 / p99 ms |');
console.log('|---|---|---|---|');
for (const t of targets) {
  const rs = results.get(t.name)!;
  const mean = rs.reduce((a, r) => a + r.opsPerSec, 0) / rs.length;
  const last = rs[rs.length - 1]!;
  console.log(`| ${t.name} | ${rs.map((r) => Math.round(r.opsPerSec)).join(' / ')} | ${(mean / peerMean).toFixed(2)} | ${last.p50} / ${last.p99} |`);
}
console.log(`load average after the HTTP runs: ${load()}`);
await peer.stop();
await ours.stop();
rmSync(baseDir, { recursive: true, force: true });
rmSync(workDir, { recursive: true, force: true });

// ---------------------------------------------------------------- 2. in-process token checks
const noStore: RevocationStore = {
  add: async (r: Revocation) => r,
  since: async () => [],
  issuedBefore: async () => null,
  sweep: async () => 0,
};
const tokens = new Tokens('bench-admin-key');
const provider = new ProviderTokens({
  issuer: idp.issuer,
  jwksUrl: null,
  audience: [idp.audience],
  userClaim: 'sub',
  algorithms: ['RS256', 'ES256', 'EdDSA'],
  clockSkewSeconds: 30,
  cooldownMs: 30_000,
  refreshMs: 0,
  requireScopes: false,
});
const revocations = new Revocations({ store: noStore, signal: new LocalRevocationSignal(), now: Date.now, pollMs: 0 });
const auth = new Authenticator({ tokens, provider, revocations });
await auth.start();
await auth.authenticate(await idp.token({ sub: 'warm' })); // keys fetched

const N = envInt('BENCH_TOKENS', 1500, 10);
async function firstChecks(make: (i: number) => Promise<string>): Promise<number> {
  const list: string[] = [];
  for (let i = 0; i < N; i++) list.push(await make(i));
  const t0 = performance.now();
  for (const t of list) await auth.authenticate(t);
  return N / ((performance.now() - t0) / 1000);
}
const kids = idp.kids();
// Warm-up of each kind's code path, not recorded.
for (const make of [
  async (i: number) => (await tokens.mint(`w${i}`, 3600)).token,
  ...kids.map((kid) => (i: number) => idp.token({ sub: `w${kid}${i}`, kid })),
]) {
  for (let i = 0; i < 100; i++) await auth.authenticate(await make(i));
}
const first = {
  'HS256 (minted)': await firstChecks(async (i) => (await tokens.mint(`u${i}`, 3600)).token),
  'RS256 (provider)': await firstChecks((i) => idp.token({ sub: `r${i}`, kid: kids[0] })),
  'ES256 (provider)': await firstChecks((i) => idp.token({ sub: `e${i}`, kid: kids[1] })),
  'EdDSA (provider)': await firstChecks((i) => idp.token({ sub: `d${i}`, kid: kids[2] })),
};
const hs = first['HS256 (minted)'];
console.log(`\nFirst check of a new token (no cache), ${N} tokens each, one after the other in this process`);
console.log('| token | checks/s | ÷ HS256 |');
console.log('|---|---|---|');
for (const [k, v] of Object.entries(first)) console.log(`| ${k} | ${Math.round(v)} | ${(v / hs).toFixed(2)} |`);

const cachedToken = (await tokens.mint('cached', 3600)).token;
await auth.authenticate(cachedToken);
const M = 500_000;
const map = new Map([[cachedToken, { userId: 'cached', exp: Date.now() / 1000 + 3600 }]]);
let t0 = performance.now();
for (let i = 0; i < M; i++) {
  const hit = map.get(cachedToken);
  if (!hit || hit.exp * 1000 <= Date.now()) throw new Error('miss');
}
const floor = M / ((performance.now() - t0) / 1000);
t0 = performance.now();
for (let i = 0; i < M; i++) await auth.authenticate(cachedToken);
const cached = M / ((performance.now() - t0) / 1000);
console.log(
  `\nCached check, ${M.toLocaleString('en')} times: authenticate() (cache hit + revocation check) ${Math.round(cached).toLocaleString('en')}/s; ` +
    `a bare Map lookup with the expiry test (the old cache's floor, synchronous) ${Math.round(floor).toLocaleString('en')}/s; ÷ ${(cached / floor).toFixed(2)}`,
);
await auth.close();
await idp.stop();
console.log(`\nload average at the end: ${load()}`);
