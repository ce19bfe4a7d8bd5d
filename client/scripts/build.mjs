#!/usr/bin/env node
// Builds the SDK: a Node ESM build (dist/node.js: the SDK plus FileStorage), a browser ESM
// bundle (dist/browser.js: no Node module in it) and the .d.ts types (tsc). The server's
// own modules the SDK imports (the queue fold, the decider, schema types) are bundled in,
// so the package has no runtime dependency.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const dist = join(pkg, 'dist');
rmSync(dist, { recursive: true, force: true });

const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning', legalComments: 'none' };
await build({
  ...common,
  entryPoints: [join(pkg, 'src/node.ts')],
  outfile: join(dist, 'node.js'),
  platform: 'node',
});
await build({
  ...common,
  entryPoints: [join(pkg, 'src/index.ts')],
  outfile: join(dist, 'browser.js'),
  platform: 'browser',
});

// Declarations: tsc (the repository's TypeScript) from client/tsconfig.json.
const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve('typescript/package.json', { paths: [pkg, join(pkg, '..')] })), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(pkg, 'tsconfig.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('client: declaration build failed');
  process.exit(r.status ?? 1);
}
