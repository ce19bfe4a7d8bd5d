// The operator CLI as a real process: `node src/cli.ts <command>` with the
// configuration in its environment, against real data dirs (and Postgres when available).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../helpers/pg.ts';
import { client, mintToken, runCli, startServer, type CliResult, type RunningServer } from '../helpers/server.ts';

const tempDirs: string[] = [];
const databases: TempDatabase[] = [];
const servers: RunningServer[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qs-cli-'));
  tempDirs.push(d);
  return d;
}

/** Runs the CLI with exactly the given configuration (nothing inherited but PATH and HOME). */
function cli(args: string[], env: { DATA_DIR: string; ADMIN_API_KEY?: string; DATABASE_URL?: string }, stdin?: string): Promise<CliResult> {
  return runCli(args, env, { stdin });
}

const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

async function allEvents(call: ReturnType<typeof client>, id: string): Promise<any[]> {
  const res = await call('GET', `/queues/${id}/events?limit=1000`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.hasMore, false);
  return res.body.events;
}

after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  await Promise.all(databases.map((d) => d.drop()));
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe('cli', { concurrency: true, timeout: 80_000 }, () => {
  it('migrate on a fresh data dir applies the migrations; a second run is up to date', async () => {
    const dataDir = tempDir();
    const first = await cli(['migrate'], { DATA_DIR: dataDir });
    assert.equal(first.code, 0, show(first));
    assert.match(first.stdout, /SQLite file .*queue\.db: applied 001_init/, show(first));
    const second = await cli(['migrate'], { DATA_DIR: dataDir });
    assert.equal(second.code, 0, show(second));
    assert.match(second.stdout, /up to date/, show(second));
    assert.doesNotMatch(second.stdout, /applied/);
  });

  it('migrate on a fresh Postgres database, twice', { skip: pgSkipReason }, async () => {
    const db = await createTempDatabase();
    databases.push(db);
    const env = { DATA_DIR: tempDir(), DATABASE_URL: db.url };
    const first = await cli(['migrate'], env);
    assert.equal(first.code, 0, show(first));
    assert.match(first.stdout, /PostgreSQL .*: applied 001_init/, show(first));
    const second = await cli(['migrate'], env);
    assert.equal(second.code, 0, show(second));
    assert.match(second.stdout, /up to date/, show(second));
  });

  it('token refuses a bad user id and a bad --ttl, without a stack trace', async () => {
    const env = { DATA_DIR: tempDir(), ADMIN_API_KEY: 'k' };
    const [bad, ttl, none] = await Promise.all([cli(['token', 'not ok!'], env), cli(['token', 'alice', '--ttl', '0'], env), cli(['token'], env)]);
    for (const r of [bad, ttl, none]) {
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /^error: /m, show(r));
      assert.doesNotMatch(r.stderr, /\n\s+at /, show(r));
      assert.equal(r.stdout, '');
    }
  });

  it('import of a file with a malformed line exits non-zero and names the line', async () => {
    const dataDir = tempDir();
    const ev = (seq: number, type: string, data: object) =>
      JSON.stringify({ queueId: 'q-bad', sequenceNumber: seq, type, userId: 'alice', deviceId: null, timestamp: '2024-05-01T10:00:00.000Z', data });
    const good = [
      ev(1, 'queue_created', { name: 'x', type: 'user', ownerId: 'alice', metadata: {} }),
      ev(2, 'item_added', { itemId: 'i1', trackId: 't', key: 'a0' }),
    ];
    const cases: [string, string, RegExp][] = [
      ['not-json.jsonl', [...good, '{"queueId": "q-bad", ', ''].join('\n'), /line 3\b.*not JSON/],
      ['not-event.jsonl', [good[0], '', '{"hello": "world"}'].join('\n'), /line 3\b.*not a queue event/],
      ['bad-type.jsonl', [good[0], ev(2, 'item_exploded', {})].join('\n'), /line 2\b/],
      ['gap.jsonl', [good[0], ev(3, 'item_added', { itemId: 'i2', trackId: 't', key: 'a1' })].join('\n'), /gap/],
    ];
    const results = await Promise.all(
      cases.map(async ([name, text]) => {
        const file = join(dataDir, name);
        writeFileSync(file, text);
        return cli(['import', file], { DATA_DIR: tempDir() });
      }),
    );
    for (const [i, r] of results.entries()) {
      assert.notEqual(r.code, 0, `${cases[i]![0]}: ${show(r)}`);
      assert.match(r.stderr, cases[i]![2], `${cases[i]![0]}: ${show(r)}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, show(r));
    }
    // From stdin too.
    const piped = await cli(['import'], { DATA_DIR: tempDir() }, `${good[0]}\nnonsense\n`);
    assert.notEqual(piped.code, 0, show(piped));
    assert.match(piped.stderr, /line 2\b/, show(piped));
  });

  describe('token, export and import around real servers', { concurrency: false }, () => {
    const adminKey = randomBytes(16).toString('hex');
    let dataDir: string;
    let server: RunningServer;
    let token: string;
    const live = new Map<string, any>();
    let deletedId: string;
    const logs = new Map<string, any[]>();
    let exportFile: string;
    let exported: any[];

    before(async () => {
      dataDir = tempDir();
      server = await startServer({ dataDir, adminKey });
      servers.push(server);
    });

    it('token <userId> prints a token the server accepts', async () => {
      const r = await cli(['token', 'alice'], { DATA_DIR: dataDir, ADMIN_API_KEY: adminKey });
      assert.equal(r.code, 0, show(r));
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1, 'stdout is only the token');
      token = lines[0]!;
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.match(r.stderr, /token for alice, expires \d{4}-/);
      const res = await client(server.url, token)('GET', '/queues');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      // With --ttl.
      const short = await cli(['token', 'bob', '--ttl', '120'], { DATA_DIR: dataDir, ADMIN_API_KEY: adminKey });
      assert.equal(short.code, 0, show(short));
      const exp = Date.parse(/expires (\S+)/.exec(short.stderr)![1]!);
      assert.ok(Math.abs(exp - Date.now() - 120_000) < 10_000, short.stderr);
      assert.equal((await client(server.url, short.stdout.trim())('GET', '/queues')).status, 200);
      // A token minted with another key is refused.
      const other = await cli(['token', 'alice'], { DATA_DIR: dataDir, ADMIN_API_KEY: 'another-key' });
      assert.equal(other.code, 0, show(other));
      assert.equal((await client(server.url, other.stdout.trim())('GET', '/queues')).status, 401);
    });

    it('export writes every event as JSONL (stop the server first)', async () => {
      const alice = client(server.url, token);
      const bob = client(server.url, await mintToken(server, 'bob'));
      const made: string[] = [];
      const create = async (call: typeof alice, body: object) => {
        const r = await call('POST', '/queues', body);
        assert.equal(r.status, 201, JSON.stringify(r.body));
        made.push(r.body.queue.id);
        return r.body.queue;
      };
      const q1 = await create(alice, {
        name: 'Road trip',
        type: 'party',
        tracks: ['a', 'b', 'c', 'd', 'e'],
        metadata: { zeta: 1, alpha: [1, { b: 2, a: 1 }] },
      });
      const ids = q1.items.map((i: any) => i.itemId);
      const steps: [string, string, unknown][] = [
        ['POST', `/queues/${q1.id}/items/${ids[4]}/move`, { position: 0 }],
        ['DELETE', `/queues/${q1.id}/items/${ids[2]}`, undefined],
        ['PUT', `/queues/${q1.id}/current`, { itemId: ids[1] }],
        ['PUT', `/queues/${q1.id}/shuffle`, { shuffle: true }],
        ['POST', `/queues/${q1.id}/tracks`, { tracks: ['while-shuffled'], afterItemId: ids[1] }],
        ['POST', `/queues/${q1.id}/next`, undefined],
        ['PUT', `/queues/${q1.id}/repeat`, { repeat: 'all' }],
        ['PATCH', `/queues/${q1.id}`, { name: 'Road trip 2' }],
      ];
      for (const [method, path, body] of steps) {
        const r = await alice(method, path, body, { 'x-device-id': 'car' });
        assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.body)}`);
      }
      const q2 = await create(alice, { name: 'Empty' });
      const q3 = await create(bob, { name: "Bob's", tracks: ['x', 'x'] });
      assert.equal((await bob('POST', `/queues/${q3.id}/clear`, {})).status, 200);
      const gone = await create(alice, { name: 'Deleted', tracks: ['z'] });
      assert.equal((await alice('DELETE', `/queues/${gone.id}`)).status, 200);
      deletedId = gone.id;
      for (const [call, id] of [
        [alice, q1.id],
        [alice, q2.id],
        [bob, q3.id],
      ] as const) {
        const r = await call('GET', `/queues/${id}`);
        assert.equal(r.status, 200);
        live.set(id, { owner: call === alice ? 'alice' : 'bob', queue: r.body });
      }
      for (const id of made) logs.set(id, await allEvents(id === q3.id ? bob : alice, id));

      const code = await server.stop();
      assert.equal(code, 0, server.output());

      exportFile = join(tempDir(), 'events.jsonl');
      const env = { DATA_DIR: dataDir, ADMIN_API_KEY: adminKey };
      const [r, toStdout] = await Promise.all([cli(['export', '--out', exportFile], env), cli(['export'], env)]);
      assert.equal(r.code, 0, show(r));
      const total = [...logs.values()].reduce((n, l) => n + l.length, 0);
      assert.match(r.stderr, new RegExp(`exported ${total} events from SQLite file`), show(r));
      const text = readFileSync(exportFile, 'utf8');
      assert.ok(text.endsWith('\n'));
      const lines = text.trimEnd().split('\n');
      assert.equal(lines.length, total);
      exported = lines.map((l) => JSON.parse(l));
      // Every event, each stream in order, with the same fields as the API's event log.
      for (const [id, log] of logs)
        assert.deepEqual(
          exported.filter((e) => e.queueId === id),
          log,
          `events of ${id}`,
        );
      // To stdout: the same lines (progress goes to stderr).
      assert.equal(toStdout.code, 0, show(toStdout));
      assert.equal(toStdout.stdout, text);
    });

    it('import into a fresh data dir, then served, gives identical queues; re-running skips everything', async () => {
      assert.ok(exported, 'the export test ran');
      const fresh = tempDir();
      const env = { DATA_DIR: fresh, ADMIN_API_KEY: adminKey };
      const first = await cli(['import', exportFile], env);
      assert.equal(first.code, 0, show(first));
      assert.match(first.stderr, new RegExp(`imported ${exported.length} events, skipped 0 already present`), show(first));
      const again = await cli(['import', exportFile], env);
      assert.equal(again.code, 0, show(again));
      assert.match(again.stderr, new RegExp(`imported 0 events, skipped ${exported.length} already present`), show(again));

      const copy = await startServer({ dataDir: fresh, adminKey });
      servers.push(copy);
      await assertSameData(copy);
      assert.equal(await copy.stop(), 0);
    });

    it('import into Postgres (from stdin), then served, gives identical queues', { skip: pgSkipReason }, async () => {
      assert.ok(exported, 'the export test ran');
      const db = await createTempDatabase();
      databases.push(db);
      const env = { DATA_DIR: tempDir(), ADMIN_API_KEY: adminKey, DATABASE_URL: db.url };
      const first = await cli(['import'], env, readFileSync(exportFile, 'utf8'));
      assert.equal(first.code, 0, show(first));
      assert.match(first.stderr, new RegExp(`imported ${exported.length} events, skipped 0 already present, into PostgreSQL`), show(first));
      const again = await cli(['import', exportFile], env);
      assert.match(again.stderr, new RegExp(`imported 0 events, skipped ${exported.length} already present`), show(again));
      const copy = await startServer({ dataDir: env.DATA_DIR, adminKey, databaseUrl: db.url });
      servers.push(copy);
      await assertSameData(copy);
      assert.equal(await copy.stop(), 0);
    });

    async function assertSameData(copy: RunningServer) {
      const as = { alice: client(copy.url, await mintToken(copy, 'alice')), bob: client(copy.url, await mintToken(copy, 'bob')) };
      for (const [id, { owner, queue }] of live) {
        const call = as[owner as 'alice' | 'bob'];
        const r = await call('GET', `/queues/${id}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, queue, `queue ${id}`);
        assert.equal(r.headers.get('etag'), `"${queue.version}"`);
        assert.deepEqual(await allEvents(call, id), logs.get(id), `events of ${id}`);
      }
      assert.equal((await as.alice('GET', `/queues/${deletedId}`)).status, 404, 'the deleted queue stays deleted');
      assert.deepEqual(await allEvents(as.alice, deletedId), logs.get(deletedId));
      for (const owner of ['alice', 'bob'] as const) {
        const list = (await as[owner]('GET', '/queues')).body.queues.map((q: any) => q.id).sort();
        assert.deepEqual(
          list,
          [...live]
            .filter(([, v]) => v.owner === owner)
            .map(([id]) => id)
            .sort(),
          `${owner}'s list`,
        );
      }
      // The copy goes on from the imported versions.
      const [id, { owner, queue }] = [...live][0]!;
      const w = await as[owner as 'alice' | 'bob']('POST', `/queues/${id}/tracks`, { tracks: ['after-import'], expectedVersion: queue.version });
      assert.equal(w.status, 200, JSON.stringify(w.body));
      assert.equal(w.body.queue.version, queue.version + 1);
    }
  });
});
