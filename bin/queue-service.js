#!/usr/bin/env node
// `npx queue-service <command>` (and `npm start`): the TypeScript CLI, run by Node's own
// type stripping, no loader and no build. Node 22.18+ strips types by default; an older
// Node gets a plain message here instead of an unknown-file-extension error.
if (!process.features.typescript) {
  process.stderr.write(`queue-service needs Node.js 22.18 or later (this is ${process.version}); see "engines" in package.json.\n`);
  process.exit(1);
}
await import('../src/cli.ts');
