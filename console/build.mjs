// Builds the web console (console/src) into console/dist: one JS bundle, one CSS file
// and index.html, all served by the service at /console (src/console/plugin.ts).
// Run by `npm run build:console`, which the root `prepare` script runs on npm install / ci.
// `--watch` rebuilds on change. Prints the gzipped size of what a browser downloads.
import { build, context } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
mkdirSync(out, { recursive: true });

const options = {
  entryPoints: { app: join(here, 'src/main.tsx'), styles: join(here, 'src/styles.css') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  platform: 'browser',
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
};

function copyStatic() {
  for (const f of ['index.html', 'icon.svg']) copyFileSync(join(here, f), join(out, f));
}

if (process.argv.includes('--watch')) {
  copyStatic();
  const ctx = await context(options);
  await ctx.watch();
  console.log('console: watching console/src');
} else {
  await build(options);
  copyStatic();
  let total = 0;
  const sizes = [];
  for (const f of readdirSync(out)) {
    if (f.endsWith('.map') || f.endsWith('.LEGAL.txt')) continue;
    const gz = gzipSync(readFileSync(join(out, f))).length;
    total += gz;
    sizes.push(`${f} ${(gz / 1024).toFixed(1)} KB`);
  }
  console.log(`console: built console/dist (gzipped: ${sizes.join(', ')}; total ${(total / 1024).toFixed(1)} KB)`);
}
