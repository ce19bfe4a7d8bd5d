// Real WebSocket clients against real server processes, on each store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, eventsOf, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';
import { newQueue as createQueue } from '../helpers/http.ts';

/** Sequence numbers must be exactly from..to, in order. */
function assertGapless(seqs: number[], from: number, to: number, what: string) {
  assert.deepEqual(
    seqs,
    Array.from({ length: to - from + 1 }, (_, i) => from + i),
    `${what}: not gapless/in order`,
  );
}

for (const { kind, skip } of storeKinds) {
  describe(`realtime on ${kind}`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    let alice: string;
    let bob: string;
    let api: ReturnType<typeof client>;
    const sockets: TestSocket[] = [];
    const open = async (...args: Parameters<typeof connect>) => {
      const s = await connect(...args);
      sockets.push(s);
      return s;
    };

    before(async () => {
      server = await startServerOn(kind, { env: { WS_MAX_BUFFERED_BYTES: '65536' } });
      alice = await mintToken(server, 'alice');
      bob = await mintToken(server, 'bob');
      api = client(server.url, alice);
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      await server.cleanup();
    });

    const newQueue = (tracks: string[] = ['a', 'b', 'c']) => createQueue(api, tracks, 'rt');

    it('[RT1][RT3] a queue socket opens with hello and a snapshot of the queue', async () => {
      const q = await newQueue();
      const s = await open(server.url, `/ws/queues/${q.id}`, { token: alice });
      const hello = await s.waitFor((m) => m.type === 'hello');
      assert.equal(hello.protocolVersion, 1);
      assert.equal(hello.sequenceNumber, q.version);
      const snap = await s.waitFor((m) => m.type === 'snapshot');
      assert.equal(snap.sequenceNumber, q.version);
      assert.deepEqual(
        snap.data.items.map((i: any) => i.trackId),
        ['a', 'b', 'c'],
      );
      assert.equal(snap.reason, 'initial');
    });

    it('[RT5][RT6] two devices: a command is acked to its sender and delivered once to the other', async () => {
      const q = await newQueue();
      const phone = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { deviceId: 'phone', since: q.version } });
      const desk = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { deviceId: 'desk', since: q.version } });
      await phone.waitFor((m) => m.type === 'hello');
      await desk.waitFor((m) => m.type === 'hello');
      const ack = await phone.command('add_tracks', { tracks: ['x', 'y'] });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      assert.deepEqual(ack.sequenceNumbers, [q.version + 1, q.version + 2]);
      const got = await desk.waitFor((m) => m.type === 'item_added' && m.sequenceNumber === q.version + 2);
      assert.equal(got.deviceId, 'phone');
      assert.equal(got.queueId, q.id);
      assert.equal(typeof got.timestamp, 'number');
      assert.equal(got.data.trackId, 'y');
      // The other device's change reaches the phone; the phone's own never comes back.
      const ack2 = await desk.command('next', {});
      assert.equal(ack2.type, 'ack');
      await phone.waitFor((m) => m.type === 'current_item_changed');
      await sleep(200); // and nothing of its own comes back to the phone in the next 200 ms
      assert.equal(eventsOf(phone, 'queue').filter((m) => m.deviceId === 'phone').length, 0, 'own change sent back');
      assertGapless(
        eventsOf(desk, 'queue')
          .map((m) => m.sequenceNumber)
          .concat(ack2.sequenceNumbers)
          .sort((a, b) => a - b),
        q.version + 1,
        q.version + 3,
        'desk',
      );
      // A retried mutation id is applied once.
      const again = await phone.command('add_tracks', { tracks: ['x', 'y'] }, { mutationId: ack.mutationId });
      assert.equal(again.type, 'ack');
      assert.equal(again.replayed, true);
      assert.deepEqual(again.sequenceNumbers, ack.sequenceNumbers);
      const now = await api('GET', `/queues/${q.id}`);
      assert.equal(now.body.items.length, 5);
    });

    it('[RT6] socket commands are validated and permission-checked like REST', async () => {
      const q = await newQueue();
      const s = await open(server.url, `/ws/queues/${q.id}`, { token: alice });
      await s.waitFor((m) => m.type === 'snapshot');
      const bad = await s.command('add_tracks', { tracks: 'nope' });
      assert.equal(bad.type, 'error');
      assert.equal(bad.error.code, 'validation_failed');
      const unknown = await s.command('explode', {});
      assert.equal(unknown.error.code, 'unknown_op');
      const gone = await s.command('remove_item', { itemId: 'no-such-item' });
      assert.equal(gone.error.code, 'item_not_found');
      assert.equal(gone.status, 404, 'an error message says what the same refusal gets over HTTP');
      s.ws.send('not json at all');
      const notJson = await s.waitFor((m) => m.type === 'error' && m.error.code === 'invalid_json');
      assert.equal(notJson.mutationId, null);
      assert.equal(notJson.status, 400);
      // Bob's sync socket cannot command Alice's queue: same 404 as REST.
      const b = await open(server.url, '/ws/sync/bob', { token: bob });
      await b.waitFor((m) => m.type === 'hello');
      const foreign = await b.command('add_tracks', { tracks: ['z'] }, { queueId: q.id });
      assert.equal(foreign.error.code, 'queue_not_found');
      assert.equal(foreign.status, 404);
      b.send({ type: 'subscribe', queueId: q.id });
      const sub = await b.waitFor((m) => m.type === 'error' && m.error.code === 'queue_not_found');
      assert.ok(sub);
      assert.equal((await api('GET', `/queues/${q.id}`)).body.version, q.version, 'nothing applied');
    });

    it('[RT2] resume: 50 missed changes are replayed exactly, in order, then live', async () => {
      const q = await newQueue();
      const first = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: q.version } });
      await first.waitFor((m) => m.type === 'hello');
      await first.close();
      let version = q.version;
      for (let i = 0; i < 50; i++) {
        const r = await api('POST', `/queues/${q.id}/tracks`, { tracks: [`t${i}`] });
        version = r.body.queue.version;
      }
      const back = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: q.version } });
      await back.waitFor((m) => m.type === 'item_added' && m.sequenceNumber === version);
      assert.equal(back.messages.filter((m) => m.type === 'snapshot').length, 0);
      const replayed = eventsOf(back, 'queue');
      assertGapless(
        replayed.map((m) => m.sequenceNumber),
        q.version + 1,
        version,
        'replay',
      );
      assert.deepEqual(
        replayed.map((m) => m.data.trackId),
        Array.from({ length: 50 }, (_, i) => `t${i}`),
      );
      await api('POST', `/queues/${q.id}/tracks`, { tracks: ['live'] });
      const live = await back.waitFor((m) => m.sequenceNumber === version + 1);
      assert.equal(live.data.trackId, 'live');
      await sleep(100); // no duplicate or stray event follows in the next 100 ms
      assertGapless(
        eventsOf(back, 'queue').map((m) => m.sequenceNumber),
        q.version + 1,
        version + 1,
        'replay + live',
      );
    });

    it('[RT3] resume past the cap gets one snapshot, then only newer events', async () => {
      const q = await newQueue();
      for (let i = 0; i < 2; i++) {
        const r = await api('POST', `/queues/${q.id}/tracks`, { tracks: Array.from({ length: 300 }, (_, k) => `bulk-${i}-${k}`) });
        assert.equal(r.status, 200);
      }
      const head = (await api('GET', `/queues/${q.id}`)).body.version;
      const s = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: q.version } });
      const snap = await s.waitFor((m) => m.type === 'snapshot');
      assert.equal(snap.reason, 'too_far_behind');
      assert.equal(snap.sequenceNumber, head);
      // [QW7] The header and the default window; the rest is paged with the cursor.
      assert.equal(snap.data.itemCount, 603);
      assert.equal(snap.data.items.length, 200);
      assert.deepEqual(Object.keys(snap.data.itemKeys).sort(), snap.data.items.map((i: { itemId: string }) => i.itemId).sort());
      let cursor = snap.data.window.nextCursor;
      const rest: string[] = [];
      while (cursor) {
        const page = (await api('GET', `/queues/${q.id}?cursor=${cursor}&limit=250`)).body;
        rest.push(...page.items.map((i: { trackId: string }) => i.trackId));
        cursor = page.window.nextCursor;
      }
      assert.equal(rest.length, 403);
      assert.equal(rest.at(-1), 'bulk-1-299');
      await api('POST', `/queues/${q.id}/tracks`, { tracks: ['after'] });
      const next = await s.waitFor((m) => m.type === 'item_added');
      assert.equal(next.sequenceNumber, head + 1);
      assert.equal(eventsOf(s, 'queue').length, 1);
      // A client ahead of the server (e.g. after a restore) also gets a snapshot.
      const ahead = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: head + 1000 } });
      assert.equal((await ahead.waitFor((m) => m.type === 'snapshot')).reason, 'ahead_of_server');
    });

    it('[RT2] the sync socket carries playback, transfers and subscribed queues', async () => {
      const q = await newQueue();
      const phone = await open(server.url, '/ws/sync/me', { token: alice, query: { deviceId: 'phone-1', deviceName: 'Phone', deviceType: 'phone' } });
      const speaker = await open(server.url, '/ws/sync/alice', { token: alice, query: { deviceId: 'speaker-1', deviceType: 'speaker' } });
      await phone.waitFor((m) => m.type === 'hello');
      const hello = await speaker.waitFor((m) => m.type === 'hello');
      assert.equal(hello.stream, 'user');
      // A socket without ?since starts with a snapshot; an event committed while it is read is
      // in it rather than sent on its own. Live events come after it.
      await phone.waitFor((m) => m.type === 'snapshot' && m.reason === 'initial');
      await speaker.waitFor((m) => m.type === 'snapshot' && m.reason === 'initial');
      const ack = await phone.command('set_playback', {
        queueId: q.id,
        currentTrackId: 'a',
        position: 12.5,
        isPlaying: true,
        deviceId: 'phone-1',
        timestamp: new Date().toISOString(),
      });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      const sync = await speaker.waitFor((m) => m.type === 'playback_sync' || m.type === 'playback_transferred');
      assert.equal(sync.deviceId, 'phone-1');
      assert.equal(sync.stream, 'user');
      assert.equal(sync.sequenceNumber, ack.sequenceNumbers[0]);
      // Transfer to the speaker: the speaker is told over its socket.
      const t = await api('POST', '/users/alice/playback/transfer', { deviceId: 'speaker-1', play: true });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      const moved = await speaker.waitFor((m) => m.type === 'playback_transferred');
      assert.equal(moved.data.toDeviceId, 'speaker-1');
      await phone.waitFor((m) => m.type === 'playback_transferred');
      // Devices and presence.
      const devices = await api('GET', '/users/alice/devices');
      const byId = Object.fromEntries(devices.body.devices.map((d: any) => [d.deviceId, d]));
      assert.equal(byId['phone-1'].online, true);
      assert.equal(byId['phone-1'].name, 'Phone');
      assert.equal(byId['speaker-1'].isActive, true);
      await speaker.close();
      const off = await phone.waitFor((m) => m.type === 'presence' && m.deviceId === 'speaker-1' && m.online === false);
      assert.ok(off);
      const later = await api('GET', '/users/alice/devices');
      assert.equal(later.body.devices.find((d: any) => d.deviceId === 'speaker-1').online, false);
      // Queue changes on the sync socket after subscribe, with the queue's own sequence numbers.
      phone.send({ type: 'subscribe', queueId: q.id, since: q.version });
      await phone.waitFor((m) => m.type === 'subscribed' && m.queueId === q.id);
      const r = await api('POST', `/queues/${q.id}/tracks`, { tracks: ['from-rest'] });
      const ev = await phone.waitFor((m) => m.stream === 'queue' && m.type === 'item_added');
      assert.equal(ev.sequenceNumber, r.body.queue.version);
      assert.equal(ev.queueId, q.id);
    });

    it('[RT10] tokens and paths are checked at the upgrade', async () => {
      const q = await newQueue();
      await assert.rejects(connect(server.url, `/ws/queues/${q.id}`), (e: any) => e.statusCode === 401);
      await assert.rejects(connect(server.url, `/ws/queues/${q.id}`, { token: 'not.a.token' }), (e: any) => e.statusCode === 401);
      await assert.rejects(connect(server.url, `/ws/queues/${q.id}`, { token: bob }), (e: any) => e.statusCode === 404);
      await assert.rejects(connect(server.url, '/ws/sync/alice', { token: bob }), (e: any) => e.statusCode === 403);
      await assert.rejects(connect(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: -3 } }), (e: any) => e.statusCode === 400);
      const viaHeader = await open(server.url, `/ws/queues/${q.id}`, { headers: { authorization: `Bearer ${alice}` } });
      assert.equal((await viaHeader.waitFor((m) => m.type === 'hello')).userId, 'alice');
    });

    it('[RT9] a client that stops reading is closed with 4008, not buffered without bound', async () => {
      const q = await newQueue();
      const slow = await connect(server.url, `/ws/queues/${q.id}`, { token: alice, query: { since: q.version } });
      await slow.waitFor((m) => m.type === 'hello');
      // Stop reading: the kernel buffers fill, then the server's send buffer grows.
      (slow.ws as any)._socket.pause();
      // 30 events of ~900 KB each: far more than the kernel's socket buffers hold.
      const blob = 'x'.repeat(900_000);
      // Until the server gives up on it: the paused client cannot see the close yet, and the
      // server cuts the socket 5 s after its close frame (1006) if the loop goes on much longer.
      const slowCloses = async () =>
        Number(/websocket_slow_consumer_closes_total (\d+)/.exec(await fetch(`${server.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);
      const closesBefore = await slowCloses();
      for (let i = 0; i < 30 && slow.ws.readyState === slow.ws.OPEN; i++) {
        const r = await api('PATCH', `/queues/${q.id}`, { metadata: { blob, i } });
        assert.equal(r.status, 200);
        if ((await slowCloses()) > closesBefore) break;
      }
      (slow.ws as any)._socket.resume();
      const closed = await Promise.race([slow.closed, sleep(10_000).then(() => null)]);
      assert.ok(closed, 'slow client was not closed');
      assert.equal(closed.code, 4008);
      const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
      assert.match(metrics, /websocket_slow_consumer_closes_total [1-9]/);
    });

    it('[RT5] a REST write with X-Device-Id is not echoed to that device socket', async () => {
      const q = await newQueue();
      const s = await open(server.url, `/ws/queues/${q.id}`, { token: alice, query: { deviceId: 'tablet', since: q.version } });
      await s.waitFor((m) => m.type === 'hello');
      await api('POST', `/queues/${q.id}/tracks`, { tracks: ['mine'] }, { 'x-device-id': 'tablet' });
      await api('POST', `/queues/${q.id}/tracks`, { tracks: ['theirs'] });
      const got = await s.waitFor((m) => m.type === 'item_added');
      assert.equal(got.data.trackId, 'theirs');
      assert.equal(got.sequenceNumber, q.version + 2);
    });
  });
}

describe('heartbeat', () => {
  let server: Awaited<ReturnType<typeof startServerOn>>;
  before(async () => {
    server = await startServerOn('sqlite', { env: { WS_HEARTBEAT_MS: '300' } });
  });
  after(async () => {
    await server?.cleanup();
  });

  it('[RT9] a socket that stops answering pings is closed with 4408; a live one stays', async () => {
    const token = await mintToken(server, 'hb');
    const q = (await client(server.url, token)('POST', '/queues', { name: 'hb' })).body.queue;
    const dead = await connect(server.url, `/ws/queues/${q.id}`, { token, autoPong: false });
    const live = await connect(server.url, `/ws/queues/${q.id}`, { token });
    await live.waitFor((m) => m.type === 'hello');
    const closed = await Promise.race([dead.closed, sleep(5000).then(() => null)]);
    assert.ok(closed, 'the silent socket was not closed');
    assert.equal(closed.code, 4408);
    await sleep(700); // the live socket stays open through more heartbeats
    assert.equal(live.ws.readyState, live.ws.OPEN, 'the live socket was closed');
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /^websocket_connections 1$/m);
    await live.close();
  });

  it('[RT9] a socket whose token expires while connected is closed with 4401 at the next heartbeat', async () => {
    const token = await mintToken(server, 'exp');
    const q = (await client(server.url, token)('POST', '/queues', { name: 'exp' })).body.queue;
    const short = await mintToken(server, 'exp', 2);
    const expiring = [await connect(server.url, `/ws/queues/${q.id}`, { token: short }), await connect(server.url, '/ws/sync/me', { token: short })];
    const live = await connect(server.url, `/ws/queues/${q.id}`, { token });
    for (const s of [...expiring, live]) await s.waitFor((m) => m.type === 'hello');
    const exp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp * 1000;
    for (const s of expiring) {
      const closed = await Promise.race([s.closed, sleep(8000).then(() => null)]);
      assert.ok(closed, 'the socket with an expired token was not closed');
      assert.equal(closed.code, 4401);
    }
    assert.ok(Date.now() >= exp, 'closed before the token expired');
    assert.equal(live.ws.readyState, live.ws.OPEN, 'a socket with a valid token was closed');
    await live.close();
  });
});
