// [QW6][QW8] The stored projection (a snapshot every so many events plus the events after
// it) always equals the fold of the whole log, for random operation sequences (shuffle,
// moves, clears, votes included), on both stores; also after old events are trimmed. And
// idempotency records expire. Run against a real SQLite file and a real PostgreSQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { decide, type QueueCommand } from '../../src/queues/decide.ts';
import { evolve, initialState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { QueueService } from '../../src/queues/service.ts';
import { IdempotencyConflict, type NewEvent, type RetentionOptions, type Store } from '../../src/store/port.ts';
import type { PostgresStore } from '../../src/store/postgres.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { plain } from '../helpers/domain.ts';
import { createTempDatabase, pgSkipReason } from '../helpers/pg.ts';
import { mulberry32 } from '../helpers/random.ts';
import { openTempSqliteStore } from '../helpers/storage.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { openSqliteStore, openPostgresStore } from '../../src/stores.ts';

const SEED = Number(process.env.QS_SEED ?? Date.now() % 1_000_000);
const RUNS = 6;
const STEPS = 120;

/** A random command that makes sense for the state (items picked from the queue). */
function randomCommand(s: QueueState, rnd: () => number): QueueCommand {
  const pick = () => s.items.at(Math.floor(rnd() * s.items.length))?.itemId ?? 'none';
  const place = () => {
    const r = rnd();
    if (r < 0.3) return {};
    if (r < 0.5) return { position: Math.floor(rnd() * (s.items.length + 2)) };
    if (r < 0.75) return { afterItemId: pick() };
    return { beforeItemId: pick() };
  };
  const r = rnd();
  if (s.items.length < 3 || r < 0.3)
    return { type: 'add_tracks', tracks: Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, i) => `t${Math.floor(rnd() * 50)}-${i}`), ...place() };
  if (r < 0.42) return { type: 'remove_items', itemIds: [pick()] };
  if (r < 0.6) return { type: 'move_item', itemId: pick(), ...place() };
  if (r < 0.7) return { type: 'next' };
  if (r < 0.74) return { type: 'previous' };
  if (r < 0.8) return { type: 'set_shuffle', shuffle: !s.shuffle };
  if (r < 0.84) return { type: 'set_repeat', repeat: (['off', 'all', 'one'] as const)[Math.floor(rnd() * 3)]! };
  if (r < 0.9) return { type: 'vote_item', itemId: pick(), vote: rnd() < 0.5 ? 1 : -1 };
  if (r < 0.93) return { type: 'update_settings', voteOrder: !s.settings.voteOrder };
  if (r < 0.96) return { type: 'clear', upcomingOnly: true };
  if (r < 0.97) return { type: 'clear' };
  return { type: 'set_current', itemId: pick() };
}

function stores(): { name: string; skip: string | false; make(o: RetentionOptions): Promise<{ store: Store; cleanup(): Promise<void> }> }[] {
  return [
    {
      name: 'SqliteStore (temp file)',
      skip: false,
      async make(o) {
        return openTempSqliteStore('qs-snap-', o);
      },
    },
    {
      name: 'PostgresStore (fresh database)',
      skip: pgSkipReason,
      async make(o) {
        const db = await createTempDatabase();
        const store = openPostgresStore({ connectionString: db.url, max: 4, ...o });
        await store.migrate();
        return {
          store,
          cleanup: async () => {
            await store.close();
            await db.drop();
          },
        };
      },
    },
  ];
}

for (const kind of stores()) {
  describe(`snapshots and the fold on ${kind.name}`, { skip: kind.skip }, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      // Small intervals, so every run crosses many snapshots.
      ({ store, cleanup } = await kind.make({ snapshotMinEvents: 3, snapshotItemsPerEvent: 4, idempotencyTtlMs: 300 }));
    });
    after(() => cleanup());

    it(`[QW6] the stored queue equals the fold of its log after every append (seed ${SEED})`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const rnd = mulberry32(SEED + run);
        const queueId = randomUUID();
        let n = 0;
        let t = Date.parse('2025-01-01T00:00:00.001Z');
        let state = initialState(queueId);
        const all: QueueEvent[] = [];
        const ctx = () => ({ userId: 'u', newId: () => `i${run}-${++n}`, random: rnd, maxItems: 10_000 });
        for (let step = 0; step < STEPS; step++) {
          const cmd: QueueCommand = step === 0 ? { type: 'create_queue', name: 'p', queueType: 'user', tracks: ['a', 'b', 'c'] } : randomCommand(state, rnd);
          let bodies: ReturnType<typeof decide>;
          try {
            bodies = decide(state, cmd, ctx());
          } catch (err) {
            if (err instanceof AppError) continue;
            throw err;
          }
          if (bodies.length === 0) continue;
          const ts = new Date(t++).toISOString();
          const events: NewEvent[] = bodies.map((b) => ({ ...b, userId: 'u', deviceId: null, timestamp: ts }));
          const stored = events.map((e, i) => ({ ...e, queueId, sequenceNumber: state.version + i + 1 }) as QueueEvent);
          const next = stored.reduce(evolve, state);
          await store.append({ queueId, expectedVersion: state.version, events, state: next });
          state = next;
          all.push(...stored);
          const loaded = await store.loadQueue(queueId);
          const folded = all.reduce(evolve, initialState(queueId));
          assert.deepEqual(plain(loaded), plain(folded), `seed ${SEED + run}, step ${step} (${cmd.type})`);
          assert.equal(await store.queueVersion(queueId), folded.version);
        }
        // [QW8] Trimming every event at or below the snapshot changes nothing that loads.
        const before = await store.loadQueue(queueId);
        await store.sweep({ idempotencyBefore: 0, eventsBefore: Date.now() + 60_000, limit: 100_000 });
        // An empty log (everything was at or below the snapshot) begins after the version.
        const start = (await store.logStart(queueId)) ?? state.version + 1;
        assert.ok(start > 1, 'some events were trimmed');
        const rest = await store.readEvents(queueId, 0, 10_000);
        assert.equal(rest[0]?.sequenceNumber ?? state.version + 1, start);
        assert.deepEqual(plain(await store.loadQueue(queueId)), plain(before));
      }
    });

    it('[Q2] an idempotency record expires: after its time it is ignored and the key can be used again', async () => {
      const queueId = randomUUID();
      const ts = new Date().toISOString();
      const state = [
        {
          type: 'queue_created',
          data: { name: 'x', type: 'user', ownerId: 'u', metadata: {} },
          queueId,
          sequenceNumber: 1,
          userId: 'u',
          deviceId: null,
          timestamp: ts,
        } as QueueEvent,
      ].reduce(evolve, initialState(queueId));
      const idem = { userId: 'u', key: 'k1', fingerprint: 'f', response: { status: 201, body: { first: true } } };
      await store.append({
        queueId,
        expectedVersion: 0,
        events: [{ type: 'queue_created', data: { name: 'x', type: 'user', ownerId: 'u', metadata: {} }, userId: 'u', deviceId: null, timestamp: ts }],
        state,
        idempotency: idem,
      });
      assert.deepEqual((await store.getIdempotency('u', 'k1'))?.body, { first: true });
      // While it lives, the same key is a conflict.
      const upd = { type: 'queue_updated' as const, data: { name: 'y' }, userId: 'u', deviceId: null, timestamp: ts };
      const s2 = evolve(state, { ...upd, queueId, sequenceNumber: 2 });
      await assert.rejects(store.append({ queueId, expectedVersion: 1, events: [upd], state: s2, idempotency: idem }), IdempotencyConflict);
      await waitFor(async () => (await store.getIdempotency('u', 'k1')) === null, { what: 'k1 expired' });
      await store.append({
        queueId,
        expectedVersion: 1,
        events: [upd],
        state: s2,
        idempotency: { ...idem, response: { status: 200, body: { second: true } } },
      });
      assert.deepEqual((await store.getIdempotency('u', 'k1'))?.body, { second: true });
      // Once the second record is older than the cutoff the sweep deletes it.
      await waitFor(async () => (await store.sweep({ idempotencyBefore: Date.now() - 300 })).idempotencyRecords >= 1, { what: 'a record swept' });
    });

    it('[Q2] through the service: a retry after its record expired is a new write', async () => {
      const service = new QueueService({ store, now: Date.now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 100 });
      const actor = { userId: 'v', deviceId: null };
      const q = await service.create(actor, { name: 'r', tracks: ['a'] });
      const id = q.body.queue!.id;
      const opts = { idempotencyKey: 'retry-1', fingerprint: 'same' };
      const first = await service.execute(actor, id, { type: 'add_tracks', tracks: ['b'] }, opts);
      const replay = await service.execute(actor, id, { type: 'add_tracks', tracks: ['b'] }, opts);
      assert.equal(replay.replayed, true);
      assert.deepEqual(replay.body, first.body);
      await waitFor(async () => (await store.getIdempotency('v', 'retry-1')) === null, { what: 'the record of retry-1 expired' });
      const later = await service.execute(actor, id, { type: 'add_tracks', tracks: ['b'] }, opts);
      assert.equal(later.replayed, false);
      assert.equal(later.body.version, first.body.version + 1);
      assert.equal((await service.peek(id))!.items.length, 3);
    });
  });
}

describe('[QW6] migration 008 on a store written before it', () => {
  const state = (() => {
    const q = 'old-queue';
    const ts = '2025-06-01T10:00:00.000Z';
    const evs: QueueEvent[] = [
      {
        type: 'queue_created',
        data: { name: 'old', type: 'user', ownerId: 'o', metadata: {} },
        queueId: q,
        sequenceNumber: 1,
        userId: 'o',
        deviceId: null,
        timestamp: ts,
      },
      { type: 'item_added', data: { itemId: 'i1', trackId: 't1', key: 'a0' }, queueId: q, sequenceNumber: 2, userId: 'o', deviceId: null, timestamp: ts },
      { type: 'item_added', data: { itemId: 'i2', trackId: 't2', key: 'a1' }, queueId: q, sequenceNumber: 3, userId: 'o', deviceId: null, timestamp: ts },
    ];
    return { evs, final: evs.reduce(evolve, initialState(q)) };
  })();

  it('SQLite: the old projection becomes the snapshot, and loads and appends go on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qs-mig-'));
    const store = openSqliteStore(join(dir, 'queue.db'), { snapshotMinEvents: 2 });
    try {
      for (const m of loadMigrations('sqlite').filter((m) => m.version < 8)) {
        store.db.exec(m.sql);
        store.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }
      const ins = store.db.prepare(
        'INSERT INTO queue_events (queue_id, sequence_number, type, data, user_id, device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (const e of state.evs) ins.run(e.queueId, e.sequenceNumber, e.type, JSON.stringify(e.data), e.userId, e.deviceId, e.timestamp);
      store.db
        .prepare(
          'INSERT INTO queue_projections (queue_id, owner_id, name, type, version, item_count, deleted, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)',
        )
        .run('old-queue', 'o', 'old', 'user', 3, 2, JSON.stringify(state.final), state.final.updatedAt);
      assert.deepEqual(
        await store.migrate(),
        ['008_snapshots'].concat(
          loadMigrations('sqlite')
            .filter((m) => m.version > 8)
            .map((m) => m.name),
        ),
      );
      assert.deepEqual(plain(await store.loadQueue('old-queue')), plain(state.final));
      const e4 = { type: 'item_removed' as const, data: { itemId: 'i1' }, userId: 'o', deviceId: null, timestamp: '2025-06-01T10:00:01.000Z' };
      const next = evolve(state.final, { ...e4, queueId: 'old-queue', sequenceNumber: 4 });
      await store.append({ queueId: 'old-queue', expectedVersion: 3, events: [e4], state: next });
      assert.deepEqual(plain(await store.loadQueue('old-queue')), plain(next));
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('[QW6] the state cache and another process writing the SQLite file', () => {
  it('a write through another connection is seen by the next read (PRAGMA data_version)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qs-foreign-'));
    const file = join(dir, 'queue.db');
    const mine = openSqliteStore(file);
    const other = openSqliteStore(file);
    try {
      await mine.migrate();
      await other.migrate();
      const service = new QueueService({ store: mine, now: Date.now, newId: randomUUID, random: Math.random, maxItemsPerQueue: 100 });
      const actor = { userId: 'f', deviceId: null };
      const id = (await service.create(actor, { name: 'f', tracks: ['a'] })).body.queue!.id;
      const first = await service.get(actor, id);
      assert.equal(first.items.length, 1);
      // The read path's shortcut: the cached state, for a reader only.
      assert.equal(service.getCached(actor, id), first);
      assert.equal(service.getCached({ userId: 'stranger', deviceId: null }, id), undefined);
      // Another process (a CLI import, say) appends to the same queue.
      const before = (await other.loadQueue(id))!;
      const e = {
        type: 'item_added' as const,
        data: { itemId: 'from-elsewhere', trackId: 'b', key: 'a5' },
        userId: 'f',
        deviceId: null,
        timestamp: new Date().toISOString(),
      };
      await other.append({
        queueId: id,
        expectedVersion: before.version,
        events: [e],
        state: evolve(before, { ...e, queueId: id, sequenceNumber: before.version + 1 }),
      });
      // A time, not a condition: past foreignWrites' once-a-millisecond read of data_version.
      await sleep(5);
      assert.equal(service.getCached(actor, id), undefined, 'no shortcut once another connection committed');
      const seen = await service.get(actor, id);
      assert.equal(service.getCached(actor, id), seen, 'read again, cached again');
      assert.deepEqual(
        seen.items.map((i) => i.trackId),
        ['a', 'b'],
      );
      assert.equal(seen.version, before.version + 1);
    } finally {
      await mine.close();
      await other.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The snapshot version in the header row, read from the database itself. */
async function headerSnapshot(store: Store, queueId: string): Promise<number> {
  if (store instanceof SqliteStore)
    return (store.db.prepare('SELECT snapshot_version AS v FROM queue_projections WHERE queue_id = ?').get(queueId) as { v: number }).v;
  return (await (store as PostgresStore).pool.query<{ v: number }>('SELECT snapshot_version AS v FROM queue_projections WHERE queue_id = $1', [queueId]))
    .rows[0]!.v;
}

for (const kind of stores()) {
  describe(`a long queue's snapshot is written after its append (${kind.name})`, { skip: kind.skip }, () => {
    it('[QW6] 1,200 items: the due snapshot lands a little later and loads equal the fold throughout', async () => {
      const { store, cleanup } = await kind.make({});
      try {
        const queueId = randomUUID();
        let n = 0;
        let state = initialState(queueId);
        const ctx = () => ({ userId: 'u', newId: () => `i${++n}`, random: () => 0.5, maxItems: 10_000 });
        const apply = async (cmd: QueueCommand) => {
          const events: NewEvent[] = decide(state, cmd, ctx()).map((b) => ({ ...b, userId: 'u', deviceId: null, timestamp: new Date().toISOString() }));
          const next = events.map((e, i) => ({ ...e, queueId, sequenceNumber: state.version + i + 1 }) as QueueEvent).reduce(evolve, state);
          await store.append({ queueId, expectedVersion: state.version, events, state: next });
          state = next;
        };
        await apply({ type: 'create_queue', name: 'long', queueType: 'user', tracks: Array.from({ length: 400 }, (_, i) => `a${i}`) });
        await apply({ type: 'add_tracks', tracks: Array.from({ length: 400 }, (_, i) => `b${i}`) });
        await apply({ type: 'add_tracks', tracks: Array.from({ length: 400 }, (_, i) => `c${i}`) });
        const first = await headerSnapshot(store, queueId);
        // max(64, 1,200 / 8) = 150 events between snapshots.
        for (let i = 0; i < 160; i++) await apply({ type: 'next' });
        assert.deepEqual(plain(await store.loadQueue(queueId)), plain(state));
        // The snapshot is written off the append path: wait until the header moved on.
        const later = await waitFor(
          async () => {
            const at = await headerSnapshot(store, queueId);
            return at !== first ? at : null;
          },
          { what: 'a later snapshot' },
        );
        assert.ok(later > first && later <= state.version, `the snapshot moved from ${first} to ${later} (version ${state.version})`);
        assert.deepEqual(plain(await store.loadQueue(queueId)), plain(state));
        if (store instanceof SqliteStore) {
          // Written as UTF-8 bytes, stored as the TEXT it is (sqlite3 and the catalog read it as text).
          const row = store.db.prepare('SELECT typeof(state) AS t, state FROM queue_snapshots WHERE queue_id = ?').get(queueId) as { t: string; state: string };
          assert.equal(row.t, 'text');
          assert.equal(JSON.parse(row.state).items.length, 1200);
        }
      } finally {
        await cleanup();
      }
    });
  });
}
