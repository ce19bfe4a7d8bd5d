// The storage contract of the user sync stream, playback records and devices, run
// against SQLite on a real temp file and Postgres on a fresh database.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../src/errors.ts';
import type { NewPlaybackRecord, PlaybackState } from '../../src/playback/playback.ts';
import { IdempotencyConflict, type Store, type UserDecision, type UserStreamSnapshot } from '../../src/store/port.ts';
import { createTempDatabase, pgSkipReason } from '../helpers/pg.ts';
import { openSqliteStore, openPostgresStore } from '../../src/stores.ts';

const uid = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;
// Millisecond times with non-zero milliseconds, past 2^31 ms and 2^32 s boundaries of narrow columns.
const T0 = Date.parse('2024-05-01T10:00:00.007Z');
const iso = (ms: number) => new Date(ms).toISOString();

function pstate(deviceId: string, over: Partial<PlaybackState> = {}): PlaybackState {
  return {
    queueId: null,
    currentTrackId: 'track-1',
    itemId: null,
    position: 12.345678,
    isPlaying: true,
    volume: 37.5,
    rate: 1.25,
    deviceId,
    timestamp: iso(T0),
    ...over,
  };
}

function rec(deviceId: string, clientTs: number, serverTs: number, over: Partial<PlaybackState> = {}): NewPlaybackRecord {
  return { deviceId, state: pstate(deviceId, over), clientTs, serverTs };
}

function decision(deviceId: string | null, at: number, data: Record<string, unknown> = {}, playback?: NewPlaybackRecord): UserDecision {
  return { event: { type: 'playback_sync', deviceId, timestamp: iso(at), data }, ...(playback ? { playback } : {}) };
}

function contract(name: string, opts: { skip?: string | false }, setup: () => Promise<{ store: Store; cleanup(): Promise<void> }>) {
  describe(name, opts, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ store, cleanup } = await setup());
      await store.migrate();
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('appends, then reads back the event, the version and the playback record exactly', async () => {
      const u = uid('u');
      assert.equal(await store.userVersion(u), 0);
      assert.deepEqual(await store.listPlayback(u), []);
      const seen: UserStreamSnapshot[] = [];
      const r = rec('phone 📱', T0 + 1, T0 + 2, { queueId: 'q-ü', itemId: 'i1', volume: null });
      const data = { state: r.state, nested: { list: [1, 2.5, null, 'ß'] } };
      const out = await store.appendUserEvent({
        userId: u,
        decide: (cur) => {
          seen.push(cur);
          return decision('phone 📱', T0 + 2, data, r);
        },
      });
      assert.deepEqual([...seen], [{ version: 0, playback: [] }]);
      const event = { userId: u, sequenceNumber: 1, type: 'playback_sync', deviceId: 'phone 📱', timestamp: iso(T0 + 2), data };
      assert.deepEqual(out, { event, playback: { ...r, sequenceNumber: 1 } });
      assert.deepEqual(await store.readUserEvents(u, 0, 10), [event]);
      assert.equal(await store.userVersion(u), 1);
      assert.deepEqual(await store.listPlayback(u), [{ ...r, sequenceNumber: 1 }]);

      // The second append sees the first; the device's record is replaced, another device added.
      const r2 = rec('phone 📱', T0 + 10, T0 + 11, { position: 0, isPlaying: false });
      const r3 = rec('laptop', T0 + 5, T0 + 12);
      await store.appendUserEvent({
        userId: u,
        decide: (cur) => {
          seen.push(cur);
          return decision(null, T0 + 11, {}, r2);
        },
      });
      await store.appendUserEvent({
        userId: u,
        decide: (cur) => {
          seen.push(cur);
          return {
            ...decision('laptop', T0 + 12, {}, r3),
            event: { type: 'playback_transferred', deviceId: 'laptop', timestamp: iso(T0 + 12), data: { x: 1 } },
          };
        },
      });
      assert.deepEqual(seen[1], { version: 1, playback: [{ ...r, sequenceNumber: 1 }] });
      assert.deepEqual(seen[2], { version: 2, playback: [{ ...r2, sequenceNumber: 2 }] });
      assert.deepEqual(await store.listPlayback(u), [
        { ...r2, sequenceNumber: 2 },
        { ...r3, sequenceNumber: 3 },
      ]);
      const events = await store.readUserEvents(u, 0, 10);
      assert.deepEqual(
        events.map((e) => [e.sequenceNumber, e.type, e.deviceId]),
        [
          [1, 'playback_sync', 'phone 📱'],
          [2, 'playback_sync', null],
          [3, 'playback_transferred', 'laptop'],
        ],
      );
      assert.deepEqual(await store.readUserEvents(u, 1, 1), [events[1]]);
      assert.deepEqual(await store.readUserEvents(u, 3, 10), []);
      assert.equal(await store.userVersion(u), 3);
    });

    it("keeps each user's stream separate", async () => {
      const [a, b] = [uid('a'), uid('b')];
      await store.appendUserEvent({ userId: a, decide: () => decision('d', T0, {}, rec('d', T0, T0)) });
      await store.appendUserEvent({ userId: a, decide: () => decision('d', T0, {}) });
      const out = await store.appendUserEvent({
        userId: b,
        decide: (cur) => {
          assert.deepEqual(cur, { version: 0, playback: [] });
          return decision('d', T0, {});
        },
      });
      assert.equal(out.event.sequenceNumber, 1);
      assert.equal(out.playback, null, 'no record decided, none returned');
      assert.equal(await store.userVersion(a), 2);
      assert.equal(await store.userVersion(b), 1);
      assert.deepEqual(await store.listPlayback(b), []);
      assert.deepEqual(
        (await store.readUserEvents(b, 0, 10)).map((e) => e.userId),
        [b],
      );
    });

    it('a throwing decide appends nothing: no event, version, record, device or idempotency key', async () => {
      const u = uid('u');
      await store.appendUserEvent({ userId: u, decide: () => ({ ...decision('phone', T0, {}, rec('phone', T0, T0)), touch: { deviceId: 'phone', at: T0 } }) });
      const before = { events: await store.readUserEvents(u, 0, 10), playback: await store.listPlayback(u), devices: await store.listDevices(u) };
      const boom = new AppError('conflict', 'stale_playback_state', 'stale');
      await assert.rejects(
        store.appendUserEvent({
          userId: u,
          decide: () => {
            throw boom;
          },
          idempotency: { key: 'k', fingerprint: 'f', response: () => ({ status: 200, body: {} }) },
        }),
        (e: unknown) => e === boom,
      );
      assert.equal(await store.userVersion(u), 1);
      assert.deepEqual({ events: await store.readUserEvents(u, 0, 10), playback: await store.listPlayback(u), devices: await store.listDevices(u) }, before);
      assert.equal(await store.getIdempotency(u, 'k'), null);

      // A user whose first append fails has no stream at all.
      const fresh = uid('u');
      await assert.rejects(
        store.appendUserEvent({
          userId: fresh,
          decide: () => {
            throw boom;
          },
        }),
        (e: unknown) => e === boom,
      );
      assert.equal(await store.userVersion(fresh), 0);
      assert.deepEqual(await store.readUserEvents(fresh, 0, 10), []);
    });

    it('records the idempotency response built from the append, atomically with it', async () => {
      const u = uid('u');
      const key = uid('k');
      const out = await store.appendUserEvent({
        userId: u,
        decide: () => decision('phone', T0, {}, rec('phone', T0, T0)),
        idempotency: { key, fingerprint: 'fp', response: (a) => ({ status: 200, body: { seq: a.event.sequenceNumber, device: a.playback?.deviceId } }) },
      });
      assert.equal(out.event.sequenceNumber, 1);
      assert.deepEqual(await store.getIdempotency(u, key), { status: 200, body: { seq: 1, device: 'phone' }, fingerprint: 'fp' });
      await assert.rejects(
        store.appendUserEvent({
          userId: u,
          decide: () => decision('phone', T0, {}, rec('phone', T0 + 9, T0 + 9)),
          idempotency: { key, fingerprint: 'fp2', response: () => ({ status: 200, body: null }) },
        }),
        (e: unknown) => e instanceof IdempotencyConflict && e.key === key && e.userId === u,
      );
      assert.equal(await store.userVersion(u), 1);
      assert.equal((await store.listPlayback(u))[0]?.clientTs, T0);
      assert.deepEqual(await store.getIdempotency(u, key), { status: 200, body: { seq: 1, device: 'phone' }, fingerprint: 'fp' });
    });

    it('serialises 20 concurrent writers into one gapless stream; each decide sees the committed state', async () => {
      const u = uid('u');
      const WRITERS = 20;
      const EACH = 10;
      const writer = async (w: number) => {
        for (let n = 0; n < EACH; n++) {
          await store.appendUserEvent({
            userId: u,
            decide: (cur) => {
              // A counter carried in one shared record: a decide that saw a stale snapshot
              // would write a duplicate count, and the final count would fall short.
              const prev = cur.playback.find((r) => r.deviceId === 'shared');
              const count = (prev ? prev.state.position : 0) + 1;
              return decision(`w${w}`, T0, { sawVersion: cur.version, count, w, n }, rec('shared', T0, T0 + count, { position: count }));
            },
          });
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      const events = await store.readUserEvents(u, 0, 1000);
      const total = WRITERS * EACH;
      assert.deepEqual(
        events.map((e) => e.sequenceNumber),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      assert.ok(
        events.every((e) => e.data.sawVersion === e.sequenceNumber - 1),
        'decide saw the version right before its event',
      );
      assert.ok(
        events.every((e) => e.data.count === e.sequenceNumber),
        'decide saw the record of the previous append',
      );
      assert.deepEqual(
        events.map((e) => `${e.data.w}-${e.data.n}`).sort(),
        Array.from({ length: total }, (_, i) => `${Math.floor(i / EACH)}-${i % EACH}`).sort(),
      );
      assert.equal(await store.userVersion(u), total);
      const [shared] = await store.listPlayback(u);
      assert.equal(shared?.state.position, total);
      assert.equal(shared?.sequenceNumber, total);
    });

    it('upserts devices: first seen stays, last seen never moves back, name and type change only when given', async () => {
      const u = uid('u');
      assert.deepEqual(await store.listDevices(u), []);
      const first = await store.upsertDevice(u, 'phone', { name: 'Pixel', type: 'phone' }, T0 + 100);
      assert.deepEqual(first, { deviceId: 'phone', name: 'Pixel', type: 'phone', firstSeen: T0 + 100, lastSeen: T0 + 100 });
      assert.deepEqual(await store.upsertDevice(u, 'phone', {}, T0 + 200), { ...first, lastSeen: T0 + 200 });
      assert.deepEqual(await store.upsertDevice(u, 'phone', { name: 'Mine' }, T0 + 150), { ...first, name: 'Mine', lastSeen: T0 + 200 });
      await store.upsertDevice(u, 'Laptop', { type: 'desktop' }, T0 + 300);
      await store.upsertDevice(u, 'alpha', {}, T0 + 300);
      await store.upsertDevice(uid('other'), 'tv', {}, T0 + 999);
      // Most recently seen first; equal times by device id in code-point order in both stores.
      assert.deepEqual(await store.listDevices(u), [
        { deviceId: 'Laptop', name: null, type: 'desktop', firstSeen: T0 + 300, lastSeen: T0 + 300 },
        { deviceId: 'alpha', name: null, type: null, firstSeen: T0 + 300, lastSeen: T0 + 300 },
        { deviceId: 'phone', name: 'Mine', type: 'phone', firstSeen: T0 + 100, lastSeen: T0 + 200 },
      ]);
    });

    it('touch in a decision records the device in the same transaction', async () => {
      const u = uid('u');
      await store.upsertDevice(u, 'tv', { name: 'TV' }, T0);
      await store.appendUserEvent({ userId: u, decide: () => ({ ...decision('tv', T0 + 50), touch: { deviceId: 'tv', at: T0 + 50 } }) });
      await store.appendUserEvent({ userId: u, decide: () => ({ ...decision('new', T0 + 60), touch: { deviceId: 'new', at: T0 + 60 } }) });
      assert.deepEqual(await store.listDevices(u), [
        { deviceId: 'new', name: null, type: null, firstSeen: T0 + 60, lastSeen: T0 + 60 },
        { deviceId: 'tv', name: 'TV', type: null, firstSeen: T0, lastSeen: T0 + 50 },
      ]);
    });
  });
}

contract('SqliteStore user stream (temp file)', {}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'qs-pb-store-'));
  return { store: openSqliteStore(join(dir, 'queue.db')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

contract('PostgresStore user stream (fresh database)', { skip: pgSkipReason }, async () => {
  const db = await createTempDatabase();
  return { store: openPostgresStore({ connectionString: db.url, max: 10 }), cleanup: () => db.drop() };
});
