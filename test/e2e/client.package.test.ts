// The SDK as an app gets it: `npm pack` of client/, installed into a scratch app outside
// this repository (its own package.json and node_modules, nothing of the repository on its
// resolution path), imported from there and run against a real server; and its shipped
// types checked there with only the package's declared dependencies, so a declaration that
// reached into a server module (fastify, pg, better-sqlite3, ioredis) fails the check.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServer, type RunningServer } from '../helpers/server.ts';

const root = new URL('../..', import.meta.url).pathname;
const clientDir = join(root, 'client');
/** Packages no file the SDK ships may import: the server's, and the SDK's optional `ws`. */
const SERVER_ONLY = ['fastify', '@fastify/', 'pg', 'better-sqlite3', 'ioredis', 'jose', 'pino', 'prom-client', 'ws'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The bare (package) specifiers a JS or .d.ts file imports: statements, `import()` and `require()`. */
function packageImports(text: string): string[] {
  const patterns = [
    /^[ \t]*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^[ \t]*import\s*['"]([^'"]+)['"]/gm,
    /\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  const found = patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
  return found.filter((s) => !s.startsWith('.') && !s.startsWith('node:'));
}

const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// The app: plain JavaScript, as an app would write it, given the server and a token.
const APP = `
import { QueueClient, MemoryStorage } from '@queue-service/client';
const [url, token] = process.argv.slice(2);
const resolved = import.meta.resolve('@queue-service/client');
const c = new QueueClient({ baseUrl: url, token, deviceId: 'scratch-app', storage: new MemoryStorage() });
const { queue } = await c.api.createQueue({ name: 'from the packed SDK', tracks: ['p1'] });
const q = await c.openQueue(queue.id);
const ack = await q.addTracks(['p2']);
const state = q.state;
await c.close();
console.log(JSON.stringify({ resolved, queueId: queue.id, version: q.version, tracks: state.items.map((i) => i.trackId), ack: Object.keys(ack ?? {}) }));
`;

// Types as an app's TypeScript sees them: strict, and skipLibCheck off so every shipped
// declaration is checked with what the package brought (no @types/node either).
const CHECK = `
import { QueueClient, type QueueState, type Invite, type PartyView, type QueuePresenceAnswer, type OfflineSyncBody } from '@queue-service/client';
const c = new QueueClient({ baseUrl: 'http://127.0.0.1:1', token: 't', deviceId: 'd', autoConnect: false });
export async function use(): Promise<[QueueState, Invite['role'], PartyView['status'], QueuePresenceAnswer['viewers'], OfflineSyncBody]> {
  const q = await c.openQueue('q');
  const invite = await c.api.createInvite('q', { role: 'viewer' });
  const party = await c.createParty('q');
  const presence = await c.api.queuePresence('q');
  return [q.state, invite.role, (await party.fetchView()).status, presence.viewers, { changes: [], lastSyncTimestamp: null }];
}
`;
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2024', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: [],
  },
  files: ['check.ts'],
};

describe('client SDK as a package: packed, installed into a scratch app, used from there', () => {
  let server: RunningServer;
  let app: string;
  let tarball: string;

  before(async () => {
    assert.ok(existsSync(join(clientDir, 'dist/node.js')), 'client/dist is not built: npm run build:client (npm test does it first)');
    app = mkdtempSync(join(tmpdir(), 'qs-scratch-app-'));
    assert.ok(relative(root, app).startsWith('..'), 'the scratch app must live outside the repository');
    const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', app], clientDir)) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(app, packed[0]!.filename);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true, type: 'module' }));
    // The package's one dependency (@sinclair/typebox, for its types) comes from npm's cache
    // when it is there (the repository's own install put it there), else from the registry.
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('[SDK] the tarball holds the builds and the types, not the sources', () => {
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of ['package/dist/node.js', 'package/dist/browser.js', 'package/dist/types/client/src/node.d.ts', 'package/package.json']) {
      assert.ok(listed.includes(f), `${f} is not in the tarball`);
    }
    assert.deepEqual(
      listed.filter((f) => /^package\/(src|scripts)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))),
      [],
    );
  });

  it('[SDK] the installed package brings only its declared dependencies, and no shipped file imports a server package', () => {
    const pkgDir = join(app, 'node_modules/@queue-service/client');
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), ['@sinclair/typebox']);
    assert.equal(manifest.peerDependencies, undefined);
    const offending: string[] = [];
    const types: string[] = [];
    for (const f of filesUnder(pkgDir)) {
      if (!/\.(js|d\.ts)$/.test(f)) continue;
      if (f.endsWith('.d.ts')) types.push(relative(pkgDir, f));
      for (const spec of packageImports(readFileSync(f, 'utf8'))) {
        if (SERVER_ONLY.some((p) => spec === p || spec.startsWith(p.endsWith('/') ? p : `${p}/`))) offending.push(`${relative(pkgDir, f)} imports ${spec}`);
        else if (!spec.startsWith('@sinclair/typebox')) offending.push(`${relative(pkgDir, f)} imports ${spec}, which the package does not declare`);
      }
    }
    assert.deepEqual(offending, []);
    // The server modules it ships declarations of are the wire ones: model, schemas, protocols and the pure domain.
    const serverDecls = types.filter((t) => t.startsWith('dist/types/src/'));
    assert.ok(serverDecls.length > 0 && serverDecls.length < 30, `${serverDecls.length} server declarations: ${serverDecls.join(', ')}`);
    for (const t of serverDecls)
      assert.match(
        t,
        /^dist\/types\/src\/(model\/|errors\.d\.ts$|[a-z]+\/(schemas|protocol)\.d\.ts$|queues\/(queue|items|decide|permissions)\.d\.ts$|party\/(party|clock)\.d\.ts$|playback\/playback\.d\.ts$)/,
        t,
      );
  });

  it('[SDK] imported from the scratch app: a queue made over REST, opened live, an edit acknowledged, the server agrees', async () => {
    const token = await mintToken(server, 'scratch');
    writeFileSync(join(app, 'app.mjs'), APP);
    const r = spawnSync(process.execPath, ['app.mjs', server.url, token], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `app failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(out.resolved.startsWith(`file://${app}/node_modules/@queue-service/client/`), `resolved to ${out.resolved}`);
    assert.deepEqual(out.tracks, ['p1', 'p2']);
    const seen = await client(server.url, token)('GET', `/queues/${out.queueId}`);
    assert.equal(seen.status, 200);
    assert.deepEqual(
      seen.body.items.map((i: { trackId: string }) => i.trackId),
      ['p1', 'p2'],
    );
    assert.equal(seen.body.version, out.version);
  });

  it('[SDK] its types check in the scratch app (strict, skipLibCheck off, nothing but the package and its dependency)', () => {
    writeFileSync(join(app, 'check.ts'), CHECK);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `tsc in the scratch app:\n${r.stdout}${r.stderr}`);
  });
});
