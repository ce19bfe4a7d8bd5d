// The catalog store's issue-12 parts, one contract for SQLite (a real temp file) and
// PostgreSQL (a fresh database): tombstones, radio history, the per-user window, stored
// answers of keyed writes, and queue baskets without the tracks an extend chose.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CatalogStore } from '../../src/catalog/store.ts';
import { QueueService } from '../../src/queues/service.ts';
import type { Store } from '../../src/store/port.ts';
import type { PostgresStore } from '../../src/store/postgres.ts';
import { openPostgresStore, openSqliteStore, postgresStorage, sqliteStorage } from '../../src/stores.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../helpers/pg.ts';

const kinds = [
  { kind: 'sqlite', skip: false as const },
  { kind: 'postgres', skip: pgSkipReason },
];

for (const { kind, skip } of kinds) {
  describe(`catalog store, issue 12 (${kind})`, { skip }, () => {
    let store: Store;
    let catalog: CatalogStore;
    let dir: string | null = null;
    let db: TempDatabase | null = null;
    const now = '2026-11-30T12:00:00.000Z';

    before(async () => {
      if (kind === 'sqlite') {
        dir = await mkdtemp(join(tmpdir(), 'qs-cat-'));
        store = openSqliteStore(join(dir, 'q.db'));
      } else {
        db = await createTempDatabase();
        store = openPostgresStore({ connectionString: db.url, max: 4 });
      }
      await store.migrate();
      catalog = (kind === 'sqlite' ? sqliteStorage(store as SqliteStore) : postgresStorage(store as PostgresStore)).features().catalog;
    });

    after(async () => {
      await store?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      await db?.drop();
    });

    it('a delete is a tombstone with a new rev; an upsert brings the track back', async () => {
      await catalog.upsertTracks(
        [
          { id: 'x1', title: 'One', artist: 'A' },
          { id: 'x2', title: 'Two', artist: 'A' },
        ],
        now,
      );
      const before = Math.max(...(await catalog.tracksAfter(0, 100)).map((t) => t.rev));
      assert.equal(await catalog.deleteTrack('x1', now), true);
      assert.equal(await catalog.deleteTrack('x1', now), false, 'already gone');
      assert.equal(await catalog.getTrack('x1'), null);
      const after = await catalog.tracksAfter(before, 100);
      assert.deepEqual(
        after.map((t) => [t.id, t.deleted ?? false]),
        [['x1', true]],
      );
      assert.deepEqual(await catalog.upsertTracks([{ id: 'x1', title: 'One again', artist: 'A' }], now), { created: 1, updated: 0 });
      assert.equal((await catalog.getTrack('x1'))?.title, 'One again');
      // Many at once: live tracks only, without their revision.
      await catalog.deleteTrack('x2', now);
      const some = await catalog.getTracks(['x1', 'x2', 'unknown']);
      assert.deepEqual(
        some.map((t) => t.id),
        ['x1'],
      );
      assert.deepEqual(some[0], await catalog.getTrack('x1'));
      assert.ok(!('rev' in some[0]!));
      assert.deepEqual(await catalog.getTracks([]), []);
      await catalog.upsertPlaylists([{ id: 'p1', name: 'P', followers: null, tracks: ['x1', 'x2'] }], now);
      assert.equal(await catalog.deletePlaylist('p1', now), true);
      assert.equal(await catalog.getPlaylist('p1'), null);
      assert.equal((await catalog.playlistsAfter(0, 100)).find((p) => p.id === 'p1')?.deleted, true);
    });

    it('radio history per station for its whole life, and the per-user window', async () => {
      await catalog.recordQueued('q-a', 'u1', ['t1', 't2', 't2'], '2026-11-01T00:00:00.000Z');
      await catalog.recordQueued('q-a', 'u1', ['t3'], '2026-11-29T00:00:00.000Z');
      await catalog.recordQueued('q-b', 'u2', ['t9'], '2026-11-29T00:00:00.000Z');
      assert.deepEqual((await catalog.stationTracks('q-a', 100)).sort(), ['t1', 't2', 't3']);
      assert.deepEqual(await catalog.stationTracks('q-a', 1), ['t3'], 'capped: the newest first');
      await catalog.appendEvents([
        {
          userId: 'u1',
          sessionId: null,
          trackId: 'p1',
          action: 'complete',
          position: null,
          source: null,
          contextType: null,
          hour: null,
          context: null,
          occurredAt: '2026-11-28T00:00:00.000Z',
        },
        {
          userId: 'u1',
          sessionId: null,
          trackId: 'p0',
          action: 'like',
          position: null,
          source: null,
          contextType: null,
          hour: null,
          context: null,
          occurredAt: '2026-11-28T00:00:00.000Z',
        },
        {
          userId: 'u1',
          sessionId: null,
          trackId: 'old',
          action: 'complete',
          position: null,
          source: null,
          contextType: null,
          hour: null,
          context: null,
          occurredAt: '2026-10-01T00:00:00.000Z',
        },
      ]);
      const since = '2026-11-15T00:00:00.000Z';
      const r = await catalog.userRecentTracks('u1', { since, limit: 10, skipsSince: '2026-01-01T00:00:00.000Z', skipLimit: 10 });
      assert.deepEqual(r.recent.sort(), ['p1', 't3'], 'plays and radio tracks since then; no likes, nothing older');
      assert.deepEqual(r.skipped, []);
      await catalog.appendEvents(
        ['s1', 's2', 's3'].map((trackId, i) => ({
          userId: 'u1',
          sessionId: null,
          trackId,
          action: 'skip' as const,
          position: null,
          source: null,
          contextType: null,
          hour: null,
          context: null,
          occurredAt: `2026-0${i + 6}-01T00:00:00.000Z`,
        })),
      );
      const capped = await catalog.userRecentTracks('u1', { since, limit: 1, skipsSince: '2026-06-15T00:00:00.000Z', skipLimit: 1 });
      assert.deepEqual(capped.recent.sort(), ['p1', 't3'], 'the newest of each source');
      assert.deepEqual(capped.skipped, ['s3'], 'skips since skipsSince, newest first, capped; a skip is not a recent play');
      const twoSkips = await catalog.userRecentTracks('u1', { since, limit: 0, skipsSince: '2026-06-15T00:00:00.000Z', skipLimit: 10 });
      assert.deepEqual({ recent: twoSkips.recent, skipped: twoSkips.skipped.sort() }, { recent: [], skipped: ['s2', 's3'] }, 'not s1: before skipsSince');
      // The sweeper's prune: rows queued before the time go, a batch at a time.
      assert.equal(await catalog.pruneRadioHistory('2026-11-15T00:00:00.000Z', 1), 1);
      assert.equal(await catalog.pruneRadioHistory('2026-11-15T00:00:00.000Z', 10), 1);
      assert.equal(await catalog.pruneRadioHistory('2026-11-15T00:00:00.000Z', 10), 0);
      assert.deepEqual((await catalog.stationTracks('q-a', 100)).sort(), ['t3']);
      assert.deepEqual(await catalog.stationTracks('q-b', 100), ['t9']);
    });

    it('keeps the first answer of a key', async () => {
      const k = randomUUID();
      assert.equal(await catalog.getAnswer('u1', k), null);
      assert.equal(await catalog.saveAnswer('u1', k, { fingerprint: 'f', status: 201, body: { a: [1, 'x'] } }, now), true);
      assert.equal(await catalog.saveAnswer('u1', k, { fingerprint: 'g', status: 200, body: {} }, now), false);
      assert.deepEqual(await catalog.getAnswer('u1', k), { fingerprint: 'f', status: 201, body: { a: [1, 'x'] } });
      assert.equal(await catalog.getAnswer('u2', k), null, 'keys are per user');
    });

    it('lets an answer expire: not read back from before `since`, and replaced by the next save', async () => {
      const k = randomUUID();
      const since = '2026-01-02T00:00:00.000Z';
      assert.equal(await catalog.saveAnswer('u1', k, { fingerprint: 'f', status: 201, body: {} }, '2026-01-01T00:00:00.000Z'), true);
      assert.equal(await catalog.getAnswer('u1', k, since), null, 'recorded before the cutoff: expired');
      assert.deepEqual(await catalog.getAnswer('u1', k), { fingerprint: 'f', status: 201, body: {} }, 'without a cutoff it is there');
      assert.equal(await catalog.saveAnswer('u1', k, { fingerprint: 'g', status: 200, body: { b: 1 } }, '2026-01-03T00:00:00.000Z', since), true);
      assert.deepEqual(await catalog.getAnswer('u1', k, since), { fingerprint: 'g', status: 200, body: { b: 1 } });
      assert.equal(
        await catalog.saveAnswer('u1', k, { fingerprint: 'h', status: 200, body: {} }, '2026-01-04T00:00:00.000Z', since),
        false,
        'a live record is kept',
      );
      // The sweeper's part: answers recorded before the time go, a batch at a time.
      const old = randomUUID();
      await catalog.saveAnswer('u2', old, { fingerprint: 'f', status: 201, body: {} }, '2026-01-01T12:00:00.000Z');
      await catalog.saveAnswer('u3', old, { fingerprint: 'f', status: 201, body: {} }, '2026-01-01T13:00:00.000Z');
      assert.equal(await catalog.sweepAnswers('2026-01-02T12:00:00.000Z', 1), 1, 'one batch of one');
      assert.equal(await catalog.sweepAnswers('2026-01-02T12:00:00.000Z', 10), 1);
      assert.equal(await catalog.sweepAnswers('2026-01-02T12:00:00.000Z', 10), 0);
      assert.equal(await catalog.getAnswer('u2', old), null, 'swept');
      assert.equal(await catalog.getAnswer('u3', old), null, 'swept');
      assert.deepEqual(await catalog.getAnswer('u1', k), { fingerprint: 'g', status: 200, body: { b: 1 } }, 'a newer answer stays');
    });

    it('queue baskets leave out the tracks an extend chose', async () => {
      let n = 0;
      const queues = new QueueService({
        store,
        now: () => Date.parse(now),
        newId: () => `id-${kind}-${++n}`,
        random: Math.random,
        maxItemsPerQueue: 100,
        addsPerMinute: 100,
        maxCollaborators: 10,
      });
      const q = (await queues.create({ userId: 'u1', deviceId: null }, { name: 'mine', tracks: ['m1', 'm2', 'm3', 'm4'] })).body.queue!;
      await catalog.recordQueued(q.id, 'u1', ['m3'], now);
      const got = (await catalog.queueTracks(10)).find((x) => x.queueId === q.id);
      assert.deepEqual(got?.trackIds, ['m1', 'm2', 'm4']);
    });
  });
}
