// Operator CLI: `npm run cli -- <command>` or `npx queue-service <command>`.
import { createReadStream, createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { isScope, SCOPES, type Scope } from './auth/scopes.ts';
import { catalogCommand, catalogUsage } from './catalog/cli.ts';
import { loadConfig, type Config } from './config.ts';
import { describeStore, sqliteFile } from './store/index.ts';

// Each command loads what it needs when it runs (the stores load every adapter and its
// driver), so `--help` and `token` start in a fraction of the time.
const openStorage = async (config: Config) => (await import('./stores.ts')).openStorage(config);

const usage = `usage: queue-service <command>

  serve                       start the server (PORT, HOST, DATA_DIR, DATABASE_URL, ADMIN_API_KEY, LOG_LEVEL)
  migrate                     apply pending database migrations and exit
  token <userId> [--ttl N] [--scopes S]
                              mint a user token (N seconds, default TOKEN_TTL_SECONDS or 30 days), limited to the
                              comma-separated scopes S (queue:read,queue:write,playback:write,party:join,party:host,admin)
  revoke <userId>             revoke every token of the user issued before now (running servers refuse them within
                              AUTH_REVOCATION_POLL_SECONDS, at once with REDIS_URL)
  export [--out FILE]         write the whole event log as JSONL (default: stdout)
  import [FILE]               read an event log in JSONL (default: stdin) into the store; re-running skips what is there
  sweep [--events-older-than-days N]
                              delete expired idempotency records (IDEMPOTENCY_TTL_HOURS) now, and with N (or
                              EVENT_RETENTION_DAYS) trim events older than N days that lie below their queue's snapshot
  backup FILE                 a consistent copy of the SQLite store while the server runs (FILE must not exist)
  restore FILE                replace the SQLite store with a backup; stop the server first (the old store is kept
                              next to it as queue.db.before-restore-<time>)
${catalogUsage}`;

function progressLine(label: string) {
  let last = 0;
  return (n: number) => {
    const now = Date.now();
    if (now - last < 250) return;
    last = now;
    process.stderr.write(`\r${label}: ${n.toLocaleString('en')} events`);
  };
}

async function main(argv: string[]): Promise<number> {
  // Catalog imports have options of their own (src/catalog/cli.ts).
  if (argv[0] === 'catalog') {
    const config = loadConfig();
    const { openStorage: open } = await import('./stores.ts');
    return catalogCommand(argv.slice(1), config, () => open(config));
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ttl: { type: 'string' },
      scopes: { type: 'string' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
      'events-older-than-days': { type: 'string' },
    },
  });
  const [command, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve': {
      // Loaded only here: the whole service takes seconds to load, the other commands need little of it.
      const { serve } = await import('./server.ts');
      await serve(config);
      return -1; // keeps running
    }
    case 'migrate': {
      const { store } = await openStorage(config);
      const applied = await store.migrate();
      await store.close();
      process.stdout.write(`${describeStore(config)}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}\n`);
      return 0;
    }
    case 'token': {
      if (!arg) throw new Error('token needs a userId');
      const ttl = values.ttl === undefined ? config.tokenTtlSeconds : Number(values.ttl);
      if (!Number.isInteger(ttl) || ttl < 1) throw new Error('--ttl must be a positive number of seconds');
      const scopes = (values.scopes ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const unknown = scopes.filter((x) => !isScope(x));
      if (unknown.length) throw new Error(`unknown scope ${unknown.join(', ')}; scopes: ${SCOPES.join(', ')}`);
      const { resolveAdminKey, Tokens } = await import('./auth/tokens.ts');
      const tokens = new Tokens(resolveAdminKey(config.adminApiKey, config.dataDir).key);
      const { token, expiresAt, tokenId } = await tokens.mint(arg, ttl, { scopes: scopes as Scope[] });
      process.stdout.write(`${token}\n`);
      process.stderr.write(`token for ${arg}, expires ${expiresAt} (id ${tokenId}${scopes.length ? `; scopes ${scopes.join(' ')}` : ''})\n`);
      return 0;
    }
    case 'revoke': {
      if (!arg) throw new Error('revoke needs a userId');
      const { revokeUserTokens } = await import('./auth/cli.ts');
      const storage = await openStorage(config);
      await storage.store.migrate();
      const before = await revokeUserTokens(
        arg,
        storage.features().revocations,
        config.redisUrl ? { url: config.redisUrl, prefix: config.redisKeyPrefix } : null,
      );
      await storage.store.close();
      process.stderr.write(`tokens of ${arg} issued before ${new Date(before * 1000).toISOString()} are revoked\n`);
      return 0;
    }
    case 'export': {
      const { store } = await openStorage(config);
      await store.migrate();
      const out = values.out ? createWriteStream(values.out) : process.stdout;
      const { exportEvents } = await import('./queues/transfer.ts');
      const n = await exportEvents(store, out, progressLine('exported'));
      if (values.out) await new Promise<void>((r) => (out as NodeJS.WritableStream).end(r));
      await store.close();
      process.stderr.write(`\rexported ${n.toLocaleString('en')} events from ${describeStore(config)}\n`);
      return 0;
    }
    case 'import': {
      const { store } = await openStorage(config);
      await store.migrate();
      const input = arg && arg !== '-' ? createReadStream(arg) : process.stdin;
      const { importEvents } = await import('./queues/transfer.ts');
      const r = await importEvents(store, input, progressLine('read'));
      await store.close();
      process.stderr.write(
        `\rimported ${r.imported.toLocaleString('en')} events, skipped ${r.skipped.toLocaleString('en')} already present, into ${describeStore(config)}\n`,
      );
      return 0;
    }
    case 'sweep': {
      const raw = values['events-older-than-days'];
      const days = raw === undefined ? config.retention.eventRetentionDays : Number(raw);
      if (days !== null && (!Number.isFinite(days) || days < 0)) throw new Error('--events-older-than-days must be a number >= 0');
      const storage = await openStorage(config);
      const { store } = storage;
      await store.migrate();
      const now = Date.now();
      const { pruneRadioHistory } = await import('./radio/service.ts');
      const features = storage.features();
      const radioRows = await pruneRadioHistory(features.catalog, config.radio, now);
      process.stderr.write(`deleted ${radioRows.toLocaleString('en')} radio history rows older than ${config.radio.historyDays} days\n`);
      // The idempotency records the features keep in their own tables, on the same expiry.
      const { idempotencyCutoff, sweepExpired } = await import('./util/commit.ts');
      const expired = idempotencyCutoff({ idempotencyTtlMs: config.retention.idempotencyTtlHours * 3600_000 }, now);
      const outcomes = await sweepExpired((before, limit) => features.offline.sweepOutcomes(before, limit), expired);
      const answers = await sweepExpired((before, limit) => features.catalog.sweepAnswers(before, limit), expired);
      process.stderr.write(
        `deleted ${outcomes.toLocaleString('en')} offline outcomes and ${answers.toLocaleString('en')} recommendation answers past their expiry\n`,
      );
      const total = { idempotencyRecords: 0, events: 0 };
      for (;;) {
        const r = await store.sweep({
          idempotencyBefore: now - config.retention.idempotencyTtlHours * 3600_000,
          eventsBefore: days === null ? undefined : now - days * 24 * 3600_000,
          limit: 5_000,
        });
        total.idempotencyRecords += r.idempotencyRecords;
        total.events += r.events;
        process.stderr.write(
          `\rswept ${total.idempotencyRecords.toLocaleString('en')} idempotency records, trimmed ${total.events.toLocaleString('en')} events`,
        );
        if (r.idempotencyRecords < 5_000 && r.events < 5_000) break;
      }
      await store.close();
      process.stderr.write(` from ${describeStore(config)}\n`);
      return 0;
    }
    case 'backup':
    case 'restore': {
      if (!arg) throw new Error(`${command} needs a FILE`);
      // PostgreSQL has its own tools for this (pg_dump / pg_restore, or a base backup).
      if (config.databaseUrl) throw new Error(`${command} is for the embedded SQLite store; with DATABASE_URL use pg_dump / pg_restore`);
      const live = sqliteFile(config.dataDir);
      const { backupSqlite, restoreSqlite } = await import('./store/backup.ts');
      const r = command === 'backup' ? await backupSqlite(live, arg) : await restoreSqlite(arg, live);
      const what = `${(r.bytes / 1024 / 1024).toFixed(1)} MB, ${r.events.toLocaleString('en')} queue events, migrations up to ${r.migrations.at(-1) ?? 'none'}`;
      process.stdout.write(command === 'backup' ? `backed up ${live} to ${r.file} (${what})\n` : `restored ${arg} into ${r.file} (${what})\n`);
      if ('previous' in r && r.previous) process.stdout.write(`the store it replaced is kept in ${r.previous}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
