#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=16 --max-old-space-size=1024 --no-allocation-site-pretenuring
// `npx queue-service <command>` (and `npm start`): the TypeScript CLI, run by Node's own
// type stripping, no loader and no build. The first line gives an executable run (npx, the
// npm bin link) the memory settings `npm start` passes (issue 24: see the README's "Set up and run"). Node 22.18+ strips types by default; an older
// Node gets a plain message here instead of an unknown-file-extension error.
import module from 'node:module';

if (!process.features.typescript) {
  process.stderr.write(`queue-service needs Node.js 22.18 or later (this is ${process.version}); see "engines" in package.json.\n`);
  process.exit(1);
}
// Node's on-disk compile cache (in the OS temp dir) keeps the type-stripped and compiled
// modules between runs: a CLI command starts in about a third of the time.
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();
await import('../src/cli.ts');
