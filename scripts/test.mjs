#!/usr/bin/env node
// Runs the test suites with node's test runner. Postgres and Redis suites run when
// the servers answer: TEST_DATABASE_URL / TEST_REDIS_URL require them (a failure to
// connect is then an error); without them the defaults on 127.0.0.1 are tried and,
// when they do not answer, those suites are skipped and this says so plainly.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

if (!process.features.typescript) {
  console.error(`the tests run on Node.js 22.18 or later, whose type stripping runs the .ts files (this is ${process.version})`);
  process.exit(1);
}

const which = process.argv[2]; // unit | int | e2e | undefined (all)
const root = new URL('..', import.meta.url).pathname;

function files(dir) {
  const out = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (f.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

function reachable(urlString, defaultPort) {
  const u = new URL(urlString);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || defaultPort) });
    s.setTimeout(1500);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

const env = { ...process.env };
const pgUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
if (await reachable(pgUrl, 5432)) env.QS_TEST_PG = pgUrl;
else if (process.env.TEST_DATABASE_URL) {
  console.error(`TEST_DATABASE_URL=${pgUrl} does not answer`);
  process.exit(1);
} else {
  env.QS_TEST_PG = 'skip';
  console.log('NOTE: no PostgreSQL at 127.0.0.1:5432 and TEST_DATABASE_URL not set: the Postgres suites are SKIPPED.');
}

const redisUrl = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
if (await reachable(redisUrl, 6379)) env.QS_TEST_REDIS = redisUrl;
else if (process.env.TEST_REDIS_URL) {
  console.error(`TEST_REDIS_URL=${redisUrl} does not answer`);
  process.exit(1);
} else {
  env.QS_TEST_REDIS = 'skip';
  console.log('NOTE: no Redis at 127.0.0.1:6379 and TEST_REDIS_URL not set: the Redis suites are SKIPPED.');
}

const dirs = which ? [which] : ['unit', 'int', 'e2e'];
const list = dirs.flatMap((d) => files(join(root, 'test', d)));
if (list.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
console.log(
  `Node.js ${process.version}; stores under test: sqlite${env.QS_TEST_PG !== 'skip' ? ' + postgres' : ''}; redis: ${env.QS_TEST_REDIS !== 'skip' ? 'yes' : 'no'}`,
);
// A file (or test) still running after 15 minutes has hung: it fails, named, instead of
// holding the run (and CI) until something else kills it. The slowest file takes ~2 minutes.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=900000', '--test-reporter=spec', ...list], {
  stdio: 'inherit',
  env,
  cwd: root,
});
process.exit(r.status ?? 1);
