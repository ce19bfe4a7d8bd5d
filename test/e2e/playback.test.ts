// End-to-end tests of playback state, transfers, devices and the user sync-event log
// against a real server process per store kind. No request may answer 5xx.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { sleep } from '../helpers/wait.ts';

type Res = Awaited<ReturnType<ReturnType<typeof client>>>;
type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

function assertError(res: Res, status: number, code?: string): void {
  const where = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.deepEqual(Object.keys(res.body ?? {}), ['error'], where);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'details', 'message'], where);
  assert.equal(typeof res.body.error.message, 'string', where);
  assert.ok(res.body.error.details && typeof res.body.error.details === 'object', where);
  if (code !== undefined) assert.equal(res.body.error.code, code, where);
}

function assertOk(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const STATE_KEYS = [
  'activeDeviceId',
  'currentTrackId',
  'deviceId',
  'isPlaying',
  'itemId',
  'position',
  'queueId',
  'rate',
  'sequenceNumber',
  'serverTime',
  'timestamp',
  'updatedAt',
  'volume',
];

for (const { kind, skip } of storeKinds) {
  describe(`playback (${kind})`, { skip, timeout: 60_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    const statuses: number[] = [];
    let n = 0;
    /** A fresh user per test, so tests do not see each other's devices and events. */
    async function user(): Promise<{ id: string; call: Call }> {
      const id = `u${++n}-${randomUUID().slice(0, 6)}`;
      const c = client(server.url, await mintToken(server, id));
      return {
        id,
        call: async (method, path, body, headers) => {
          const res = await c(method, path, body, headers);
          statuses.push(res.status);
          return res;
        },
      };
    }
    const put = (call: Call, body: Record<string, unknown>, headers?: Record<string, string>) =>
      call('PUT', '/users/me/playback-state', { position: 0, isPlaying: false, timestamp: Date.now(), ...body }, headers);
    const events = async (call: Call, since = 0) => assertOk(await call('GET', `/users/me/sync-events?since=${since}&limit=100`));

    before(async () => {
      server = await startServerOn(kind);
    });
    after(async () => {
      await server?.cleanup();
      assert.ok(
        statuses.every((s) => s < 500),
        `a request answered 5xx: ${statuses.filter((s) => s >= 500)}`,
      );
    });

    it('PUT then GET round-trips the state', async () => {
      const { id, call } = await user();
      const q = assertOk(await call('POST', '/queues', { name: 'Q', tracks: ['t1'] }), 201).queue;
      const body = {
        queueId: q.id,
        currentTrackId: 't1',
        itemId: q.items[0].itemId,
        position: 42.125,
        isPlaying: false,
        deviceId: 'phone',
        timestamp: '2024-05-01T10:00:00.250+02:00',
        volume: 70,
        rate: 1.5,
      };
      const put1 = assertOk(await call('PUT', `/users/${id}/playback-state`, body));
      assert.deepEqual(Object.keys(put1).sort(), STATE_KEYS);
      const { updatedAt, serverTime, sequenceNumber, ...rest } = put1;
      assert.deepEqual(rest, { ...body, timestamp: '2024-05-01T08:00:00.250Z', activeDeviceId: 'phone' });
      assert.equal(sequenceNumber, 1);
      assert.equal(serverTime, updatedAt);
      assert.ok(Math.abs(Date.parse(updatedAt) - Date.now()) < 10_000);

      const got = assertOk(await call('GET', '/users/me/playback-state'));
      assert.equal(got.position, 42.125, 'paused: no extrapolation');
      assert.deepEqual({ ...got, serverTime: undefined }, { ...put1, serverTime: undefined });
      assert.ok(got.serverTime >= updatedAt);
      // Defaults: rate 1, nulls for the optional fields.
      const minimal = assertOk(await call('PUT', '/users/me/playback-state', { position: 1, isPlaying: false, deviceId: 'phone', timestamp: Date.now() }));
      assert.deepEqual([minimal.queueId, minimal.currentTrackId, minimal.itemId, minimal.volume, minimal.rate], [null, null, null, null, 1]);
    });

    it('GET is 404 no_playback_state before any write, and exclude_device skips a device', async () => {
      const { call } = await user();
      assertError(await call('GET', '/users/me/playback-state'), 404, 'no_playback_state');
      assertOk(await put(call, { deviceId: 'laptop', position: 5 }));
      assertOk(await put(call, { deviceId: 'phone', position: 9 }));
      assert.equal(assertOk(await call('GET', '/users/me/playback-state')).deviceId, 'phone');
      const other = assertOk(await call('GET', '/users/me/playback-state?exclude_device=phone'));
      assert.equal(other.deviceId, 'laptop');
      assert.equal(other.position, 5);
      assert.equal(other.activeDeviceId, 'phone');
      assert.equal(assertOk(await call('GET', '/users/me/playback-state?exclude_device=laptop')).deviceId, 'phone');
      const none = await (await user()).call('GET', '/users/me/playback-state?exclude_device=x');
      assertError(none, 404, 'no_playback_state');
    });

    it('extrapolates the position while playing, not while paused', async () => {
      const { call } = await user();
      assertOk(await put(call, { deviceId: 'phone', position: 100, isPlaying: true, rate: 2 }));
      const a = assertOk(await call('GET', '/users/me/playback-state'));
      await sleep(300); // time passes: the position moves on at the rate
      const b = assertOk(await call('GET', '/users/me/playback-state'));
      const elapsed = (Date.parse(b.serverTime) - Date.parse(a.serverTime)) / 1000;
      assert.ok(b.position > a.position, `${b.position} > ${a.position}`);
      assert.ok(Math.abs(b.position - a.position - elapsed * 2) < 1e-6, 'grows at the rate, by server time');
      assert.ok(Math.abs(a.position - (100 + ((Date.parse(a.serverTime) - Date.parse(a.updatedAt)) / 1000) * 2)) < 1e-6);

      assertOk(await put(call, { deviceId: 'phone', position: 50, isPlaying: false }));
      const c = assertOk(await call('GET', '/users/me/playback-state'));
      await sleep(200); // time passes: a paused position stays
      const d = assertOk(await call('GET', '/users/me/playback-state'));
      assert.equal(c.position, 50);
      assert.equal(d.position, 50);
    });

    it('refuses a stale write from the same device with 409 and applies nothing', async () => {
      const { call } = await user();
      const t = Date.parse('2024-06-01T12:00:00.500Z');
      assertOk(await put(call, { deviceId: 'phone', position: 7, timestamp: t }));
      const before = await events(call);
      const stale = await put(call, { deviceId: 'phone', position: 99, timestamp: '2024-06-01T12:00:00.499Z' });
      assertError(stale, 409, 'stale_playback_state');
      assert.deepEqual(stale.body.error.details, { storedTimestamp: '2024-06-01T12:00:00.500Z', receivedTimestamp: '2024-06-01T12:00:00.499Z' });
      assert.equal(assertOk(await call('GET', '/users/me/playback-state')).position, 7);
      assert.deepEqual(await events(call), before);
      // Another device's clock may be behind: its older timestamp is accepted.
      assert.equal(assertOk(await put(call, { deviceId: 'laptop', position: 8, timestamp: t - 60_000 })).deviceId, 'laptop');
    });

    it('a write from another device is a transfer in the sync-event log', async () => {
      const { id, call } = await user();
      assertOk(await put(call, { deviceId: 'phone', position: 1 }));
      assertOk(await put(call, { deviceId: 'phone', position: 2 }));
      const moved = assertOk(await put(call, { deviceId: 'laptop', position: 3 }));
      assert.equal(moved.activeDeviceId, 'laptop');
      const log = await events(call);
      assert.equal(log.version, 3);
      assert.equal(log.nextSince, 3);
      assert.equal(log.hasMore, false);
      assert.deepEqual(
        log.events.map((e: any) => [e.sequenceNumber, e.type, e.deviceId, e.userId]),
        [
          [1, 'playback_sync', 'phone', id],
          [2, 'playback_sync', 'phone', id],
          [3, 'playback_transferred', 'laptop', id],
        ],
      );
      assert.equal(log.events[2].data.fromDeviceId, 'phone');
      assert.equal(log.events[2].data.toDeviceId, 'laptop');
      assert.equal(log.events[2].data.state.position, 3);
      const page = assertOk(await call('GET', '/users/me/sync-events?since=1&limit=1'));
      assert.deepEqual(
        page.events.map((e: any) => e.sequenceNumber),
        [2],
      );
      assert.equal(page.nextSince, 2);
      assert.equal(page.hasMore, true);
    });

    it('POST transfer moves playback to a known device, 404 for unknown devices or no state', async () => {
      const { call } = await user();
      assertOk(await call('PUT', '/users/me/devices/speaker', { name: 'Kitchen', type: 'speaker' }));
      assertError(await call('POST', '/users/me/playback/transfer', { deviceId: 'speaker' }), 404, 'no_playback_state');
      assertOk(await put(call, { deviceId: 'phone', position: 20, isPlaying: true }));
      assertError(await call('POST', '/users/me/playback/transfer', { deviceId: 'ghost' }), 404, 'device_not_found');
      const res = assertOk(await call('POST', '/users/me/playback/transfer', { deviceId: 'speaker', play: false }, { 'x-device-id': 'phone' }));
      assert.equal(res.deviceId, 'speaker');
      assert.equal(res.activeDeviceId, 'speaker');
      assert.equal(res.isPlaying, false);
      assert.ok(res.position >= 20 && res.position < 30, `position carried to now: ${res.position}`);
      const got = assertOk(await call('GET', '/users/me/playback-state'));
      assert.equal(got.deviceId, 'speaker');
      assert.equal(got.position, res.position, 'paused on the target');
      const last = (await events(call)).events.at(-1);
      assert.equal(last.type, 'playback_transferred');
      assert.equal(last.deviceId, 'phone');
      assert.deepEqual([last.data.fromDeviceId, last.data.toDeviceId, last.data.state.deviceId], ['phone', 'speaker', 'speaker']);
      // Back to the phone by its own write: that is a transfer again.
      assertOk(await put(call, { deviceId: 'phone', position: 0 }));
      assert.equal((await events(call)).events.at(-1).type, 'playback_transferred');
    });

    it('lists devices registered over REST and those that only wrote state', async () => {
      const { call } = await user();
      const tv = assertOk(await call('PUT', '/users/me/devices/tv-1', { name: 'TV', type: 'tv' }));
      assert.deepEqual(
        { ...tv, lastSeen: 0, firstSeen: 0 },
        { deviceId: 'tv-1', name: 'TV', type: 'tv', online: false, isActive: false, lastSeen: 0, firstSeen: 0 },
      );
      assertOk(await put(call, { deviceId: 'phone' }));
      const renamed = assertOk(await call('PUT', '/users/me/devices/tv-1', { name: 'Big TV' }));
      assert.equal(renamed.type, 'tv', 'a rename keeps the type');
      assert.equal(renamed.firstSeen, tv.firstSeen);
      const { devices } = assertOk(await call('GET', '/users/me/devices'));
      const byId = Object.fromEntries(devices.map((d: any) => [d.deviceId, d]));
      assert.deepEqual(Object.keys(byId).sort(), ['phone', 'tv-1']);
      assert.equal(byId['tv-1'].name, 'Big TV');
      assert.equal(byId.phone.isActive, true);
      assert.equal(byId['tv-1'].isActive, false);
      assert.equal(byId.phone.online, false);
      assert.deepEqual((await (await user()).call('GET', '/users/me/devices')).body, { devices: [] });
    });

    it("another user's path is 403; no token is 401", async () => {
      const { id } = await user();
      const { call } = await user();
      assertError(await call('GET', `/users/${id}/playback-state`), 403, 'forbidden');
      assertError(await call('PUT', `/users/${id}/playback-state`, { position: 0, isPlaying: false, deviceId: 'x', timestamp: 1 }), 403, 'forbidden');
      assertError(await call('GET', `/users/${id}/devices`), 403, 'forbidden');
      assertError(await call('PUT', `/users/${id}/devices/d`, {}), 403, 'forbidden');
      assertError(await call('POST', `/users/${id}/playback/transfer`, { deviceId: 'd' }), 403, 'forbidden');
      assertError(await call('GET', `/users/${id}/sync-events`), 403, 'forbidden');
      assertError(await client(server.url)('GET', '/users/me/playback-state'), 401, 'missing_token');
    });

    it('validates the body: 400 with the error shape', async () => {
      const { call } = await user();
      const ok = { position: 1, isPlaying: true, deviceId: 'd', timestamp: Date.now() };
      const bad: [string, Record<string, unknown>][] = [
        ['negative position', { ...ok, position: -1 }],
        ['bad timestamp', { ...ok, timestamp: 'yesterday' }],
        ['timestamp without zone', { ...ok, timestamp: '2024-05-01T10:00:00' }],
        ['volume 101', { ...ok, volume: 101 }],
        ['rate 5', { ...ok, rate: 5 }],
        ['missing deviceId', { position: 1, isPlaying: true, timestamp: Date.now() }],
        ['empty deviceId', { ...ok, deviceId: '' }],
        ['position as text', { ...ok, position: '1' }],
        ['unknown field', { ...ok, extra: 1 }],
        ['track id too long', { ...ok, currentTrackId: 'x'.repeat(129) }],
      ];
      for (const [what, body] of bad) {
        const res = await call('PUT', '/users/me/playback-state', body);
        assertError(res, 400, 'validation_failed');
        assert.ok(Array.isArray(res.body.error.details.issues), what);
      }
      assertError(await call('POST', '/users/me/playback/transfer', {}), 400, 'validation_failed');
      assertError(await call('PUT', '/users/me/devices/d', { name: '' }), 400, 'validation_failed');
      assertError(await call('GET', '/users/me/sync-events?since=-1'), 400, 'validation_failed');
      assertError(await call('GET', '/users/me/playback-state'), 404, 'no_playback_state');
      assertError(await put(call, { deviceId: 'd', queueId: 'no-such-queue' }), 404, 'queue_not_found');
    });

    it('strings a store cannot hold are 400, emoji round-trip; a resume point past 2^31 reads nothing', async () => {
      const { call } = await user();
      for (const odd of ['a\u0000b', 'x\ud800', '\udc00y']) {
        const ok = { position: 1, isPlaying: true, deviceId: 'd', timestamp: Date.now() };
        for (const body of [
          { ...ok, deviceId: odd },
          { ...ok, currentTrackId: odd },
          { ...ok, mutationId: odd },
        ]) {
          assertError(await call('PUT', '/users/me/playback-state', body), 400, 'invalid_string');
        }
        assertError(await call('PUT', '/users/me/devices/d', { name: odd }), 400, 'invalid_string');
      }
      assertError(await call('PUT', '/users/me/devices/x%00', {}), 400, 'invalid_string');
      assertError(await call('GET', '/users/me/playback-state?exclude_device=x%00'), 400, 'invalid_string');
      const emoji = assertOk(await put(call, { deviceId: 'phone 📱', currentTrackId: 'ü-𝄞' }));
      assert.deepEqual([emoji.deviceId, emoji.currentTrackId], ['phone 📱', 'ü-𝄞']);
      assert.equal(assertOk(await call('PUT', `/users/me/devices/${encodeURIComponent('phone 📱')}`, { name: 'Téléphone 👩‍👩‍👧' })).name, 'Téléphone 👩‍👩‍👧');
      const far = assertOk(await call('GET', '/users/me/sync-events?since=2147483648'));
      assert.deepEqual(far, { events: [], version: 1, nextSince: 2147483648, hasMore: false });
      assertError(await call('GET', '/users/me/sync-events?since=1e300'), 400, 'validation_failed');
    });

    it('an idempotent retry returns the first answer and appends nothing', async () => {
      const { call } = await user();
      const body = { position: 5, isPlaying: true, deviceId: 'phone', timestamp: Date.now() };
      const first = await call('PUT', '/users/me/playback-state', body, { 'idempotency-key': 'k-1' });
      assertOk(first);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      await sleep(20); // the repeat comes later (a replay must not be a fresh answer)
      const again = await call('PUT', '/users/me/playback-state', body, { 'idempotency-key': 'k-1' });
      assert.deepEqual(assertOk(again), first.body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal((await events(call)).version, 1);
      // mutationId in the body works the same; reusing it for another request is refused.
      const m1 = assertOk(await call('POST', '/users/me/playback/transfer', { deviceId: 'phone', mutationId: 'm-1' }));
      assert.deepEqual(assertOk(await call('POST', '/users/me/playback/transfer', { deviceId: 'phone', mutationId: 'm-1' })), m1);
      assert.equal((await events(call)).version, 2);
      assertError(await call('PUT', '/users/me/playback-state', { ...body, mutationId: 'm-1' }), 422, 'idempotency_key_reused');
    });

    it('documents the routes in OpenAPI', async () => {
      const doc = assertOk(await client(server.url)('GET', '/openapi.json'));
      for (const p of [
        '/users/{userId}/playback-state',
        '/users/{userId}/playback/transfer',
        '/users/{userId}/devices',
        '/users/{userId}/devices/{deviceId}',
        '/users/{userId}/sync-events',
      ]) {
        assert.ok(doc.paths[p], `path ${p}`);
      }
      assert.deepEqual(doc.paths['/users/{userId}/playback-state'].put.tags, ['playback']);
      assert.deepEqual(doc.paths['/users/{userId}/devices'].get.tags, ['devices']);
    });
  });
}
