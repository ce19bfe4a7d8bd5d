// Offline sync and offline preparation (docs/OFFLINE.md) against a real server process
// per store kind, with real WebSocket clients for the devices that stay online.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { deriveMediaKey, mediaSignature, signMediaUrl, verifyMediaUrl } from '../../src/media/signing.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, eventsOf, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';
import { newQueue as createQueue } from '../helpers/http.ts';
import { allEvents, assertError, assertOk, conflictOf, fold, OfflineDevice, outcomes, rebuild, viewOf, type Call } from '../helpers/offline.ts';

const trackIds = (q: { items: { trackId: string }[] }) => q.items.map((i) => i.trackId);

for (const { kind, skip } of storeKinds) {
  describe(`offline (${kind})`, { skip, timeout: 60_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void>; db: { url: string } | null };
    let aliceToken: string;
    let alice: Call;
    let bob: Call;
    let anon: Call;
    let admin: Call;
    const statuses: { path: string; status: number }[] = [];
    const sockets: TestSocket[] = [];
    // The SQLite server is given a key and a base URL; the Postgres one derives its key from the admin key.
    const configured = kind === 'sqlite';
    const baseUrl = configured ? 'https://cdn.example.test/media' : 'http://127.0.0.1:8080/media';
    let mediaKey: string;

    const tracked = (token?: string): Call => {
      const c = client(server.url, token);
      return async (method, path, body, headers) => {
        const res = await c(method, path, body, headers);
        statuses.push({ path, status: res.status });
        return res;
      };
    };

    before(async () => {
      server = await startServerOn(kind, configured ? { env: { MEDIA_SIGNING_KEY: 'test-media-key', MEDIA_BASE_URL: `${baseUrl}/` } } : {});
      mediaKey = configured ? 'test-media-key' : deriveMediaKey(server.adminKey);
      aliceToken = await mintToken(server, 'alice');
      alice = tracked(aliceToken);
      bob = tracked(await mintToken(server, 'bob'));
      anon = tracked();
      admin = tracked(server.adminKey);
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      await server?.cleanup();
      const bad = statuses.filter((s) => s.status >= 500);
      assert.deepEqual(bad, [], 'no request may answer 5xx');
    });

    const newQueue = (call: Call, tracks: string[]) => createQueue(call, tracks, 'offline');
    async function sync(call: Call, changes: unknown[], extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
      return call('POST', '/sync/offline', { changes, lastSyncTimestamp: null, ...extra }, { 'x-device-id': 'phone', ...headers });
    }
    const get = async (call: Call, id: string) => assertOk(await call('GET', `/queues/${id}`));
    const open = async (...args: Parameters<typeof connect>) => {
      const s = await connect(...args);
      sockets.push(s);
      return s;
    };

    it('[OF1]-[OF12] scenario: 20 edits offline while others edit online; after sync every device has the documented state', async () => {
      const q0 = await newQueue(alice, ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8']);
      const q = q0.id;
      const [i1, i2, i3, i4, i5, i6, i7, i8] = q0.items.map((i: any) => i.itemId);
      const V0 = q0.version;
      // The phone's copy when it went offline, and two devices that stay online.
      const phoneLocal = rebuild(q, await allEvents(alice, q));
      const tv = await open(server.url, `/ws/queues/${q}`, { token: aliceToken, query: { deviceId: 'tv', since: 0 } });
      const desk = await open(server.url, `/ws/queues/${q}`, { token: aliceToken, query: { deviceId: 'desk', since: V0 } });
      await Promise.all([tv.waitFor((m) => m.type === 'hello'), desk.waitFor((m) => m.type === 'hello')]);

      // The phone went offline a minute ago; its clock stamps its edits from then on.
      const tOffline = Date.now() - 60_000;
      const at = (k: number) => ({ clientTimestamp: tOffline + k, baseVersion: V0 });
      const phone = new OfflineDevice(`phone-${randomUUID().slice(0, 8)}`);
      phone.queue(q, 'add_tracks', { tracks: ['p1'], afterItemId: i2 }, at(1)); // 1 applied
      phone.queue(q, 'add_tracks', { tracks: ['p2'], afterItemId: i3 }, at(2)); // 2 merged: i3 removed online
      phone.queue(q, 'remove_item', { itemId: i4 }, at(3)); // 3 applied
      phone.queue(q, 'remove_item', { itemId: i6 }, at(4)); // 4 noop: removed online
      phone.queue(q, 'move_item', { itemId: i3, position: 0 }, at(5)); // 5 dropped: item gone
      phone.queue(q, 'move_item', { itemId: i7, afterItemId: i3 }, at(6)); // 6 merged: anchor gone
      phone.queue(q, 'move_item', { itemId: '@1:0', position: 0 }, at(7)); // 7 applied (p1 first)
      phone.queue(q, 'set_current', { itemId: i5 }, at(8)); // 8 dropped: removed online
      phone.queue(q, 'set_current', { itemId: i2 }, at(9)); // 9 applied
      phone.queue(q, 'next', {}, at(10)); // 10 applied
      phone.queue(q, 'set_repeat', { repeat: 'one' }, at(11)); // 11 server_wins: desk set it later
      phone.queue(q, 'set_shuffle', { shuffle: true }, at(12)); // 12 applied
      phone.queue(q, 'add_tracks', { tracks: ['p3', 'p4'], position: 2 }, at(13)); // 13 applied
      phone.queue(q, 'remove_items', { itemIds: [i4, '@13:1'] }, at(14)); // 14 applied (p4; i4 already gone)
      phone.queue(q, 'move_item', { itemId: '@13:0', position: 0 }, at(15)); // 15 applied (shuffled order only)
      phone.queue(q, 'set_shuffle', { shuffle: false }, at(16)); // 16 applied
      phone.queue(q, 'add_tracks', { tracks: ['p5'], beforeItemId: 'never-in-this-queue' }, at(17)); // 17 merged: at the end
      phone.playback({ queueId: q, itemId: i2, position: 10, isPlaying: false, deviceId: 'phone', timestamp: tOffline + 18 }, at(18)); // 18 superseded
      phone.queue(q, 'previous', {}, at(19)); // 19 applied
      phone.playback({ queueId: q, itemId: i2, position: 20, isPlaying: false, deviceId: 'phone', timestamp: tOffline + 20 }, at(20)); // 20 applied
      const changes = phone.take();
      assert.equal(changes.length, 20);

      // Meanwhile, online: REST from the laptop and commands from the desk socket.
      const laptop = { 'x-device-id': 'laptop' };
      for (const id of [i3, i5, i6]) assertOk(await alice('DELETE', `/queues/${q}/items/${id}`, undefined, laptop));
      assert.equal((await desk.command('add_tracks', { tracks: ['o1'] })).type, 'ack');
      assert.equal((await desk.command('move_item', { itemId: i8, position: 0 })).type, 'ack');
      assert.equal((await desk.command('set_repeat', { repeat: 'all' })).type, 'ack');
      assertOk(await alice('POST', `/queues/${q}/tracks`, { tracks: ['o2'], afterItemId: i1 }, laptop));
      assertOk(
        await alice('PUT', '/users/me/playback-state', { queueId: q, position: 5, isPlaying: true, deviceId: 'laptop', timestamp: tOffline + 19 }, laptop),
      );
      const beforeSync = (await get(alice, q)).version;

      // Back online.
      const answer = assertOk(await sync(alice, changes, { lastSyncTimestamp: tOffline, lastSequences: { queues: { [q]: V0 } } }));
      assert.deepEqual(outcomes(answer), {
        1: 'applied',
        2: 'merged',
        3: 'applied',
        4: 'noop',
        5: 'dropped',
        6: 'merged',
        7: 'applied',
        8: 'dropped',
        9: 'applied',
        10: 'applied',
        11: 'server_wins',
        12: 'applied',
        13: 'applied',
        14: 'applied',
        15: 'applied',
        16: 'applied',
        17: 'merged',
        18: 'superseded',
        19: 'applied',
        20: 'applied',
      });
      assert.equal(answer.synced, 17);
      assert.deepEqual(answer.errors, []);
      assert.deepEqual(
        answer.conflicts.map((c: any) => [c.change.mutationId, c.resolution, c.reason.code]),
        [
          [2, 'merged', 'anchor_gone'],
          [5, 'dropped', 'item_gone'],
          [6, 'merged', 'anchor_gone'],
          [8, 'dropped', 'item_gone'],
          [11, 'server_wins', 'setting_changed_later'],
          [17, 'merged', 'anchor_gone'],
        ],
      );
      assert.deepEqual(conflictOf(answer, 2).change, changes[1], 'the change is echoed as sent');
      const p1 = answer.results[0].itemIds[0];
      assert.ok([i2, p1].includes(conflictOf(answer, 2).reason.details.placedAfter), 'p2 goes after the nearest surviving neighbour of i3');
      assert.equal(conflictOf(answer, 11).serverState.repeat, 'all');
      assert.equal(conflictOf(answer, 17).reason.details.placedAfter, null);

      // The server state is what the policies say.
      const final = await get(alice, q);
      const byTrack = Object.fromEntries(final.items.map((i: any) => [i.trackId, i.itemId]));
      assert.deepEqual(new Set(trackIds(final)), new Set(['p1', 'p2', 'p3', 'p5', 'o1', 'o2', 't1', 't2', 't7', 't8']));
      assert.equal(final.items.length, 10, 'no add duplicated or lost');
      assert.equal(final.items[0].trackId, 'p1', 'the move to the top applied; moves while shuffled do not survive un-shuffle');
      assert.equal(final.repeat, 'all');
      assert.equal(final.shuffle, false);
      assert.equal(final.currentItemId, i2, 'set_current i2, next, previous');
      assert.equal(byTrack.p1, p1, 'results name the items each add made');
      const playback = assertOk(await alice('GET', '/users/me/playback-state'));
      assert.equal(playback.deviceId, 'phone');
      assert.equal(playback.position, 20);

      // Events: every one after V0, the sync's own carrying the phone's device id, in one append.
      const log = await allEvents(alice, q);
      assert.deepEqual(answer.events.queues[q], log.slice(V0));
      assert.equal(answer.versions.queues[q], final.version);
      const mine = log.filter((e: any) => e.sequenceNumber > beforeSync);
      assert.ok(mine.length > 0 && mine.every((e: any) => e.deviceId === 'phone'));
      assert.equal(new Set(mine.map((e: any) => e.timestamp)).size, 1, 'the batch committed in one append');
      assert.deepEqual(
        answer.results.flatMap((r: any) => (changes[r.index].resourceType === 'queue' ? r.sequenceNumbers : [])),
        mine.map((e: any) => e.sequenceNumber),
      );
      assert.deepEqual(
        answer.events.user.map((e: any) => [e.type, e.deviceId]),
        [
          ['playback_sync', 'laptop'],
          ['playback_transferred', 'phone'],
        ],
      );

      // Every device ends with the server's state: the phone rebuilt from the answer, the
      // socket client from what it received.
      assert.deepEqual(viewOf(fold(phoneLocal, answer.events.queues[q])), final);
      await tv.waitFor((m) => m.stream === 'queue' && m.sequenceNumber === final.version);
      assert.deepEqual(viewOf(rebuild(q, eventsOf(tv, 'queue', q))), final);
      await desk.waitFor((m) => m.stream === 'queue' && m.sequenceNumber === final.version);
      assert.equal(eventsOf(desk, 'queue', q).filter((m) => m.deviceId === 'phone').length, mine.length, "the desk got the phone's changes live");
      assert.equal(eventsOf(desk, 'queue', q).filter((m) => m.deviceId === 'desk').length, 0);

      // [OF12] The phone's own socket, resuming from V0, never gets its own changes back.
      const phoneSocket = await open(server.url, `/ws/queues/${q}`, { token: aliceToken, query: { deviceId: 'phone', since: V0 } });
      await phoneSocket.waitFor((m) => m.type === 'hello');
      const extra = assertOk(await alice('POST', `/queues/${q}/tracks`, { tracks: ['later'] }, laptop));
      await phoneSocket.waitFor((m) => m.stream === 'queue' && m.sequenceNumber === extra.queue.version);
      const got = eventsOf(phoneSocket, 'queue', q);
      assert.equal(got.filter((m) => m.deviceId === 'phone').length, 0);
      assert.deepEqual(
        got.map((m) => m.sequenceNumber),
        [
          ...log
            .slice(V0)
            .filter((e: any) => e.deviceId !== 'phone')
            .map((e: any) => e.sequenceNumber),
          extra.queue.version,
        ],
      );
    });

    describe('policies', () => {
      it('[OF3] an add is always kept: after a removed anchor next to its nearest surviving neighbour, an unknown anchor at the end', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd']);
        const [a, b, c] = q.items.map((i: any) => i.itemId);
        for (const id of [c, a]) assertOk(await alice('DELETE', `/queues/${q.id}/items/${id}`));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'add_tracks', { tracks: ['x'], afterItemId: c });
        dev.queue(q.id, 'add_tracks', { tracks: ['y'], beforeItemId: a });
        dev.queue(q.id, 'add_tracks', { tracks: ['z'], afterItemId: 'not-an-item' });
        dev.queue(q.id, 'add_tracks', { tracks: ['w'], afterItemId: b });
        const r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'merged', 2: 'merged', 3: 'merged', 4: 'applied' });
        assert.equal(r.synced, 4);
        assert.deepEqual(
          r.conflicts.map((x: any) => x.resolution),
          ['merged', 'merged', 'merged'],
        );
        assert.equal(conflictOf(r, 1).reason.details.placedAfter, b);
        assert.equal(conflictOf(r, 2).reason.details.placedBefore, b);
        assert.deepEqual(trackIds(await get(alice, q.id)), ['y', 'b', 'w', 'x', 'd', 'z']);
      });

      it('[OF4] removing an item that is already gone is a no-op counted as synced', async () => {
        const q = await newQueue(alice, ['a', 'b']);
        const [a, b] = q.items.map((i: any) => i.itemId);
        assertOk(await alice('DELETE', `/queues/${q.id}/items/${a}`));
        const before = (await get(alice, q.id)).version;
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'remove_item', { itemId: a });
        dev.queue(q.id, 'remove_items', { itemIds: [a, b] });
        const r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'noop', 2: 'applied' });
        assert.equal(r.synced, 2);
        assert.deepEqual(r.conflicts, []);
        const after = await get(alice, q.id);
        assert.deepEqual(after.items, []);
        assert.equal(after.version, before + 1, 'only b was removed');
      });

      it('[OF5] a move of a removed item is dropped; a move next to a removed anchor is merged', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd']);
        const [a, b, c, d] = q.items.map((i: any) => i.itemId);
        for (const id of [a, c]) assertOk(await alice('DELETE', `/queues/${q.id}/items/${id}`));
        const before = await allEvents(alice, q.id);
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'move_item', { itemId: a, position: 2 });
        dev.queue(q.id, 'move_item', { itemId: d, afterItemId: a });
        const r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'dropped', 2: 'merged' });
        assert.equal(r.synced, 1);
        assert.equal(conflictOf(r, 1).reason.code, 'item_gone');
        assert.deepEqual(conflictOf(r, 1).serverState, {
          queueId: q.id,
          version: before.length + 1,
          deleted: false,
          currentItemId: null,
          shuffle: false,
          repeat: 'off',
          itemCount: 2,
        });
        // a was first: nothing survives before it, so d goes before its successor b.
        assert.equal(conflictOf(r, 2).reason.details.placedBefore, b);
        assert.deepEqual(trackIds(await get(alice, q.id)), ['d', 'b']);
        assert.equal((await allEvents(alice, q.id)).length, before.length + 1);
      });

      it('[OF6] set_current of a removed item is dropped; null applies', async () => {
        const q = await newQueue(alice, ['a', 'b']);
        const [a, b] = q.items.map((i: any) => i.itemId);
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: b }));
        assertOk(await alice('DELETE', `/queues/${q.id}/items/${a}`));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'set_current', { itemId: a });
        let r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'dropped' });
        assert.equal(conflictOf(r, 1).reason.code, 'item_gone');
        assert.equal((await get(alice, q.id)).currentItemId, b);
        dev.queue(q.id, 'set_current', { itemId: null });
        r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 2: 'applied' });
        assert.equal((await get(alice, q.id)).currentItemId, null);
      });

      it("[OF7] next moves on from the server's current item; on an empty queue it is dropped", async () => {
        const q = await newQueue(alice, ['a', 'b', 'c']);
        const [, b, c] = q.items.map((i: any) => i.itemId);
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: b }));
        const empty = await newQueue(alice, []);
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'next');
        dev.queue(empty.id, 'next');
        const r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'applied', 2: 'dropped' });
        assert.equal(conflictOf(r, 2).reason.code, 'queue_empty');
        assert.equal((await get(alice, q.id)).currentItemId, c);
      });

      it("[OF8] shuffle and repeat: the newest change wins (server_wins, client_wins; the device's own changes never count against it)", async () => {
        const q = await newQueue(alice, ['a', 'b']);
        const base = q.version;
        const made = Date.now();
        await sleep(5); // the online edit is made strictly later than the offline one (clientTimestamp)
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }, { 'x-device-id': 'laptop' }));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        // Made before the laptop's change: the server wins. Made after it: the client wins.
        dev.queue(q.id, 'set_repeat', { repeat: 'one' }, { baseVersion: base, clientTimestamp: made });
        let r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'server_wins' });
        assert.equal(r.synced, 0);
        assert.equal(conflictOf(r, 1).reason.code, 'setting_changed_later');
        assert.equal((await get(alice, q.id)).repeat, 'all');
        dev.queue(q.id, 'set_repeat', { repeat: 'one' }, { baseVersion: base, clientTimestamp: Date.now() + 1000 });
        r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 2: 'client_wins' });
        assert.equal(r.synced, 1);
        assert.equal((await get(alice, q.id)).repeat, 'one');
        // The phone's own earlier change does not make its later (older-stamped) one lose.
        assertOk(await alice('PUT', `/queues/${q.id}/shuffle`, { shuffle: true }, { 'x-device-id': 'phone' }));
        dev.queue(q.id, 'set_shuffle', { shuffle: false }, { baseVersion: base, clientTimestamp: made });
        r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 3: 'applied' });
        assert.equal((await get(alice, q.id)).shuffle, false);
      });

      it('[OF9] clear removes what the client saw and keeps what others added since its baseVersion', async () => {
        const q = await newQueue(alice, ['a', 'b']);
        assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['new'] }, { 'x-device-id': 'laptop' }));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'add_tracks', { tracks: ['mine'] }, { baseVersion: q.version });
        dev.queue(q.id, 'clear', {}, { baseVersion: q.version });
        let r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'applied', 2: 'merged' });
        assert.equal(conflictOf(r, 2).reason.code, 'kept_newer_items');
        assert.deepEqual(trackIds(await get(alice, q.id)), ['new']);
        // Without a baseVersion, clear clears everything.
        dev.queue(q.id, 'clear', {});
        r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 3: 'applied' });
        assert.deepEqual((await get(alice, q.id)).items, []);
      });

      it('[OF10] playback: the newest timestamp wins; an older state is server_wins and writes nothing', async () => {
        const { call } = await freshUser();
        const t = Date.now();
        assertOk(await call('PUT', '/users/me/playback-state', { position: 50, isPlaying: false, deviceId: 'laptop', timestamp: t }));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.playback({ position: 1, isPlaying: false, deviceId: 'phone', timestamp: t - 2000 });
        dev.playback({ position: 2, isPlaying: false, deviceId: 'phone', timestamp: t - 1000 });
        let r = assertOk(await sync(call, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'server_wins', 2: 'server_wins' });
        assert.equal(conflictOf(r, 2).reason.code, 'newer_playback_state');
        assert.equal(conflictOf(r, 2).serverState.deviceId, 'laptop');
        assert.equal(conflictOf(r, 2).serverState.position, 50);
        assert.equal(assertOk(await call('GET', '/users/me/sync-events')).version, 1);
        // Newer than the server's: only the newest of the batch is written.
        dev.playback({ position: 7, isPlaying: false, deviceId: 'phone', timestamp: t + 2000 });
        dev.playback({ position: 6, isPlaying: false, deviceId: 'phone', timestamp: t + 1000 });
        r = assertOk(await sync(call, dev.take()));
        assert.deepEqual(outcomes(r), { 3: 'applied', 4: 'superseded' });
        assert.equal(r.synced, 2);
        const now = assertOk(await call('GET', '/users/me/playback-state'));
        assert.equal(now.position, 7);
        assert.equal(now.deviceId, 'phone');
        assert.equal(assertOk(await call('GET', '/users/me/sync-events')).version, 2);
      });

      it("[OF11] changes to a deleted queue, a stranger's queue or a missing one are dropped; the stranger learns nothing", async () => {
        const deleted = await newQueue(alice, ['a']);
        assertOk(await alice('DELETE', `/queues/${deleted.id}`));
        const bobs = await newQueue(bob, ['b']);
        const bobsLog = await allEvents(bob, bobs.id);
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(deleted.id, 'add_tracks', { tracks: ['x'] });
        dev.queue(bobs.id, 'add_tracks', { tracks: ['x'] });
        dev.queue('no-such-queue', 'next');
        const r = assertOk(await sync(alice, dev.take()));
        assert.deepEqual(outcomes(r), { 1: 'dropped', 2: 'dropped', 3: 'dropped' });
        assert.deepEqual(
          r.conflicts.map((c: any) => c.reason.code),
          ['queue_not_found', 'queue_not_found', 'queue_not_found'],
        );
        assert.deepEqual(conflictOf(r, 1).serverState, { queueId: deleted.id, version: deleted.version + 1, deleted: true });
        assert.equal(conflictOf(r, 2).serverState, null);
        assert.equal(conflictOf(r, 3).serverState, null);
        assert.equal(r.events.queues[bobs.id], undefined, 'no events of a queue the caller cannot read');
        assert.equal(r.events.queues[deleted.id].at(-1).type, 'queue_deleted');
        assert.deepEqual(await allEvents(bob, bobs.id), bobsLog);
      });
    });

    /** Deletes a user's offline records behind the server's back (a crash before they were written). */
    async function forget(userId: string): Promise<void> {
      if (kind === 'sqlite') {
        const db = new Database(join(server.dataDir, 'queue.db'));
        db.pragma('busy_timeout = 5000');
        db.prepare('DELETE FROM offline_outcomes WHERE user_id = ?').run(userId);
        db.prepare('DELETE FROM offline_clients WHERE user_id = ?').run(userId);
        db.close();
      } else {
        const c = new pg.Client({ connectionString: server.db!.url });
        await c.connect();
        await c.query('DELETE FROM offline_outcomes WHERE user_id = $1', [userId]);
        await c.query('DELETE FROM offline_clients WHERE user_id = $1', [userId]);
        await c.end();
      }
    }

    it('[OF11] a collaborator whose role no longer allows a change, or who was removed, has it dropped', async () => {
      const q = await newQueue(alice, ['a']);
      assertOk(await alice('POST', `/queues/${q.id}/collaborators`, { userId: 'bob', permissionLevel: 'contributor' }));
      const dev = new OfflineDevice(`c-${randomUUID()}`);
      dev.queue(q.id, 'add_tracks', { tracks: ['from-bob'] });
      dev.queue(q.id, 'set_repeat', { repeat: 'all' }); // a contributor may add, not control playback
      let r = assertOk(await sync(bob, dev.take()));
      assert.deepEqual(outcomes(r), { 1: 'applied', 2: 'dropped' });
      assert.equal(conflictOf(r, 2).reason.code, 'forbidden');
      assert.equal(conflictOf(r, 2).serverState.queueId, q.id, 'a member still sees the queue');
      assertOk(await alice('DELETE', `/queues/${q.id}/collaborators/bob`));
      const log = await allEvents(alice, q.id);
      dev.queue(q.id, 'add_tracks', { tracks: ['too-late'] });
      r = assertOk(await sync(bob, dev.take()));
      assert.deepEqual(outcomes(r), { 3: 'dropped' });
      assert.equal(conflictOf(r, 3).reason.code, 'queue_not_found');
      assert.equal(conflictOf(r, 3).serverState, null);
      assert.equal(r.events.queues[q.id], undefined);
      assert.deepEqual(await allEvents(alice, q.id), log);
      assert.deepEqual(trackIds(await get(alice, q.id)), ['a', 'from-bob']);
    });

    let users = 0;
    async function freshUser(): Promise<{ id: string; call: Call }> {
      const id = `off${++users}-${randomUUID().slice(0, 6)}`;
      return { id, call: tracked(await mintToken(server, id)) };
    }

    describe('once, in order', () => {
      it('[OF1] a retried batch is answered the same way and appends nothing (also when sent twice at once)', async () => {
        const { call } = await freshUser();
        const q = await newQueue(call, ['a', 'b', 'c']);
        const [a, b] = q.items.map((i: any) => i.itemId);
        assertOk(await call('DELETE', `/queues/${q.id}/items/${a}`));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'add_tracks', { tracks: ['x'], afterItemId: a });
        dev.queue(q.id, 'remove_item', { itemId: a });
        dev.queue(q.id, 'move_item', { itemId: a, position: 0 });
        dev.queue(q.id, 'move_item', { itemId: b, position: 5 });
        dev.queue(q.id, 'bogus_op', {});
        dev.queue(q.id, 'set_repeat', { repeat: 'all' });
        dev.playback({ position: 3, isPlaying: false, deviceId: 'phone', timestamp: Date.now() });
        const batch = dev.take();
        const first = assertOk(await sync(call, batch));
        const log = await allEvents(call, q.id);
        const userVersion = assertOk(await call('GET', '/users/me/sync-events')).version;
        const strip = (x: any) => ({
          ...x,
          results: x.results.map((r: any) => ({ ...r, replayed: undefined })),
          serverTime: undefined,
          events: undefined,
          versions: undefined,
          hasMore: undefined,
          queues: undefined,
        });
        for (const again of [await sync(call, batch), ...(await Promise.all([sync(call, batch), sync(call, batch)]))]) {
          const body = assertOk(again);
          assert.deepEqual(strip(body), strip(first));
          assert.ok(
            body.results.filter((r: any) => r.outcome !== 'error').every((r: any) => r.replayed),
            'decided changes are answered from their records',
          );
        }
        assert.deepEqual(outcomes(first), { 1: 'merged', 2: 'noop', 3: 'dropped', 4: 'applied', 5: 'error', 6: 'applied', 7: 'applied' });
        assert.deepEqual(await allEvents(call, q.id), log);
        assert.equal(assertOk(await call('GET', '/users/me/sync-events')).version, userVersion);
      });

      it('[OF1] a crash after the append but before the outcomes were recorded still applies each change once', async () => {
        const { id, call } = await freshUser();
        const q = await newQueue(call, ['a', 'b']);
        const [a] = q.items.map((i: any) => i.itemId);
        assertOk(await call('DELETE', `/queues/${q.id}/items/${a}`));
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        dev.queue(q.id, 'add_tracks', { tracks: ['x', 'y'], afterItemId: a });
        dev.queue(q.id, 'move_item', { itemId: a, position: 0 });
        dev.queue(q.id, 'set_repeat', { repeat: 'one' });
        dev.playback({ position: 3, isPlaying: false, deviceId: 'phone', timestamp: Date.now() });
        const batch = dev.take();
        const first = assertOk(await sync(call, batch));
        const log = await allEvents(call, q.id);
        // What the crash loses: the offline store's records of this user.
        await forget(id);
        const again = assertOk(await sync(call, batch));
        assert.deepEqual(
          again.results.map((r: any) => [r.outcome, r.replayed, r.sequenceNumbers, r.itemIds]),
          first.results.map((r: any) => [r.outcome, true, r.sequenceNumbers, r.itemIds]),
        );
        assert.deepEqual(await allEvents(call, q.id), log, 'the append is not repeated');
        assert.equal(assertOk(await call('GET', '/users/me/sync-events')).version, 1);
      });

      it('[OF1] mutation ids at or below the high-water mark of a resource are skipped; ids must increase within a batch', async () => {
        const { call } = await freshUser();
        const q = await newQueue(call, ['a']);
        const other = await newQueue(call, ['b']);
        const dev = new OfflineDevice(`c-${randomUUID()}`, 10);
        dev.queue(q.id, 'add_tracks', { tracks: ['ten'] });
        assert.deepEqual(outcomes(assertOk(await sync(call, dev.take()))), { 10: 'applied' });
        const log = await allEvents(call, q.id);
        const old = new OfflineDevice(dev.clientId, 5);
        old.queue(q.id, 'add_tracks', { tracks: ['five'] });
        old.queue(other.id, 'add_tracks', { tracks: ['six'] }); // another resource: its own mark
        const r = assertOk(await sync(call, old.take()));
        assert.deepEqual(outcomes(r), { 5: 'skipped', 6: 'applied' });
        assert.equal(r.synced, 2);
        assert.deepEqual(await allEvents(call, q.id), log, 'a skipped change appends nothing');
        assert.deepEqual(trackIds(await get(call, other.id)), ['b', 'six']);
        // Not increasing within one batch: the later change is an error.
        const mixed = [
          { clientId: dev.clientId, mutationId: 20, resourceType: 'queue', resourceId: q.id, op: 'next', clientTimestamp: Date.now() },
          { clientId: dev.clientId, mutationId: 20, resourceType: 'queue', resourceId: q.id, op: 'previous', clientTimestamp: Date.now() },
        ];
        const m = assertOk(await sync(call, mixed));
        assert.deepEqual(
          m.results.map((x: any) => x.outcome),
          ['applied', 'error'],
        );
        assert.equal(m.errors[0].error.code, 'mutation_id_not_increasing');
      });

      it("[OF2] a bad change fails alone; a queue's accepted changes commit together even while others write", async () => {
        const { call } = await freshUser();
        const q = await newQueue(call, ['a']);
        const dev = new OfflineDevice(`c-${randomUUID()}`);
        for (let k = 0; k < 30; k++) dev.queue(q.id, 'add_tracks', { tracks: [`s${k}`] });
        dev.queue(q.id, 'add_tracks', { tracks: 'not-an-array' });
        const online = Array.from({ length: 10 }, (_, k) => call('POST', `/queues/${q.id}/tracks`, { tracks: [`o${k}`] }));
        const [r] = await Promise.all([sync(call, dev.take()), ...online]);
        const body = assertOk(r);
        assert.equal(body.synced, 30);
        assert.equal(body.errors.length, 1);
        assert.equal(body.errors[0].error.code, 'validation_failed');
        const seqs = body.results.flatMap((x: any) => x.sequenceNumbers);
        assert.equal(seqs.length, 30);
        assert.deepEqual(
          seqs,
          Array.from({ length: 30 }, (_, k) => seqs[0] + k),
          'one contiguous append',
        );
        assert.equal((await get(call, q.id)).items.length, 41);
      });
    });

    describe('validation and permissions', () => {
      it('the routes are in the OpenAPI document', async () => {
        const doc = assertOk(await anon('GET', '/openapi.json'));
        assert.ok(doc.paths['/sync/offline']?.post);
        assert.ok(doc.paths['/queues/{queueId}/offline']?.get);
        assert.ok(doc.paths['/media/verify']?.get);
      });

      it('[OF2] requests that are not a batch get 4xx with the error shape', async () => {
        assertError(await anon('POST', '/sync/offline', { changes: [], lastSyncTimestamp: null }), 401, 'missing_token');
        assertError(await alice('POST', '/sync/offline', { lastSyncTimestamp: null }), 400, 'validation_failed');
        assertError(await alice('POST', '/sync/offline', { changes: {}, lastSyncTimestamp: null }), 400, 'validation_failed');
        assertError(await alice('POST', '/sync/offline', { changes: [], lastSyncTimestamp: 'yesterday' }), 400, 'validation_failed');
        assertError(await alice('POST', '/sync/offline', { changes: [], lastSyncTimestamp: null, extra: 1 }), 400, 'validation_failed');
        assertError(
          await alice('POST', '/sync/offline', { changes: [], lastSyncTimestamp: null, lastSequences: { queues: { 'bad id!': 1 } } }),
          400,
          'validation_failed',
        );
        assertError(await alice('POST', '/sync/offline', '[1,2', {}), 400, 'invalid_json');
        assertError(await sync(alice, [], { deviceId: 'tablet' }, { 'x-device-id': 'phone' }), 400, 'device_mismatch');
        const q = await newQueue(alice, []);
        const many = Array.from({ length: 1001 }, (_, k) => ({
          clientId: 'big',
          mutationId: k + 1,
          resourceType: 'queue',
          resourceId: q.id,
          op: 'next',
          clientTimestamp: 1,
        }));
        const tooMany = await sync(alice, many);
        assertError(tooMany, 413, 'too_many_changes');
        assert.deepEqual(tooMany.body.error.details, { limit: 1000, count: 1001 });
        assert.equal((await get(alice, q.id)).version, q.version, 'nothing applied');
      });

      it('[OF2] malformed changes are errors, one each; playback is only for the caller', async () => {
        const q = await newQueue(alice, ['a']);
        const ok = { clientId: `v-${randomUUID()}`, resourceType: 'queue', resourceId: q.id, op: 'next', clientTimestamp: 1 };
        const bad: unknown[] = [
          null,
          'text',
          [],
          { ...ok, mutationId: 0 },
          { ...ok, mutationId: 1.5 },
          { ...ok, mutationId: 'one' },
          { ...ok, mutationId: 1, resourceType: 'party' },
          { ...ok, mutationId: 2, resourceId: 'has space' },
          { ...ok, mutationId: 3, clientTimestamp: 'soon' },
          { ...ok, mutationId: 4, op: 'delete_queue' },
          { ...ok, mutationId: 5, op: 'add_tracks', args: { tracks: [1] } },
          { ...ok, mutationId: 6, extra: true },
          { ...ok, mutationId: 7, args: [] },
          {
            ...ok,
            mutationId: 8,
            resourceType: 'playback',
            resourceId: 'bob',
            op: 'set_playback',
            args: { position: 1, isPlaying: true, deviceId: 'x', timestamp: 1 },
          },
          { ...ok, mutationId: 9, resourceType: 'playback', resourceId: 'me', op: 'next' },
          {
            ...ok,
            mutationId: 10,
            resourceType: 'playback',
            resourceId: 'me',
            op: 'set_playback',
            args: { position: -1, isPlaying: true, deviceId: 'x', timestamp: 1 },
          },
          { ...ok, mutationId: 11, op: 'add_tracks', args: { tracks: Array.from({ length: 501 }, (_, k) => `t${k}`) } },
          { ...ok, mutationId: 12 },
        ];
        const r = assertOk(await sync(alice, bad));
        assert.deepEqual(
          r.results.map((x: any) => x.outcome),
          [...Array(bad.length - 1).fill('error'), 'applied'],
        );
        assert.equal(r.errors.length, bad.length - 1);
        for (const e of r.errors) {
          assert.deepEqual(Object.keys(e.error).sort(), ['code', 'details', 'message']);
        }
        assert.deepEqual(
          r.errors.map((e: any) => e.change),
          bad.slice(0, -1),
          'each error echoes its change',
        );
        assert.equal(r.errors[13].error.code, 'forbidden');
        assert.equal(r.errors[9].error.code, 'unknown_op');
        assert.equal(r.synced, 1);
      });
    });

    describe('offline preparation and signed URLs', () => {
      it('[MU1][MU3] GET /queues/{id}/offline signs one URL per item (MEDIA_SIGNING_KEY or the key derived from the admin key), valid for 7 days, with the queue version', async () => {
        const q = await newQueue(alice, ['t1', 'a/b c?', 'ünï']);
        const before = Date.now();
        const r = assertOk(await alice('GET', `/queues/${q.id}/offline`));
        assert.equal(r.version, q.version);
        assert.deepEqual(r.queue, await get(alice, q.id));
        assert.deepEqual(
          r.downloadUrls.map((d: any) => [d.itemId, d.trackId]),
          q.items.map((i: any) => [i.itemId, i.trackId]),
        );
        const exp = Math.floor(r.expires / 1000);
        assert.ok(exp >= Math.floor(before / 1000) + 7 * 24 * 3600 && exp <= Math.ceil(Date.now() / 1000) + 7 * 24 * 3600, `expires ${r.expires}`);
        assert.equal(r.expiresAt, new Date(r.expires).toISOString());
        for (const d of r.downloadUrls) {
          assert.equal(d.url, `${baseUrl}/tracks/${encodeURIComponent(d.trackId)}?u=alice&exp=${exp}&sig=${mediaSignature(d.trackId, 'alice', exp, mediaKey)}`);
          assert.deepEqual(verifyMediaUrl(d.url, mediaKey), { ok: true, reason: null, trackId: d.trackId, userId: 'alice', exp });
        }
        assertError(await bob('GET', `/queues/${q.id}/offline`), 404, 'queue_not_found');
        assertError(await alice('GET', '/queues/no-such-queue/offline'), 404, 'queue_not_found');
        assertError(await alice('GET', '/queues/bad%20id/offline'), 400, 'validation_failed');
        assertError(await anon('GET', `/queues/${q.id}/offline`), 401, 'missing_token');
      });

      it("[MU2] GET /media/verify: valid, expired, tampered (track, user, exp, sig), malformed, another user's", async () => {
        const q = await newQueue(alice, ['song']);
        const url: string = assertOk(await alice('GET', `/queues/${q.id}/offline`)).downloadUrls[0].url;
        const verify = async (call: Call, u: string) => assertOk(await call('GET', `/media/verify?url=${encodeURIComponent(u)}`));
        const good = await verify(admin, url);
        assert.equal(good.valid, true);
        assert.equal(good.reason, null);
        assert.equal(good.trackId, 'song');
        assert.equal(good.userId, 'alice');
        assert.equal(Date.parse(good.expiresAt), Number(new URL(url).searchParams.get('exp')) * 1000);
        assert.equal((await verify(alice, url)).valid, true, 'a user token works too');

        const past = Math.floor(Date.now() / 1000) - 10;
        const expired = await verify(admin, signMediaUrl(baseUrl, 'song', 'alice', past, mediaKey));
        assert.deepEqual([expired.valid, expired.reason, expired.userId], [false, 'expired', 'alice']);
        const u = new URL(url);
        const tamper = (f: (x: URL) => void) => {
          const x = new URL(u);
          f(x);
          return x.toString();
        };
        for (const t of [
          tamper((x) => (x.pathname = x.pathname.replace('/tracks/song', '/tracks/other'))),
          tamper((x) => x.searchParams.set('u', 'bob')),
          tamper((x) => x.searchParams.set('exp', String(Number(x.searchParams.get('exp')) + 3600))),
          tamper((x) =>
            x.searchParams.set(
              'sig',
              x.searchParams.get('sig')!.replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A')),
            ),
          ),
          signMediaUrl(baseUrl, 'song', 'alice', Number(u.searchParams.get('exp')), configured ? deriveMediaKey(server.adminKey) : 'another-key'),
        ]) {
          const v = await verify(admin, t);
          assert.deepEqual([v.valid, v.reason], [false, 'bad_signature'], t);
        }
        for (const m of [
          'not a url',
          `${baseUrl}/other/song?u=alice&exp=1&sig=x`,
          tamper((x) => x.searchParams.delete('sig')),
          tamper((x) => x.searchParams.set('exp', 'soon')),
        ]) {
          const v = await verify(admin, m);
          assert.deepEqual([v.valid, v.reason], [false, 'malformed'], m);
        }
        // Bob's URL is valid and says it is Bob's; Alice asking does not change that.
        const bq = await newQueue(bob, ['his']);
        const bobsUrl = assertOk(await bob('GET', `/queues/${bq.id}/offline`)).downloadUrls[0].url;
        const bv = await verify(alice, bobsUrl);
        assert.deepEqual([bv.valid, bv.userId, bv.trackId], [true, 'bob', 'his']);

        assertError(await anon('GET', `/media/verify?url=${encodeURIComponent(url)}`), 401, 'missing_token');
        assertError(await tracked('not-a-token')('GET', `/media/verify?url=${encodeURIComponent(url)}`), 401, 'invalid_token');
        assertError(await admin('GET', '/media/verify'), 400, 'validation_failed');
      });
    });
  });
}
