// Migration 023 (issue 21) on a data file written before it: queue events keep their
// positions and order, AUTOINCREMENT and the two unused indexes are gone, new events get
// positions after the old ones, and a trim that empties old history never lets a position
// be handed out twice. A real SQLite file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { decide } from '../../src/queues/decide.ts';
import { evolve, initialState, type QueueState } from '../../src/queues/queue.ts';
import type { NewEvent } from '../../src/store/port.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { openSqliteStore, sqliteStorage } from '../../src/stores.ts';

/** Appends `n` adds to a queue through the store, as the service would. */
async function addTracks(store: SqliteStore, state: QueueState, n: number, at: string): Promise<QueueState> {
  let ids = 0;
  for (let i = 0; i < n; i++) {
    const bodies = decide(
      state,
      i === 0 && state.version === 0
        ? { type: 'create_queue', name: 'old', queueType: 'user', tracks: [], metadata: {} }
        : { type: 'add_tracks', tracks: [`t${i}`] },
      { userId: 'u', newId: () => `${state.id}-i${ids++}`, random: () => 0.5, maxItems: 1000, role: 'owner', time: Date.parse(at) },
    );
    const events: NewEvent[] = bodies.map((b) => ({ ...b, userId: 'u', deviceId: null, timestamp: at }) as NewEvent);
    const next = events.map((e, k) => ({ ...e, queueId: state.id, sequenceNumber: state.version + k + 1 })).reduce(evolve as never, state) as QueueState;
    await store.append({ queueId: state.id, expectedVersion: state.version, events, state: next });
    state = next;
  }
  return state;
}

describe('migration 023 on a file written before it (SQLite)', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qs-mig-'));
    file = join(dir, 'queue.db');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every event and position, drops AUTOINCREMENT and the unused indexes, appends after the old positions', async () => {
    const old = openSqliteStore(file, {});
    assert.ok(!(await old.migrate(22)).includes('023_lean_commits'));
    const past = new Date(Date.now() - 40 * 86_400_000).toISOString();
    let a = await addTracks(old, initialState('qa'), 6, past);
    const b = await addTracks(old, initialState('qb'), 4, past);
    const before = await old.readAll(0, 1000);
    await old.close();
    const raw = new Database(file);
    assert.match((raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'queue_events'").get() as { sql: string }).sql, /AUTOINCREMENT/);
    assert.equal((raw.prepare("SELECT COUNT(*) AS n FROM sqlite_sequence WHERE name = 'queue_events'").get() as { n: number }).n, 1);
    raw.close();

    const store = openSqliteStore(file, {});
    assert.ok((await store.migrate()).includes('023_lean_commits'));
    assert.deepEqual(await store.readAll(0, 1000), before, 'same events, same positions, same order');
    const db = (store as SqliteStore).db;
    assert.doesNotMatch((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'queue_events'").get() as { sql: string }).sql, /AUTOINCREMENT/);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name);
    assert.ok(!indexes.includes('queue_events_created') && !indexes.includes('queue_projections_owner'), indexes.join(', '));
    assert.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_sequence WHERE name = 'queue_events'").get() as { n: number }).n, 0);
    assert.deepEqual(await store.loadQueue('qa'), a);
    assert.deepEqual(await store.loadQueue('qb'), b);

    // New events come after the old ones.
    a = await addTracks(store, a, 2, new Date().toISOString());
    const all = await store.readAll(0, 1000);
    const positions = all.map((e) => e.position);
    assert.deepEqual(
      positions,
      [...positions].sort((x, y) => x - y),
    );
    assert.ok(positions[positions.length - 1]! > before[before.length - 1]!.position);
    assert.deepEqual(await store.loadQueue('qa'), a);
    await store.close();
  });

  it('a trim of all old history keeps the newest event, so that positions are never handed out again', async () => {
    const store = openSqliteStore(join(dir, 'trim.db'), { snapshotMinEvents: 1 });
    await store.migrate();
    const past = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await addTracks(store, initialState('q1'), 5, past);
    const last = await addTracks(store, initialState('q2'), 3, past);
    const top = (await store.readAll(0, 1000)).at(-1)!.position;
    const r = await store.sweep({ idempotencyBefore: Date.now(), eventsBefore: Date.now() - 86_400_000 });
    assert.ok(r.events >= 6, `trimmed ${r.events}`);
    const left = await store.readAll(0, 1000);
    assert.equal(left.at(-1)!.position, top, 'the newest event is kept');
    await addTracks(store, last, 1, new Date().toISOString());
    assert.ok((await store.readAll(0, 1000)).at(-1)!.position > top, 'a new event gets a new position');
    await store.close();
  });
});

describe('migration 026 on a file written before it (SQLite)', () => {
  it('keeps every play and its id, drops AUTOINCREMENT and the unused index; new plays get ids after the old ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qs-mig26-'));
    const file = join(dir, 'queue.db');
    try {
      const play = (userId: string, trackId: string, action: 'play' | 'skip', occurredAt: string) => ({
        userId,
        sessionId: 's',
        trackId,
        action,
        position: null,
        source: 'queue:q',
        contextType: 'user_collection',
        hour: 9,
        context: { activity: 'run' },
        occurredAt,
      });
      const old = openSqliteStore(file, {});
      assert.ok(!(await old.migrate(25)).includes('026_lean_plays'));
      const oldCatalog = sqliteStorage(old).features().catalog;
      const t0 = new Date(Date.now() - 3_600_000).toISOString();
      const ids = await oldCatalog.appendEvents([play('u1', 'a', 'play', t0), play('u2', 'b', 'skip', t0), play('u1', 'c', 'play', t0)]);
      const before = await oldCatalog.eventsAfter(0, 100);
      await old.close();
      const raw = new Database(file);
      assert.match((raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'listening_events'").get() as { sql: string }).sql, /AUTOINCREMENT/);
      raw.close();

      const store = openSqliteStore(file, {});
      assert.ok((await store.migrate()).includes('026_lean_plays'));
      const catalog = sqliteStorage(store).features().catalog;
      assert.deepEqual(await catalog.eventsAfter(0, 100), before, 'same plays, same ids, same order');
      const db = store.db;
      assert.doesNotMatch((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'listening_events'").get() as { sql: string }).sql, /AUTOINCREMENT/);
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'listening_events'").all() as { name: string }[]).map(
        (r) => r.name,
      );
      assert.deepEqual(indexes, ['listening_events_user_time']);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_sequence WHERE name = 'listening_events'").get() as { n: number }).n, 0);
      // The listener's recent plays and skips still come from the index that is left.
      const plan = db
        .prepare(
          "EXPLAIN QUERY PLAN SELECT track_id FROM listening_events WHERE user_id = ? AND occurred_at >= ? AND action = 'skip' ORDER BY occurred_at DESC LIMIT 5",
        )
        .all('u2', t0) as { detail: string }[];
      assert.ok(
        plan.some((p) => p.detail.includes('listening_events_user_time')),
        plan.map((p) => p.detail).join('; '),
      );

      const more = await catalog.appendEvents([play('u1', 'd', 'play', new Date().toISOString())]);
      assert.ok(more[0]! > ids[ids.length - 1]!, `${more[0]} after ${ids.at(-1)}`);
      assert.deepEqual(
        (await catalog.eventsAfter(ids[ids.length - 1]!, 100)).map((e) => [e.id, e.trackId]),
        [[more[0], 'd']],
      );
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
