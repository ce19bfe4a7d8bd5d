// `queue-service backup FILE` / `restore FILE` as real processes against a real server's
// SQLite store: a backup taken while clients write restores to a consistent state (every
// queue's log gapless, its items the fold of its log, a prefix of what the server had).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { backupSqlite, restoreSqlite } from '../../src/store/backup.ts';
import { sqliteFile } from '../../src/store/index.ts';
import { client, mintToken, runCli, startServer, type RunningServer } from '../helpers/server.ts';
import { allEvents } from '../helpers/offline.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { openSqliteStore } from '../../src/stores.ts';

async function cli(args: string[], dataDir: string, extra: Record<string, string> = {}) {
  // Bounded like the suite (90 s): a backup under write load may take a while.
  const r = await runCli(args, { DATA_DIR: dataDir, ...extra }, { timeoutMs: 90_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('backup and restore of the SQLite store', { timeout: 90_000 }, () => {
  const dirs: string[] = [];
  const servers: RunningServer[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'qs-backup-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const s of servers) await s.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a backup taken under write load restores to a consistent point in time', async () => {
    const server = await startServer({ dataDir: dir() });
    servers.push(server);
    const api = client(server.url, await mintToken(server, 'alice'));
    const queues: string[] = [];
    const created: number[] = [];
    for (let i = 0; i < 4; i++) {
      const q = (await api('POST', '/queues', { name: `q${i}`, tracks: ['t0'] })).body.queue;
      queues.push(q.id);
      created.push(q.version);
    }

    // Four writers add tracks until told to stop; each acknowledged write is counted.
    let stop = false;
    let acked = 0;
    const ackedPerQueue = queues.map(() => 0);
    const writers = queues.map(async (q, w) => {
      for (let n = 0; !stop; n++) {
        const r = await api('POST', `/queues/${q}/tracks`, { tracks: [`w${w}-${n}`] });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        acked++;
        ackedPerQueue[w]!++;
        await sleep(15); // steady load, not a flood that starves the CLI and other suites
      }
    });
    await waitFor(() => acked >= 40, { timeoutMs: 60_000, intervalMs: 10, what: () => `40 acked writes (${acked})` });
    const backups = [join(dir(), 'one.db')];
    const ackedBefore = acked;
    const ackedBeforePerQueue = [...ackedPerQueue];
    const result = await cli(['backup', backups[0]!], server.dataDir);
    const ackedDuring = acked - ackedBefore;
    stop = true;
    await Promise.all(writers);
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /backed up .* queue events/);
    assert.ok(ackedDuring > 0, 'no write was acknowledged while the backup ran: not a test under load');

    // The truth to compare with: the original server's logs once the writers stopped.
    const original = new Map<string, any[]>();
    for (const q of queues) original.set(q, await allEvents(api, q));
    assert.equal(await server.stop(), 0);

    for (const b of backups) {
      const restoredDir = dir();
      const r = await cli(['restore', b], restoredDir);
      assert.equal(r.code, 0, r.out);
      const restored = await startServer({ dataDir: restoredDir, adminKey: server.adminKey });
      servers.push(restored);
      const rapi = client(restored.url, await mintToken(restored, 'alice'));
      for (const [i, q] of queues.entries()) {
        const events = await allEvents(rapi, q);
        const view = (await rapi('GET', `/queues/${q}`)).body;
        // Gapless log 1..version, and the projection is the fold of that log.
        assert.deepEqual(
          events.map((e) => e.sequenceNumber),
          Array.from({ length: view.version }, (_, i) => i + 1),
          `${q}: log not gapless`,
        );
        const added = events
          .filter((e) => e.type === 'item_added')
          .map((e) => e.data.itemId)
          .sort();
        assert.deepEqual(view.items.map((i: any) => i.itemId).sort(), added, `${q}: items are not the fold of the log`);
        // A prefix of what the original had: the same events, none invented, none reordered.
        const orig = original.get(q)!;
        assert.deepEqual(events, orig.slice(0, events.length), `${q}: not a prefix of the original log`);
        // Every write acknowledged before the backup began is in it.
        assert.ok(view.version >= created[i]! + ackedBeforePerQueue[i]!, `${q}: the backup lost acknowledged writes (${view.version} events)`);
      }
      await restored.stop();
    }
  });

  it('restore keeps the store it replaces, and refuses what is not a backup; backup never overwrites', async () => {
    // The functions behind the CLI, in process (the test above runs them as the CLI).
    const pgRefusal = cli(['backup', join(dir(), 'x.db')], dir(), { DATABASE_URL: 'postgres://127.0.0.1:1/none' });
    const data = dir();
    const live = sqliteFile(data);
    const store = openSqliteStore(live);
    await store.migrate();
    const names = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare('SELECT key AS name FROM settings ORDER BY key').all() as { name: string }[]).map((r) => r.name);
      } finally {
        db.close();
      }
    };
    const raw = new Database(live);
    raw.prepare(`INSERT INTO settings (key, value) VALUES ('first', '1')`).run();
    const b = join(dir(), 'b.db');
    await backupSqlite(live, b);
    await assert.rejects(backupSqlite(live, b), /exists/);
    raw.prepare(`INSERT INTO settings (key, value) VALUES ('later', '1')`).run();
    raw.close();
    await store.close();

    const r = await restoreSqlite(b, live);
    assert.ok(r.previous);
    assert.deepEqual(
      names(live).filter((n) => ['first', 'later'].includes(n)),
      ['first'],
      'the restored store has what the backup had, no more',
    );
    assert.deepEqual(
      names(r.previous!).filter((n) => ['first', 'later'].includes(n)),
      ['first', 'later'],
      'the replaced store is kept whole',
    );

    const junk = join(dir(), 'junk.db');
    writeFileSync(junk, 'not a database at all, but long enough to look like a file');
    await assert.rejects(restoreSqlite(junk, live));
    await assert.rejects(restoreSqlite(join(dir(), 'missing.db'), live));
    const empty = join(dir(), 'empty.db');
    new Database(empty).close();
    await assert.rejects(restoreSqlite(empty, live), /not a queue-service database/);
    assert.equal(
      readdirSync(data).filter((f) => f.startsWith('queue.db.before-restore-') && !/-(wal|shm)$/.test(f)).length,
      1,
      `a refused restore touched the store: ${readdirSync(data).join(', ')}`,
    );

    const pg = await pgRefusal;
    assert.notEqual(pg.code, 0);
    assert.match(pg.out, /pg_dump/);
  });

  it('the copy holds every commit made before it began, and is one commit: a writer that never checkpoints', async () => {
    const data = dir();
    const live = sqliteFile(data);
    const store = openSqliteStore(live);
    await store.migrate();
    await store.close();
    // A writer connection that keeps everything in the WAL: a copy of the file alone would miss it all.
    const writer = new Database(live);
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0');
    const insert = writer.prepare('INSERT INTO settings (key, value) VALUES (?, ?)');
    let n = 0;
    let stop = false;
    const pairs = writer.transaction((k: number) => {
      insert.run(`k${String(k).padStart(6, '0')}a`, String(k));
      insert.run(`k${String(k).padStart(6, '0')}b`, String(k));
    });
    const loop = (async () => {
      while (!stop) {
        for (let i = 0; i < 20; i++) pairs(n++);
        await new Promise((r) => setImmediate(r));
      }
    })();
    while (n < 2000) await new Promise((r) => setImmediate(r));
    const committedBefore = n;
    const target = join(dir(), 'wal.db');
    const copying = backupSqlite(live, target);
    const r = await copying;
    stop = true;
    await loop;
    writer.close();
    const copy = new Database(target, { readonly: true });
    const keys = (copy.prepare(`SELECT key FROM settings WHERE key LIKE 'k%' ORDER BY key`).all() as { key: string }[]).map((x) => x.key);
    copy.close();
    assert.ok(keys.length >= 2 * committedBefore, `the copy misses commits made before it began: ${keys.length / 2} of ${committedBefore}`);
    assert.equal(keys.length % 2, 0, 'the copy holds half a transaction');
    assert.deepEqual(
      keys,
      Array.from({ length: keys.length / 2 }, (_, k) => [`k${String(k).padStart(6, '0')}a`, `k${String(k).padStart(6, '0')}b`]).flat(),
      'not a prefix of the commits',
    );
    assert.ok(r.bytes > 0);
  });
});
