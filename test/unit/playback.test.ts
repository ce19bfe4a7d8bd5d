// The playback decider and extrapolation (pure), then the service over an in-memory
// SQLite store with a fake clock, bus and presence: what the HTTP tests cannot pin
// down exactly (time, published events, online devices).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import {
  activeRecord,
  decideTransfer,
  decideWrite,
  extrapolate,
  latestRecord,
  MAX_EPOCH_MS,
  parseClientTime,
  toView,
  type PlaybackRecord,
  type PlaybackState,
} from '../../src/playback/playback.ts';
import { PlaybackService } from '../../src/playback/service.ts';
import { LocalBus, type BusMessage } from '../../src/realtime/bus.ts';
import { LocalPresence } from '../../src/realtime/presence.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { openSqliteStore } from '../../src/stores.ts';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function state(deviceId: string, over: Partial<PlaybackState> = {}): PlaybackState {
  return {
    queueId: 'q1',
    currentTrackId: 't1',
    itemId: 'i1',
    position: 10,
    isPlaying: true,
    volume: 50,
    rate: 1,
    deviceId,
    timestamp: iso(T0),
    ...over,
  };
}

function record(deviceId: string, seq: number, over: Partial<PlaybackRecord> = {}, st: Partial<PlaybackState> = {}): PlaybackRecord {
  return { deviceId, state: state(deviceId, st), clientTs: T0, serverTs: T0, sequenceNumber: seq, ...over };
}

function expectAppError(fn: () => unknown, kind: string, code: string): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AppError, `expected AppError ${code}, got ${String(caught)}`);
  assert.equal(caught.kind, kind);
  assert.equal(caught.code, code);
  return caught;
}

describe('decideWrite', () => {
  it('the first write ever is a playback_sync storing the state, client and server time', () => {
    const s = state('phone');
    const d = decideWrite([], s, T0 + 5, T0 + 100);
    assert.equal(d.type, 'playback_sync');
    assert.deepEqual(d.data, { state: s });
    assert.deepEqual(d.record, { deviceId: 'phone', state: s, clientTs: T0 + 5, serverTs: T0 + 100 });
  });

  it('a write from the active device is a playback_sync', () => {
    const records = [record('laptop', 1), record('phone', 2)];
    const d = decideWrite(records, state('phone', { position: 20 }), T0 + 1000, T0 + 2000);
    assert.equal(d.type, 'playback_sync');
    assert.equal(d.record.deviceId, 'phone');
    assert.equal(d.record.state.position, 20);
  });

  it('a write from another device than the active one is a transfer from the active device', () => {
    // laptop wrote last (seq 3) although phone's server time is later: activity is by sequence.
    const records = [record('phone', 2, { serverTs: T0 + 9000 }), record('laptop', 3, { serverTs: T0 + 5000 })];
    const s = state('phone', { position: 3 });
    const d = decideWrite(records, s, T0 + 1, T0 + 10_000);
    assert.equal(d.type, 'playback_transferred');
    assert.deepEqual(d.data, { fromDeviceId: 'laptop', toDeviceId: 'phone', state: s });
    assert.equal(d.record.deviceId, 'phone');
  });

  it('refuses a write older than the same device stored, with both times in the details', () => {
    const records = [record('phone', 1, { clientTs: T0 + 5000 })];
    const err = expectAppError(() => decideWrite(records, state('phone'), T0 + 4999, T0 + 9000), 'conflict', 'stale_playback_state');
    assert.deepEqual(err.details, { storedTimestamp: iso(T0 + 5000), receivedTimestamp: iso(T0 + 4999) });
  });

  it('accepts the same client time again, and a newer one', () => {
    const records = [record('phone', 1, { clientTs: T0 + 5000 })];
    assert.equal(decideWrite(records, state('phone'), T0 + 5000, T0 + 9000).record.clientTs, T0 + 5000);
    assert.equal(decideWrite(records, state('phone'), T0 + 5001, T0 + 9000).record.clientTs, T0 + 5001);
  });

  it('accepts a write from a different device with an older timestamp (clocks differ between devices)', () => {
    const records = [record('phone', 1, { clientTs: T0 + 60_000 })];
    const d = decideWrite(records, state('laptop'), T0, T0 + 61_000);
    assert.equal(d.type, 'playback_transferred');
    assert.equal(d.record.clientTs, T0);
  });
});

describe('extrapolation', () => {
  it('moves the position on by elapsed server time while playing', () => {
    assert.equal(extrapolate({ position: 10, isPlaying: true, rate: 1 }, T0, T0 + 2500), 12.5);
  });

  it('scales by the rate', () => {
    assert.equal(extrapolate({ position: 10, isPlaying: true, rate: 2 }, T0, T0 + 2500), 15);
    assert.equal(extrapolate({ position: 10, isPlaying: true, rate: 0.5 }, T0, T0 + 2000), 11);
  });

  it('keeps the position while paused', () => {
    assert.equal(extrapolate({ position: 10, isPlaying: false, rate: 2 }, T0, T0 + 60_000), 10);
  });

  it("never moves back when now is before the write (another instance's clock)", () => {
    assert.equal(extrapolate({ position: 10, isPlaying: true, rate: 1 }, T0, T0 - 5000), 10);
  });

  it('toView extrapolates and stamps serverTime, updatedAt, active device and sequence', () => {
    const r = record('phone', 7, { serverTs: T0 }, { position: 4, rate: 1.5, timestamp: iso(T0 - 300) });
    const v = toView(r, 'laptop', T0 + 2000);
    assert.equal(v.position, 7);
    assert.equal(v.updatedAt, iso(T0));
    assert.equal(v.serverTime, iso(T0 + 2000));
    assert.equal(v.timestamp, iso(T0 - 300));
    assert.equal(v.activeDeviceId, 'laptop');
    assert.equal(v.sequenceNumber, 7);
    assert.equal(v.deviceId, 'phone');
  });
});

describe('latest and active records', () => {
  const records = [record('a', 1, { serverTs: T0 + 10 }), record('b', 3, { serverTs: T0 + 30 }), record('c', 2, { serverTs: T0 + 30 })];

  it('latest is the newest server time, sequence breaking ties, skipping the excluded device', () => {
    assert.equal(latestRecord(records)?.deviceId, 'b');
    assert.equal(latestRecord(records, 'b')?.deviceId, 'c');
    assert.equal(latestRecord([records[0]!], 'a'), null);
    assert.equal(latestRecord([]), null);
  });

  it('active is the highest sequence number', () => {
    assert.equal(activeRecord(records)?.deviceId, 'b');
    assert.equal(activeRecord([records[0]!, records[2]!])?.deviceId, 'c');
    assert.equal(activeRecord([]), null);
  });
});

describe('decideTransfer', () => {
  it('carries the newest state to the target with the position at now', () => {
    const records = [record('phone', 4, { serverTs: T0 }, { position: 30, rate: 2 }), record('speaker', 2, { clientTs: T0 - 99 })];
    const d = decideTransfer(records, 'speaker', undefined, T0 + 1500);
    assert.equal(d.type, 'playback_transferred');
    const expected = { ...records[0]!.state, position: 33, deviceId: 'speaker', timestamp: iso(T0 + 1500) };
    assert.deepEqual(d.data, { fromDeviceId: 'phone', toDeviceId: 'speaker', state: expected });
    // The target keeps its own client time for the stale rule; the server time is now.
    assert.deepEqual(d.record, { deviceId: 'speaker', state: expected, clientTs: T0 - 99, serverTs: T0 + 1500 });
  });

  it('play overrides isPlaying; a paused state does not move', () => {
    const records = [record('phone', 1, {}, { isPlaying: false, position: 8 })];
    const d = decideTransfer(records, 'tv', true, T0 + 5000);
    assert.equal(d.record.state.isPlaying, true);
    assert.equal(d.record.state.position, 8);
    assert.equal(d.record.clientTs, -MAX_EPOCH_MS, 'a target that never wrote has no client time yet');
    // ...so its first own write, even with a clock far behind, is accepted.
    const after = [{ ...d.record, sequenceNumber: 2 }];
    assert.equal(decideWrite(after, state('tv'), parseClientTime('1969-01-01T00:00:00Z'), T0).type, 'playback_sync');
    assert.equal(decideTransfer(records, 'tv', undefined, T0).record.state.isPlaying, false);
    assert.equal(decideTransfer([record('phone', 1)], 'tv', false, T0).record.state.isPlaying, false);
  });

  it('is 404 no_playback_state when nothing was ever played', () => {
    expectAppError(() => decideTransfer([], 'tv', true, T0), 'not_found', 'no_playback_state');
  });
});

describe('parseClientTime', () => {
  it('reads ISO strings and epoch ms, dropping sub-ms precision', () => {
    assert.equal(parseClientTime('2024-05-01T12:00:00.123Z'), T0 + 123);
    assert.equal(parseClientTime('2024-05-01T14:00:00.123+02:00'), T0 + 123);
    assert.equal(parseClientTime(T0 + 0.9), T0);
  });

  it('refuses what is not a time', () => {
    expectAppError(() => parseClientTime('yesterday'), 'invalid', 'invalid_timestamp');
    expectAppError(() => parseClientTime(Number.NaN), 'invalid', 'invalid_timestamp');
    expectAppError(() => parseClientTime(9e15), 'invalid', 'invalid_timestamp');
  });
});

describe('PlaybackService (in-memory SQLite, fake clock)', () => {
  let store: SqliteStore;
  let clock = T0;
  const bus = new LocalBus();
  const presence = new LocalPresence();
  const published: BusMessage[] = [];
  /** The local bus delivers on a later turn of the event loop (src/realtime/bus.ts). */
  const delivered = () => new Promise((r) => setImmediate(r));
  let service: PlaybackService;
  const queues = {
    get: async () => {
      throw new AppError('not_found', 'queue_not_found', 'queue not found');
    },
  };
  const alice = { userId: 'alice', deviceId: null };

  before(async () => {
    store = openSqliteStore(':memory:');
    await store.migrate();
    bus.subscribe('user', 'alice', (m) => published.push(m));
    service = new PlaybackService({ store, queues, presence, now: () => clock });
    // As src/services.ts hooks the bus to the user streams' commits.
    service.onCommitted((id, events) => bus.publish({ stream: 'user', id, events }));
  });
  after(async () => {
    await store.close();
    await bus.close();
  });

  const body = (deviceId: string, timestamp: string | number, over: Record<string, unknown> = {}) => ({
    position: 10,
    isPlaying: true,
    deviceId,
    timestamp,
    ...over,
  });

  it('write answers the stored state and publishes the committed event on the user stream', async () => {
    clock = T0 + 1000;
    const res = await service.write(alice, body('phone', T0, { rate: 2, volume: 40 }));
    assert.equal(res.replayed, false);
    assert.deepEqual(res.body, {
      queueId: null,
      currentTrackId: null,
      itemId: null,
      position: 10,
      isPlaying: true,
      volume: 40,
      rate: 2,
      deviceId: 'phone',
      timestamp: iso(T0),
      updatedAt: iso(T0 + 1000),
      serverTime: iso(T0 + 1000),
      activeDeviceId: 'phone',
      sequenceNumber: 1,
    });
    await delivered();
    assert.equal(published.length, 1);
    const [msg] = published;
    assert.equal(msg!.stream, 'user');
    assert.equal(msg!.id, 'alice');
    assert.deepEqual(msg!.events, await service.readEvents('alice', 0, 10));
    assert.equal(msg!.events[0]!.type, 'playback_sync');
    assert.equal(msg!.events[0]!.timestamp, iso(T0 + 1000));
  });

  it('get extrapolates to the injected clock', async () => {
    clock = T0 + 4000; // 3 s after the write at rate 2
    const v = await service.get('alice');
    assert.equal(v.position, 16);
    assert.equal(v.serverTime, iso(T0 + 4000));
    assert.equal(v.updatedAt, iso(T0 + 1000));
  });

  it('a queue the caller cannot read is refused before anything is stored', async () => {
    await assert.rejects(
      service.write(alice, body('phone', T0 + 10, { queueId: 'nope' })),
      (e: unknown) => e instanceof AppError && e.code === 'queue_not_found',
    );
    assert.equal(await service.version('alice'), 1);
  });

  it('lists devices with presence and the active one; registering keeps firstSeen and renames', async () => {
    clock = T0 + 5000;
    const tv = await service.registerDevice('alice', 'tv', { name: 'Living room', type: 'tv' });
    assert.deepEqual(tv, {
      deviceId: 'tv',
      name: 'Living room',
      type: 'tv',
      online: false,
      lastSeen: iso(T0 + 5000),
      firstSeen: iso(T0 + 5000),
      isActive: false,
    });
    await presence.connected('conn-tv', 'alice', 'tv');
    clock = T0 + 6000;
    await service.registerDevice('alice', 'tv', { name: 'TV' });
    const devices = await service.listDevices('alice');
    assert.deepEqual(
      devices.map((d) => [d.deviceId, d.name, d.type, d.online, d.isActive]),
      [
        ['tv', 'TV', 'tv', true, false],
        ['phone', null, null, false, true],
      ],
    );
    assert.equal(devices[0]!.firstSeen, iso(T0 + 5000));
    assert.equal(devices[0]!.lastSeen, iso(T0 + 6000));
    assert.equal(devices[1]!.lastSeen, iso(T0 + 1000), 'a device that only wrote state is listed, seen at its write');
    await presence.disconnected('conn-tv');
    assert.equal((await service.listDevices('alice'))[0]!.online, false);
  });

  it('transfer moves the extrapolated state to the target and makes it active', async () => {
    clock = T0 + 7000; // 6 s after the write at rate 2: position 22
    const res = await service.transfer({ userId: 'alice', deviceId: 'phone' }, { deviceId: 'tv', play: false });
    assert.equal(res.body.deviceId, 'tv');
    assert.equal(res.body.position, 22);
    assert.equal(res.body.isPlaying, false);
    assert.equal(res.body.activeDeviceId, 'tv');
    assert.equal(res.body.sequenceNumber, 2);
    await delivered();
    const last = published[published.length - 1]!.events[0]!;
    assert.equal(last.type, 'playback_transferred');
    assert.equal(last.deviceId, 'phone', 'the event names the requesting device');
    assert.equal((last.data as { toDeviceId: string }).toDeviceId, 'tv');
    clock = T0 + 60_000;
    assert.equal((await service.get('alice')).position, 22, 'paused after the transfer');
    assert.equal((await service.get('alice', 'tv')).deviceId, 'phone');
    await assert.rejects(service.transfer(alice, { deviceId: 'ghost' }), (e: unknown) => e instanceof AppError && e.code === 'device_not_found');
  });

  it('an idempotent retry answers the first result and appends nothing', async () => {
    const opts = { idempotencyKey: 'k1', fingerprint: 'f1' };
    const first = await service.write(alice, body('phone', T0 + 70_000), opts);
    const v = await service.version('alice');
    await delivered();
    const n = published.length;
    clock += 5000;
    const again = await service.write(alice, body('phone', T0 + 70_000), opts);
    assert.equal(again.replayed, true);
    assert.deepEqual(again.body, first.body);
    assert.equal(await service.version('alice'), v);
    await delivered();
    assert.equal(published.length, n);
    await assert.rejects(
      service.write(alice, body('phone', T0 + 80_000), { idempotencyKey: 'k1', fingerprint: 'other' }),
      (e: unknown) => e instanceof AppError && e.code === 'idempotency_key_reused',
    );
  });

  it('snapshot gives the version with the newest state and the devices', async () => {
    const snap = await service.snapshot('alice');
    assert.equal(snap.sequenceNumber, await service.version('alice'));
    assert.equal(snap.data.playback?.sequenceNumber, snap.sequenceNumber);
    assert.deepEqual(snap.data.devices.map((d) => d.deviceId).sort(), ['phone', 'tv']);
    assert.deepEqual(await service.snapshot('nobody'), { sequenceNumber: 0, data: { playback: null, devices: [] } });
  });
});
