// The layering of src/, read from the import statements of every file (`import type`,
// `export ... from` and `import()` all count): the storage
// adapters and the realtime plumbing import no feature folder, and no src file reaches
// itself through its imports. The client SDK (client/src) reaches only the wire modules
// of src/ and the pure domain, so its package ships no server code or declarations.
// A new import that breaks a layer fails here, with the path.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const src = resolve(new URL('../../src', import.meta.url).pathname);

/** Folders under src/ that hold a feature or its transport: the layers below them must not import them. */
const FEATURES = ['queues', 'playback', 'party', 'collab', 'offline', 'radio', 'reco', 'catalog', 'realtime', 'http', 'media', 'auth', 'console'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return filesUnder(p);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/**
 * The module specifiers a file imports: `import ... from`, `import type ... from`,
 * `export ... from` (statements at the start of a line, over several lines too),
 * `import 'x'` and `import('x')`. (The installed TypeScript, 7, has no JS API to parse with.)
 */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^[ \t]*(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/gm,
    /^[ \t]*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

/** Every src file's imports of other src files, as paths relative to src/ ('store/port.ts'). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of filesUnder(src)) {
    const targets = specifiers(readFileSync(file, 'utf8'))
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(src, resolve(dirname(file), spec)))
      .filter((p) => !p.startsWith('..'));
    graph.set(relative(src, file), [...new Set(targets)]);
  }
  return graph;
}

const graph = importGraph();

const clientSrc = resolve(src, '../client/src');

/**
 * What of src/ the client SDK may reach, directly or through the files it imports: the
 * wire (src/model, the schemas and protocol modules), the pure domain its mirrors fold
 * and decide with, and the error type those throw. Nothing here imports a server package.
 */
export const CLIENT_MAY_REACH: RegExp[] = [
  /^model\/[a-z-]+\.ts$/,
  /^[a-z]+\/(schemas|protocol)\.ts$/,
  /^queues\/(queue|items|decide|permissions)\.ts$/,
  /^party\/(party|clock)\.ts$/,
  /^playback\/playback\.ts$/,
  /^errors\.ts$/,
];
/** Packages those files may import: bundled into the SDK (or, typebox, a dependency for its types). */
const CLIENT_PACKAGES = ['@sinclair/typebox', 'fractional-indexing'];

/**
 * Why the client's imports break the allow-list, one line per offending edge: the src files
 * reached (through `graph`) from `entries` (src paths the client imports, with who imports
 * them) that no pattern allows, and the packages those reached files import that are not
 * in CLIENT_PACKAGES (`packagesOf` gives a src file's package imports).
 */
export function clientViolations(entries: [from: string, to: string][], graph: Map<string, string[]>, packagesOf: (file: string) => string[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const [from, file] = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!CLIENT_MAY_REACH.some((re) => re.test(file))) {
      found.push(`${from} -> src/${file}`);
      continue;
    }
    for (const pkg of packagesOf(file)) {
      if (pkg.startsWith('node:')) found.push(`src/${file} -> ${pkg} (the browser build has no Node modules)`);
      else if (!CLIENT_PACKAGES.some((p) => pkg === p || pkg.startsWith(`${p}/`))) found.push(`src/${file} -> ${pkg}`);
    }
    for (const t of graph.get(file) ?? []) queue.push([`src/${file}`, t]);
  }
  return found;
}

/** The package (bare) specifiers a file imports. */
const packagesOf = (file: string) => specifiers(readFileSync(join(src, file), 'utf8')).filter((s) => !s.startsWith('.'));

/** client/src's imports of src/ files: [importer, src path]. */
function clientEntries(): [string, string][] {
  return filesUnder(clientSrc).flatMap((file) =>
    specifiers(readFileSync(file, 'utf8'))
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(src, resolve(dirname(file), spec)))
      .filter((p) => !p.startsWith('..'))
      .map((p): [string, string] => [relative(resolve(src, '..'), file), p]),
  );
}
const folderOf = (path: string) => (path.includes('/') ? path.split('/')[0] : null);

/** Imports from files in `folder` into a feature folder other than `folder` itself. */
function upwardImports(folder: string): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    if (folderOf(file) !== folder) continue;
    for (const t of targets) {
      const f = folderOf(t);
      if (f !== null && f !== folder && FEATURES.includes(f)) found.push(`${file} -> ${t}`);
    }
  }
  return found;
}

/** One file path per import cycle found (depth-first; each cycle reported once from where it closes). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const t of graph.get(file) ?? []) {
      if (!graph.has(t)) continue;
      if (state.get(t) === 'open') found.push([...stack.slice(stack.indexOf(t)), t]);
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('layers of src/', () => {
  it('finds every kind of import statement', () => {
    const text = [
      "import a from './a.ts';",
      "import type { B } from '../b.ts';",
      'import {\n  c,\n  type D,\n} from "./c.ts";',
      "export { e } from './e.ts';",
      "export type * from './f.ts';",
      "import './g.ts';",
      "const h = await import('./h.ts');",
      '// a comment that says import x from nothing',
    ].join('\n');
    assert.deepEqual(specifiers(text).sort(), ['../b.ts', './a.ts', './c.ts', './e.ts', './f.ts', './g.ts', './h.ts']);
  });

  it('reads the imports (the graph is not empty and resolves real files)', () => {
    assert.ok(graph.size > 50, `only ${graph.size} files under src/`);
    assert.ok(graph.get('store/sqlite.ts')?.includes('store/port.ts'), 'store/sqlite.ts -> store/port.ts not seen');
    for (const [file, targets] of graph) {
      for (const t of targets) assert.ok(graph.has(t) || /\.(json|sql)$/.test(t), `${file} imports ${t}, which is not a src file`);
    }
  });

  it('src/store imports no feature folder (the adapters get the queue fold from the composition root)', () => {
    assert.deepEqual(upwardImports('store'), []);
  });

  it('src/realtime imports no feature folder (only the bottom types in src/model)', () => {
    assert.deepEqual(upwardImports('realtime'), []);
  });

  it('src/model imports nothing but itself', () => {
    const found = [...graph]
      .filter(([f]) => folderOf(f) === 'model')
      .flatMap(([f, ts]) => ts.filter((t) => folderOf(t) !== 'model').map((t) => `${f} -> ${t}`));
    assert.deepEqual(found, []);
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
    ]);
    assert.deepEqual(cycles(g), [['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    assert.deepEqual(
      cycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
      [],
    );
  });

  it('no import cycle among src files (type imports included)', () => {
    assert.deepEqual(
      cycles(graph).map((c) => c.join(' -> ')),
      [],
    );
  });

  it('no cycle among the folders of src/ either (a feature imports the ones below it, never back)', () => {
    // The folder graph: an edge a -> b when a file of folder a imports a file of folder b.
    const folders = new Map<string, string[]>();
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      if (from === null) continue;
      const to = targets.map(folderOf).filter((f): f is string => f !== null && f !== from);
      folders.set(from, [...new Set([...(folders.get(from) ?? []), ...to])]);
    }
    const found = cycles(folders).map((c) => {
      // Name the files that close the loop, so the message says where to look.
      const [a, b] = c.slice(-2) as [string, string];
      const via = [...graph].flatMap(([f, ts]) => (folderOf(f) === a ? ts.filter((t) => folderOf(t) === b).map((t) => `${f} -> ${t}`) : []));
      return `${c.join(' -> ')} (${via.join(', ')})`;
    });
    assert.deepEqual(found, []);
  });
});

describe('what the client SDK reaches of src/', () => {
  it('flags a server module, reached directly or through an allowed one, and a server package', () => {
    const g = new Map<string, string[]>([
      ['collab/routes.ts', ['collab/service.ts']],
      ['queues/schemas.ts', ['auth/tokens.ts', 'model/wire.ts']],
      ['party/protocol.ts', ['realtime/protocol.ts']],
      ['realtime/protocol.ts', ['errors.ts']],
      ['model/wire.ts', []],
      ['errors.ts', []],
    ]);
    const pkgs = (f: string) => (f === 'party/protocol.ts' ? ['@sinclair/typebox', 'fastify'] : []);
    assert.deepEqual(
      clientViolations(
        [
          ['client/src/api.ts', 'collab/routes.ts'],
          ['client/src/api.ts', 'queues/schemas.ts'],
          ['client/src/party.ts', 'party/protocol.ts'],
        ],
        g,
        pkgs,
      ),
      ['client/src/api.ts -> src/collab/routes.ts', 'src/party/protocol.ts -> fastify', 'src/queues/schemas.ts -> src/auth/tokens.ts'],
    );
    assert.deepEqual(
      clientViolations([['client/src/party.ts', 'realtime/protocol.ts']], g, () => ['@sinclair/typebox']),
      [],
    );
  });

  it('refuses, on the real graph, the imports the SDK used to make (a route plugin, the auth plugin, the party and queue services)', () => {
    const old: [string, string][] = [
      ['client/src/api.ts', 'collab/routes.ts'],
      ['client/src/api.ts', 'http/auth.ts'],
      ['client/src/party.ts', 'party/service.ts'],
      ['client/src/api.ts', 'queues/service.ts'],
    ];
    const found = clientViolations(old, graph, packagesOf);
    for (const [from, to] of old) assert.ok(found.includes(`${from} -> src/${to}`), `${from} -> src/${to} not refused: ${found.join('; ')}`);
    // Actor and fingerprint now live below the services, where the allow-list lets the SDK reach only the shapes.
    assert.deepEqual(clientViolations([['client/src/api.ts', 'model/actor.ts']], graph, packagesOf), []);
    assert.deepEqual(clientViolations([['client/src/api.ts', 'util/commit.ts']], graph, packagesOf), ['client/src/api.ts -> src/util/commit.ts']);
  });

  it('client/src reaches only the wire modules and the pure domain of src/ (no route, service, store, config or server package)', () => {
    const entries = clientEntries();
    assert.ok(
      entries.some(([, t]) => t === 'queues/queue.ts'),
      'the client imports of src/ were not read',
    );
    assert.deepEqual(clientViolations(entries, graph, packagesOf), []);
  });
});
