// Issue 12 on PostgreSQL with real server processes: the recommender's readiness (a
// build held up by a lock on the catalog table: /readyz and the catalog / radio routes
// answer 503 with Retry-After at once, the queue API keeps working), and catalog writes
// committed out of rev order, and deletes, reaching another instance without a restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../helpers/pg.ts';
import { client, mintToken, startServer, type RunningServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('recommender on two PostgreSQL instances (issue 12)', { skip: pgSkipReason, timeout: 90_000 }, () => {
  let db: TempDatabase;
  let a: RunningServer;
  let b: RunningServer | undefined;
  const adminKey = randomBytes(16).toString('hex');
  const track = (id: string) => ({ id, title: `Title ${id}`, artist: `Artist of ${id}` });

  before(async () => {
    db = await createTempDatabase();
    a = await startServer({ databaseUrl: db.url, adminKey });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  it('[12.6] /readyz is 503 with Retry-After until the recommender is built; its routes answer 503 at once, not a hang', async () => {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE catalog_tracks IN ACCESS EXCLUSIVE MODE');
      b = await startServer({ databaseUrl: db.url, adminKey, waitReady: false });
      const anon = client(b.url);
      const user = client(b.url, await mintToken(b, 'ann'));
      assert.equal((await anon('GET', '/healthz')).status, 200);
      const ready = await anon('GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.error.code, 'recommender_not_ready');
      assert.equal(ready.headers.get('retry-after'), '2');
      // The build's progress (issue 24): how far it got, with memory.
      assert.deepEqual(Object.keys(ready.body.error.details.progress).sort(), ['baskets', 'heapMb', 'ms', 'rssMb', 'tracks']);
      assert.ok(ready.body.error.details.progress.rssMb > 0);
      const t0 = performance.now();
      const radio = await user('POST', `/radio/${encodeURIComponent('artist:Anyone')}/queue`, { userId: 'me' });
      const search = await user('GET', '/catalog/search?q=x');
      assert.ok(performance.now() - t0 < 2000, 'answered at once');
      for (const r of [radio, search]) {
        assert.equal(r.status, 503, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'recommender_not_ready');
        assert.equal(r.headers.get('retry-after'), '2');
      }
      assert.equal((await user('POST', '/queues', { name: 'still works', tracks: ['t1'] })).status, 201, 'the queue API does not wait');
      await locker.query('COMMIT');
      let status = 0;
      await waitFor(async () => (status = (await anon('GET', '/readyz')).status) === 200, {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: () => `readyz ${status}`,
      });
      assert.equal(status, 200, 'ready once the build could read the catalog');
      assert.equal((await user('GET', '/catalog/search?q=x')).status, 200);
    } finally {
      await locker.end();
    }
  });

  it('[12.8] a track upsert committed out of rev order, and a delete, reach the other instance without a restart', async () => {
    assert.ok(b, 'the second instance runs');
    const adminA = client(a.url, adminKey);
    const onB = client(b!.url, await mintToken(b!, 'ann'));
    const found = async (q: string, id: string) => (await onB('GET', `/catalog/search?q=${encodeURIComponent(q)}`)).body.tracks.some((t: any) => t.id === id);
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      // A transaction takes its rev first and commits last.
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO catalog_tracks (track_id, title, artist, genres, rev, updated_at) VALUES ('late', 'Latecomer', 'Slow', '[]', nextval('catalog_rev_seq'), now())`,
      );
      assert.equal((await adminA('POST', '/catalog/tracks', { tracks: [track('early')] })).status, 200);
      await waitFor(() => found('Title early', 'early'), { timeoutMs: 5000, intervalMs: 100, what: 'instance b caught up past the open transaction' });
      await writer.query('COMMIT');
      await waitFor(() => found('Latecomer', 'late'), { timeoutMs: 10_000, intervalMs: 100, what: 'the lower rev committed later reached instance b' });
    } finally {
      await writer.end();
    }
    assert.equal((await adminA('DELETE', '/catalog/tracks/early')).status, 200);
    await waitFor(async () => !(await found('Title early', 'early')), { timeoutMs: 5000, intervalMs: 100, what: 'the delete reached instance b' });
  });
});
