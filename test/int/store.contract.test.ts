// One storage contract, run against every adapter: SQLite on a real temp file and
// Postgres on a fresh database. Any behaviour the service relies on belongs here.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateNKeysBetween } from 'fractional-indexing';
import { VersionConflictError } from '../../src/errors.ts';
import { evolve, initialState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { IdempotencyConflict, type AppendInput, type NewEvent, type Store } from '../../src/store/port.ts';
import { plain } from '../helpers/domain.ts';
import { createTempDatabase, pgSkipReason } from '../helpers/pg.ts';
import { openSqliteStore, openPostgresStore } from '../../src/stores.ts';

// Distinct, strictly increasing times with non-zero milliseconds (so a store that drops
// or rounds them fails the exact round-trip checks).
let tick = 0;
const T0 = Date.parse('2024-05-01T10:00:00.007Z');
const nextTime = () => new Date(T0 + ++tick * 1013).toISOString();

const uid = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

function created(ownerId: string, opts: { name?: string; deviceId?: string | null; metadata?: Record<string, unknown>; at?: string } = {}): NewEvent {
  return {
    type: 'queue_created',
    data: { name: opts.name ?? 'My queue', type: 'user', ownerId, metadata: opts.metadata ?? {} },
    userId: ownerId,
    deviceId: opts.deviceId ?? null,
    timestamp: opts.at ?? nextTime(),
  };
}

function added(trackId: string, key: string, userId: string, deviceId: string | null = null, at = nextTime()): NewEvent {
  return { type: 'item_added', data: { itemId: randomUUID(), trackId, key }, userId, deviceId, timestamp: at };
}

/** The append input for `events` on top of `base`, with `state` folded by the domain's evolve. */
function plan(queueId: string, base: QueueState | null, events: NewEvent[]): AppendInput {
  const v = base?.version ?? 0;
  const seq = events.map((e, i) => ({ ...e, queueId, sequenceNumber: v + i + 1 }) as QueueEvent);
  return { queueId, expectedVersion: v, events, state: seq.reduce(evolve, base ?? initialState(queueId)) };
}

/** Creates a queue with `n` items; returns the appended events and the folded state. */
async function seed(store: Store, queueId: string, ownerId: string, n: number, deviceId: string | null = null) {
  const keys = generateNKeysBetween(null, null, n);
  const input = plan(queueId, null, [created(ownerId, { deviceId }), ...keys.map((k, i) => added(`t${i}`, k, ownerId, deviceId))]);
  const events = await store.append(input);
  return { input, events, state: input.state };
}

async function rejectsConflict(p: Promise<unknown>, expected: number, current: number) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VersionConflictError, `expected VersionConflictError, got ${String(e)}`);
    assert.equal(e.expectedVersion, expected);
    assert.equal(e.currentVersion, current);
    return true;
  });
}

interface Harness {
  /** A new store instance on the suite's database (not migrated). */
  open(): Store;
  cleanup(): Promise<void>;
}

function contract(name: string, opts: { skip?: string | false }, setup: () => Promise<Harness>) {
  describe(name, opts, () => {
    let h: Harness;
    let store: Store;
    let firstRuns: string[][];

    before(async () => {
      h = await setup();
      // Two instances migrate a fresh database at once: each migration must apply exactly once.
      const [a, b] = [h.open(), h.open()];
      firstRuns = await Promise.all([a.migrate(), b.migrate()]);
      await b.close();
      store = a;
    });
    after(async () => {
      await store?.close();
      await h?.cleanup();
    });

    it('migrate applies each migration once and is idempotent', async () => {
      const names = loadMigrations(store.kind).map((m) => m.name);
      assert.ok(names.length > 0);
      assert.deepEqual([...firstRuns[0], ...firstRuns[1]].sort(), names);
      assert.deepEqual(await store.migrate(), []);
      await store.ping();
    });

    it('appends a new stream, projects it and reads events back with envelopes intact', async () => {
      const q = uid('q');
      assert.equal(await store.loadQueue(q), null);
      const keys = generateNKeysBetween(null, null, 4);
      const input = plan(q, null, [
        created('alice', { deviceId: 'phone-1' }),
        added('t0', keys[0], 'alice', null),
        added('t1', keys[1], 'bob', 'dev-b'),
        added('t2', keys[2], 'alice', 'phone-1'),
        added('t3', keys[3], 'carol', null, '2024-05-01T23:59:59.120Z'),
      ]);
      const out = await store.append(input);
      assert.deepEqual(
        out.map((e) => e.sequenceNumber),
        [1, 2, 3, 4, 5],
      );
      const expected = input.events.map((e, i) => ({ ...e, queueId: q, sequenceNumber: i + 1 }));
      assert.deepEqual(out, expected);
      assert.deepEqual(plain(await store.loadQueue(q)), plain(input.state));
      assert.equal(input.state.version, 5);

      assert.deepEqual(await store.readEvents(q, 0, 100), expected);
      assert.deepEqual(await store.readEvents(q, 2, 100), expected.slice(2));
      assert.deepEqual(await store.readEvents(q, 1, 2), expected.slice(1, 3));
      assert.deepEqual(await store.readEvents(q, 5, 100), []);
      assert.deepEqual(await store.readEvents(uid('none'), 0, 100), []);
      const [last] = await store.readEvents(q, 4, 1);
      assert.equal(last.timestamp, '2024-05-01T23:59:59.120Z');
      assert.equal(last.deviceId, null);
      assert.equal((await store.readEvents(q, 2, 1))[0].deviceId, 'dev-b');
    });

    it('rejects a stale or future expectedVersion and appends nothing', async () => {
      const q = uid('q');
      const { state } = await seed(store, q, 'dave', 2);
      const before = await store.readEvents(q, 0, 100);
      const stale = plan(q, { ...state, version: 1 }, [added('late', 'a0', 'dave')]);
      await rejectsConflict(store.append(stale), 1, 3);
      const future = plan(q, { ...state, version: 7 }, [added('late', 'a0', 'dave')]);
      await rejectsConflict(store.append(future), 7, 3);
      assert.deepEqual(await store.readEvents(q, 0, 100), before);
      assert.deepEqual(plain(await store.loadQueue(q)), plain(state));

      // A stream that does not exist is at version 0.
      const fresh = uid('q');
      await rejectsConflict(store.append({ ...plan(fresh, null, [created('dave')]), expectedVersion: 2 }), 2, 0);
      assert.equal(await store.loadQueue(fresh), null);
      assert.deepEqual(await store.readEvents(fresh, 0, 10), []);
    });

    it('serialises 20 concurrent writers into one gapless stream', async () => {
      const q = uid('q');
      const WRITERS = 20;
      const EACH = 10;
      const keys = generateNKeysBetween(null, null, WRITERS * EACH);
      let conflicts = 0;
      let failed = false; // one writer failing stops the others, so none outlives this test
      const writer = async (w: number) => {
        for (let n = 0, attempts = 0; n < EACH && !failed; attempts++) {
          assert.ok(attempts < 5000, `writer ${w} starved`);
          const cur = await store.loadQueue(q);
          try {
            await store.append(plan(q, cur, [added(`w${w}-n${n}`, keys[w * EACH + n], `user-${w}`)]));
            n++;
          } catch (e) {
            if (!(e instanceof VersionConflictError)) throw e;
            conflicts++;
          }
        }
      };
      const results = await Promise.allSettled(
        Array.from({ length: WRITERS }, (_, w) =>
          writer(w).catch((e) => {
            failed = true;
            throw e;
          }),
        ),
      );
      for (const r of results) if (r.status === 'rejected') throw r.reason;

      const events = await store.readEvents(q, 0, 1000);
      assert.deepEqual(
        events.map((e) => e.sequenceNumber),
        Array.from({ length: WRITERS * EACH }, (_, i) => i + 1),
      );
      const tracks = events.map((e) => (e.type === 'item_added' ? e.data.trackId : e.type)).sort();
      const want = Array.from({ length: WRITERS * EACH }, (_, i) => `w${Math.floor(i / EACH)}-n${i % EACH}`).sort();
      assert.deepEqual(tracks, want);
      const projection = await store.loadQueue(q);
      assert.equal(projection?.version, WRITERS * EACH);
      assert.deepEqual(plain(projection), plain(events.reduce(evolve, initialState(q))));
      assert.ok(conflicts > 0, 'the writers never conflicted: the test did not exercise concurrency');
    });

    it('lets exactly one of two concurrent creators of a new stream win', async () => {
      for (let round = 0; round < 10; round++) {
        const q = uid('q');
        const a = plan(q, null, [created('erin'), added('ta', 'a0', 'erin')]);
        const b = plan(q, null, [created('frank'), added('tb', 'a0', 'frank'), added('tc', 'a1', 'frank')]);
        const [ra, rb] = await Promise.allSettled([store.append(a), store.append(b)]);
        const won = [ra, rb].filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}: ${won.length} creators succeeded`);
        const winner = ra.status === 'fulfilled' ? a : b;
        const lost = ra.status === 'rejected' ? ra : (rb as PromiseRejectedResult);
        await rejectsConflict(Promise.reject(lost.reason), 0, winner.events.length);
        assert.deepEqual(
          (await store.readEvents(q, 0, 10)).map((e) => e.userId),
          winner.events.map((e) => e.userId),
        );
        assert.deepEqual(plain(await store.loadQueue(q)), plain(winner.state));
      }
    });

    it('records idempotency keys atomically with the append', async () => {
      const q = uid('q');
      const { state } = await seed(store, q, 'gina', 1);
      const key = uid('idem');
      const response = { status: 201, body: { ok: true, items: [{ id: 'x', n: 1.5 }], note: 'ünï' } };
      const first = plan(q, state, [added('t-idem', 'b0', 'gina')]);
      await store.append({ ...first, idempotency: { userId: 'gina', key, fingerprint: 'fp-1', response } });
      assert.deepEqual(await store.getIdempotency('gina', key), { status: 201, body: response.body, fingerprint: 'fp-1' });
      assert.equal(await store.getIdempotency('gina', uid('other')), null);
      assert.equal(await store.getIdempotency('someone-else', key), null);

      const afterFirst = await store.readEvents(q, 0, 100);
      const again = plan(q, first.state, [added('t-dup', 'b1', 'gina')]);
      await assert.rejects(
        store.append({ ...again, idempotency: { userId: 'gina', key, fingerprint: 'fp-2', response: { status: 200, body: null } } }),
        (e: unknown) => e instanceof IdempotencyConflict && e.key === key && e.userId === 'gina',
      );
      assert.deepEqual(await store.readEvents(q, 0, 100), afterFirst);
      assert.deepEqual(plain(await store.loadQueue(q)), plain(first.state));
      assert.deepEqual(await store.getIdempotency('gina', key), { status: 201, body: response.body, fingerprint: 'fp-1' });

      // The same key belongs to each user separately.
      await store.append({ ...again, idempotency: { userId: 'hank', key, fingerprint: 'fp-h', response: { status: 202, body: 'text' } } });
      assert.deepEqual(await store.getIdempotency('hank', key), { status: 202, body: 'text', fingerprint: 'fp-h' });
      assert.equal((await store.loadQueue(q))?.version, again.state.version);
    });

    it("lists an owner's live queues newest first with a keyset cursor", async () => {
      const owner = uid('owner');
      const tied = nextTime(); // two queues share updated_at: the id breaks the tie
      const specs = [
        { id: `${owner}-a`, at: nextTime() },
        { id: `${owner}-b`, at: tied },
        { id: `${owner}-c`, at: tied },
        { id: `${owner}-d`, at: nextTime() },
        { id: `${owner}-e`, at: nextTime() },
      ];
      for (const [i, s] of specs.entries()) {
        await store.append(plan(s.id, null, [created(owner, { name: `Q${i}`, at: s.at }), ...(i % 2 ? [added('t', 'a0', owner, null, s.at)] : [])]));
      }
      const gone = plan(`${owner}-z`, null, [created(owner, { at: nextTime() })]);
      await store.append(gone);
      await store.append(plan(gone.queueId, gone.state, [{ type: 'queue_deleted', data: {}, userId: owner, deviceId: null, timestamp: nextTime() }]));
      await store.append(plan(`${owner}-other`, null, [created(uid('other-owner'), { at: nextTime() })]));

      const expected = [...specs].sort((x, y) => (x.at === y.at ? (x.id < y.id ? 1 : -1) : x.at < y.at ? 1 : -1)).map((s) => s.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      const sizes: number[] = [];
      do {
        const page = await store.listMemberQueues(owner, 2, cursor);
        sizes.push(page.items.length);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
      } while (cursor !== null && sizes.length < 10);
      assert.deepEqual(seen, expected);
      assert.deepEqual(sizes, [2, 2, 1]);

      const all = await store.listMemberQueues(owner, 5, null);
      assert.equal(all.nextCursor, null, 'exactly `limit` rows left must not yield a cursor');
      const b = all.items.find((s) => s.id === `${owner}-b`);
      assert.deepEqual(b, { id: `${owner}-b`, name: 'Q1', type: 'user', ownerId: owner, version: 2, itemCount: 1, updatedAt: tied, role: 'owner' });
      assert.deepEqual(await store.listMemberQueues(uid('nobody'), 5, null), { items: [], nextCursor: null });
    });

    it("readAll pages every queue's events in global append order", async () => {
      let start = 0;
      for (let page = await store.readAll(0, 500); page.length > 0; page = await store.readAll(start, 500)) {
        start = page[page.length - 1].position;
      }
      const [qa, qb, qc] = [uid('qa'), uid('qb'), uid('qc')];
      const a = plan(qa, null, [created('ivy'), added('t1', 'a0', 'ivy')]);
      await store.append(a);
      const b = plan(qb, null, [created('jack', { deviceId: 'd' })]);
      await store.append(b);
      const a2 = plan(qa, a.state, [added('t2', 'a1', 'ivy', 'tab')]);
      await store.append(a2);
      await store.append(plan(qc, null, [created('kim')]));
      const order = [
        [qa, 1],
        [qa, 2],
        [qb, 1],
        [qa, 3],
        [qc, 1],
      ];

      const all = await store.readAll(start, 100);
      assert.deepEqual(
        all.map((e) => [e.queueId, e.sequenceNumber]),
        order,
      );
      for (let i = 1; i < all.length; i++) assert.ok(all[i].position > all[i - 1].position);
      assert.ok(all[0].position > start);
      assert.equal(typeof all[0].position, 'number');
      const { position: _p, ...third } = all[3];
      assert.deepEqual(third, (await store.readEvents(qa, 2, 1))[0]);

      const paged: typeof all = [];
      for (let after = start, page = await store.readAll(after, 2); page.length > 0; page = await store.readAll(after, 2)) {
        assert.ok(page.length <= 2);
        paged.push(...page);
        after = page[page.length - 1].position;
      }
      assert.deepEqual(paged, all);
    });

    it('keeps the first value of a setting', async () => {
      const k = uid('secret');
      assert.equal(await store.getSetting(k), null);
      assert.equal(await store.setSettingIfAbsent(k, 'first'), 'first');
      assert.equal(await store.setSettingIfAbsent(k, 'second'), 'first');
      assert.equal(await store.getSetting(k), 'first');
      const k2 = uid('race');
      const got = await Promise.all(['x', 'y', 'z'].map((v) => store.setSettingIfAbsent(k2, v)));
      assert.equal(new Set(got).size, 1);
      assert.equal(await store.getSetting(k2), got[0]);
    });

    it('round-trips unicode and nested metadata in events and projections', async () => {
      const q = uid('q');
      const metadata = {
        title: '🎵 Café — 日本語 "quoted" \\ back\nslash',
        emoji: '👩‍👩‍👧',
        empty: {},
        list: [],
        nested: { a: [1, 2.5, -3e-7, true, false, null, { deep: { deeper: ['ü', 'ß', 'Ω'] } }], big: 9007199254740991 },
      };
      const input = plan(q, null, [created('lena', { name: 'Läuft 🎧 ñ', metadata })]);
      const update = plan(q, input.state, [
        { type: 'queue_updated', data: { name: 'Zwei 𝄞', metadata: { ...metadata, v: 2 } }, userId: 'lena', deviceId: '📱', timestamp: nextTime() },
      ]);
      await store.append(input);
      await store.append(update);
      const loaded = await store.loadQueue(q);
      assert.deepEqual(loaded, update.state);
      assert.deepEqual(loaded?.metadata, { ...metadata, v: 2 });
      const events = await store.readEvents(q, 0, 10);
      assert.deepEqual(events[0].data, input.events[0].data);
      assert.equal(events[1].deviceId, '📱');
      assert.equal((await store.listMemberQueues('lena', 10, null)).items.find((s) => s.id === q)?.name, 'Zwei 𝄞');
    });
  });
}

contract('SqliteStore (temp file)', {}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'qs-store-'));
  const file = join(dir, 'queue.db');
  return { open: () => openSqliteStore(file), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

contract('PostgresStore (fresh database)', { skip: pgSkipReason }, async () => {
  const db = await createTempDatabase();
  return { open: () => openPostgresStore({ connectionString: db.url, max: 10 }), cleanup: () => db.drop() };
});
