// The client SDK (@queue-service/client, the built package) against real server processes,
// on SQLite and on Postgres: optimistic edits and their acks, convergence of two devices
// under random concurrent edits, rollback of refused edits, offline edits that land once
// (also across a restart of the client process), long queues mirrored by windows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QueueClient, QueueServiceError, type QueueMirror } from '@queue-service/client';
import { mulberry32 } from '../helpers/random.ts';
import { freePort } from '../helpers/redis.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { mirrorView, serverView, sleep, until } from '../helpers/client.ts';
import { testContext } from '../helpers/client-context.ts';

const root = new URL('../..', import.meta.url).pathname;
const fast = { reconnect: { baseMs: 50, maxMs: 500 } };

for (const { kind, skip } of storeKinds) {
  describe(`client SDK on ${kind}`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    let token: string;
    let api: ReturnType<typeof client>;
    const clients: QueueClient[] = [];
    const make = (deviceId: string, extra: Partial<ConstructorParameters<typeof QueueClient>[0]> = {}) => {
      const c = new QueueClient({ baseUrl: server.url, token, deviceId, ...fast, ...extra });
      clients.push(c);
      return c;
    };

    before(async () => {
      server = await startServerOn(kind);
      token = await mintToken(server, 'alice');
      api = client(server.url, token);
    });
    after(async () => {
      for (const c of clients) await c.close();
      await server?.cleanup();
    });

    it('[SDK] an edit is in q.state at once, confirmed by its ack, and another device gets it', async () => {
      const a = make('sdk-a');
      const b = make('sdk-b');
      const created = await a.api.createQueue({ name: 'sdk', tracks: ['t1', 't2'] });
      const qa = await a.openQueue(created.queue.id);
      const qb = await b.openQueue(created.queue.id);
      assert.equal(a.status, 'online');
      assert.deepEqual(
        qa.state.items.map((i) => i.trackId),
        ['t1', 't2'],
      );
      const changes: number[][] = [];
      qb.on('change', (_s, events) => changes.push(events.map((e) => e.sequenceNumber)));

      const first = qa.state.items[0]!.itemId;
      const done = qa.addTracks(['t3'], { afterItemId: first });
      // Optimistic: in the state before the server answered, under a temporary id.
      assert.deepEqual(
        qa.state.items.map((i) => i.trackId),
        ['t1', 't3', 't2'],
      );
      assert.match(qa.state.items[1]!.itemId, /^@\d+:0$/);
      assert.equal(qa.pending.length, 1);
      assert.equal(qa.confirmed.items.length, 2, 'the confirmed state does not have it yet');
      const r = await done;
      assert.equal(r.events.length, 1);
      assert.equal(r.events[0]!.type, 'item_added');
      assert.equal(qa.pending.length, 0);
      assert.equal(qa.state.items[1]!.itemId, (r.events[0]!.data as { itemId: string }).itemId, 'the real id replaces the temporary one');
      await until(() => qb.version === r.version, 'b sees the add');
      assert.deepEqual(mirrorView(qb), mirrorView(qa));
      assert.deepEqual(mirrorView(qa), await serverView(api, created.queue.id));
      assert.deepEqual(changes.flat(), [r.version], 'b got the event once');

      // An edit naming an item that an unacknowledged edit adds waits for its ack, then uses the real id.
      const add = qa.addTracks(['t4']);
      const temp = qa.state.items.find((i) => i.trackId === 't4')!.itemId;
      assert.match(temp, /^@/);
      const move = qa.moveItem(temp, { position: 0 });
      assert.equal(qa.state.items[0]!.trackId, 't4', 'both shown at once');
      const [added, moved] = await Promise.all([add, move]);
      assert.equal((moved.events[0]!.data as { itemId: string }).itemId, (added.events[0]!.data as { itemId: string }).itemId);
      const srv = await serverView(api, created.queue.id);
      assert.deepEqual(
        srv.items.map((i) => i.trackId),
        ['t4', 't1', 't3', 't2'],
      );
      await until(() => qb.version === srv.version, 'b follows');
      assert.deepEqual(mirrorView(qa), srv);
      assert.deepEqual(mirrorView(qb), srv);

      // A write through client.api (REST, this device) is in the mirror when its answer is.
      const rest = await a.api.addTracks(created.queue.id, { tracks: ['t5'] }, { minimal: true });
      assert.equal(qa.version, rest.version);
      assert.equal(qa.state.items.at(-1)!.trackId, 't5');
    });

    it('[SDK] random concurrent edits from two devices: both mirrors end equal to the server (seeded)', async () => {
      const seed = Number(process.env.QS_CLIENT_SEED ?? Date.now() % 1_000_000);
      const rnd = mulberry32(seed);
      const a = make('rnd-a');
      const b = make('rnd-b');
      const created = await a.api.createQueue({ name: 'random', tracks: ['s1', 's2', 's3', 's4'] });
      const qa = await a.openQueue(created.queue.id);
      const qb = await b.openQueue(created.queue.id);
      const pick = (q: QueueMirror) => {
        const items = q.state.items.filter((i) => !i.itemId.startsWith('@'));
        return items[Math.floor(rnd() * items.length)]?.itemId;
      };
      const ops: Promise<unknown>[] = [];
      let n = 0;
      for (let step = 0; step < 60; step++) {
        const q = rnd() < 0.5 ? qa : qb;
        const r = rnd();
        const it = pick(q);
        let p: Promise<unknown>;
        if (r < 0.35 || !it) p = q.addTracks([`r${n++}`], rnd() < 0.5 && it ? { afterItemId: it } : rnd() < 0.5 ? { position: Math.floor(rnd() * 5) } : {});
        else if (r < 0.5) p = q.removeItem(it);
        else if (r < 0.7) p = q.moveItem(it, rnd() < 0.5 ? { position: Math.floor(rnd() * 6) } : { beforeItemId: pick(q) ?? it });
        else if (r < 0.8) p = q.next();
        else if (r < 0.87) p = q.setShuffle(rnd() < 0.5);
        else if (r < 0.93) p = q.setRepeat(rnd() < 0.5 ? 'all' : 'off');
        else p = q.setCurrent(it);
        // Refusals (an item the other device removed meanwhile, ...) are fine: they roll back.
        ops.push(p.catch((e) => assert.ok(e instanceof QueueServiceError, String(e))));
        if (rnd() < 0.3) await sleep(Math.floor(rnd() * 15)); // random pacing of the edits, on purpose
      }
      await Promise.all(ops);
      const srv = await serverView(api, created.queue.id);
      await until(
        () => qa.version === srv.version && qb.version === srv.version,
        () => `mirrors reach ${srv.version} (seed ${seed}): a ${qa.version}, b ${qb.version}`,
      );
      assert.deepEqual(mirrorView(qa), srv, `seed ${seed}`);
      assert.deepEqual(mirrorView(qb), srv, `seed ${seed}`);
      assert.equal(qa.pending.length + qb.pending.length, 0);
    });

    it('[SDK] a refused edit is rolled back with an error event; the state equals the server', async () => {
      const a = make('rb-a');
      const created = await a.api.createQueue({ name: 'rollback', tracks: ['x1'] });
      const q = await a.openQueue(created.queue.id);
      const stale = q.version;
      await api('POST', `/queues/${created.queue.id}/tracks`, { tracks: ['other'] });
      await until(() => q.version === stale + 1, 'the other add arrives');
      const errors: QueueServiceError[] = [];
      q.on('error', (e) => errors.push(e));
      const p = q.mutate('add_tracks', { tracks: ['mine'], expectedVersion: stale });
      assert.ok(
        q.state.items.some((i) => i.trackId === 'mine'),
        'shown at once',
      );
      await assert.rejects(p, (e: QueueServiceError) => e.code === 'version_conflict' && e.status === 409);
      assert.equal(errors[0]?.code, 'version_conflict');
      assert.ok(!q.state.items.some((i) => i.trackId === 'mine'), 'rolled back');
      assert.deepEqual(mirrorView(q), await serverView(api, created.queue.id));

      // A viewer's edit: refused by the server (403), never in the state for long.
      const bobToken = await mintToken(server, 'bob');
      await api('POST', `/queues/${created.queue.id}/collaborators`, { userId: 'bob', permissionLevel: 'viewer' });
      const bob = new QueueClient({ baseUrl: server.url, token: bobToken, deviceId: 'rb-bob', ...fast });
      clients.push(bob);
      const qb = await bob.openQueue(created.queue.id);
      await assert.rejects(qb.removeItem(qb.state.items[0]!.itemId), (e: QueueServiceError) => e.code === 'forbidden' && e.status === 403);
      assert.deepEqual(mirrorView(qb), await serverView(api, created.queue.id));

      // A queue that does not exist ends the mirror with an error.
      await assert.rejects(bob.openQueue('no-such-queue'), (e: QueueServiceError) => e.code === 'queue_not_found' && e.status === 404);
    });

    it('[SDK] offline edits are kept, shown, and land exactly once when back online; conflicts come back as events', async () => {
      const a = make('off-a');
      const b = make('off-b');
      const created = await a.api.createQueue({ name: 'offline', tracks: ['o1', 'o2', 'o3'] });
      const qa = await a.openQueue(created.queue.id);
      const qb = await b.openQueue(created.queue.id);
      const [i1, i2, i3] = qa.state.items.map((i) => i.itemId);
      a.goOffline();
      await until(() => a.status === 'offline', 'a offline');
      const landed = [qa.addTracks(['off-new'], { afterItemId: i1 }), qa.removeItem(i3!)];
      const temp = qa.state.items[1]!.itemId;
      assert.match(temp, /^@/);
      landed.push(qa.moveItem(temp, { position: 0 }), qa.moveItem(i2!, { afterItemId: temp }));
      assert.deepEqual(
        qa.state.items.map((i) => i.trackId),
        ['off-new', 'o2', 'o1'],
      );
      assert.equal((await a.pendingMutations()).length, 4);
      // Meanwhile on the other device: i2 goes away (a's move of it will be dropped), a new track arrives.
      await qb.removeItem(i2!);
      await qb.addTracks(['from-b']);
      const conflicts: unknown[] = [];
      qa.on('conflict', (c) => conflicts.push(c));
      const synced: unknown[] = [];
      a.on('synced', (s) => synced.push(s));
      a.goOnline();
      const outcomes = await Promise.allSettled(landed);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
      );
      assert.equal(conflicts.length, 1, 'the dropped move is reported');
      assert.deepEqual(synced, [{ edits: 4, conflicts: 1, refused: 1 }], 'one batch, reported once');
      const srv = await serverView(api, created.queue.id);
      await until(() => qa.version === srv.version && qb.version === srv.version, 'both mirrors at the server version');
      assert.deepEqual(mirrorView(qa), srv);
      assert.deepEqual(mirrorView(qb), srv);
      assert.deepEqual(
        srv.items.map((i) => i.trackId),
        ['off-new', 'o1', 'from-b'],
      );
      const log = (await api('GET', `/queues/${created.queue.id}/events?limit=1000`)).body.events as { type: string; data: { trackId?: string } }[];
      assert.equal(log.filter((e) => e.type === 'item_added' && e.data.trackId === 'off-new').length, 1, 'added once');
      assert.equal((await a.pendingMutations()).length, 0);
    });

    it('[SDK] offline edits survive restarts of the client process (FileStorage), the queue opens offline from storage, the edits land once', async () => {
      const created = await api('POST', '/queues', { name: 'restart', tracks: ['p1', 'p2'] });
      const queueId = created.body.queue.id as string;
      const dir = mkdtempSync(join(tmpdir(), 'qs-client-store-'));
      const deadUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there
      try {
        const run = (step: string) =>
          new Promise<string>((resolve, reject) => {
            const url = step === 'cold' ? deadUrl : server.url;
            const p = spawn(process.execPath, [join(root, 'test/helpers/client-process.ts'), step, url, token, queueId, dir], {
              cwd: root,
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let out = '';
            p.stdout!.on('data', (d) => (out += d));
            p.stderr!.on('data', (d) => (out += d));
            const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
            p.on('exit', (code) => {
              clearTimeout(t);
              if (code === 0) resolve(out.trim());
              else reject(new Error(`client process ${step} exited ${code}:\n${out}`));
            });
          });
        // First run: opens the queue, goes offline, edits, and is killed before it ever syncs.
        assert.equal(await run('edit'), 'pending 3');
        assert.equal((await serverView(api, queueId)).items.length, 2, 'nothing reached the server');
        // Second run, offline from the start: the queue opens from storage with the edits on it.
        assert.equal(await run('cold'), 'connecting true r-new,p1,r-end pending 4');
        // Third run: a new process with the same storage sends them; a fourth finds nothing to send.
        const out = JSON.parse(await run('sync'));
        assert.equal(out.pending, 0);
        const srv = await serverView(api, queueId);
        assert.deepEqual(out.state, srv);
        assert.deepEqual(
          srv.items.map((i) => i.trackId),
          ['r-new', 'r-end', 'p1'],
        );
        const again = JSON.parse(await run('sync'));
        assert.equal(again.pending, 0);
        assert.equal((await serverView(api, queueId)).version, srv.version, 'nothing applied twice');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('[SDK] a refused token (HTTP 401 at the upgrade) asks getToken, then the client comes online', async () => {
      let asked = 0;
      const c = make('tok-a', {
        token: 'not-a-token',
        getToken: async () => {
          asked++;
          return mintToken(server, 'alice');
        },
      });
      const q = await c.openQueue((await api('POST', '/queues', { name: 'tok', tracks: ['a'] })).body.queue.id);
      assert.equal(c.status, 'online');
      assert.equal(asked, 1);
      assert.deepEqual(
        q.state.items.map((i) => i.trackId),
        ['a'],
      );
    });

    it('[SDK] a deleted queue and revoked access end the mirror with an error event', async () => {
      const bobToken = await mintToken(server, 'bobby');
      const created = (await api('POST', '/queues/collaborative', { name: 'gone', tracks: ['g'], collaborators: ['bobby'] })).body.queue;
      const bob = make('gone-bob', { token: bobToken });
      const q = await bob.openQueue(created.id);
      const ended = new Promise<QueueServiceError | null>((r) => q.on('closed', r));
      await api('DELETE', `/queues/${created.id}/collaborators/bobby`);
      const err = await ended;
      assert.equal(err?.status, 403);
      assert.equal(q.closed, true);
      const mine = await make('gone-a').openQueue(created.id);
      const deleted = new Promise<QueueServiceError | null>((r) => mine.on('closed', r));
      await api('DELETE', `/queues/${created.id}`);
      assert.equal((await deleted)?.code, 'queue_deleted');
    });

    it('[SDK] playback: an update on one device reaches the other; positionNow moves on; transferTo hands it over; an offline report is synced', async () => {
      const a = make('pb-a');
      const b = make('pb-b');
      await a.openQueue((await api('POST', '/queues', { name: 'pb', tracks: ['t'] })).body.queue.id);
      await until(() => b.status === 'online', 'b online');
      const pa = a.playback();
      const pb = b.playback();
      const s = await pa.update({ trackId: 'track-9', position: 10, isPlaying: true });
      assert.equal(s.currentTrackId, 'track-9');
      await until(() => pb.state?.currentTrackId === 'track-9', 'b gets the playback state');
      assert.equal(pb.state!.deviceId, 'pb-a');
      const p1 = pb.positionNow()!;
      assert.ok(p1 >= 10 && p1 < 30, `position ${p1}`);
      await sleep(200); // time passes: the position moves on by itself
      assert.ok(pb.positionNow()! > p1, 'extrapolated while playing');
      await pa.update({ trackId: 'track-9', position: 42, isPlaying: false });
      await until(() => pb.state?.isPlaying === false, 'pause reaches b');
      assert.equal(pb.positionNow(), 42);
      await b.playback().transferTo('pb-b', true);
      await until(() => pa.state?.deviceId === 'pb-b' && pa.state.isPlaying, 'a sees the transfer');
      // The device list comes in its own message, which may follow the transfer's state.
      await until(() => pa.devices.some((d) => d.deviceId === 'pb-b'), "a lists b's device");

      // Offline: the report is this device's state at once, and reaches the others once synced.
      b.goOffline();
      const sent = pb.update({ trackId: 'offline-track', position: 3, isPlaying: true });
      assert.equal(pb.state?.currentTrackId, 'offline-track');
      assert.equal((await b.pendingMutations()).length, 1);
      await sleep(300); // nothing reaches the other device in 300 ms
      assert.notEqual(pa.state?.currentTrackId, 'offline-track', 'not sent while offline');
      b.goOnline();
      await sent;
      await until(() => pa.state?.currentTrackId === 'offline-track', 'a gets the offline report after the sync');
      assert.equal(pa.state!.deviceId, 'pb-b');
      assert.equal((await b.pendingMutations()).length, 0);
    });

    it("[SDK] playback: an own write answered before another device's earlier event arrives is not lost", async () => {
      // a's link delivers 300 ms late: b's report (n+1) reaches a after a's own answer (n+2),
      // and a's own event is never sent back to it ([RT5]). The mirror must read the log.
      const slow = testContext(server.url, token, { deviceId: 'pb-late-a', linkDelayMs: 300 });
      const a = make('pb-late-a', { WebSocket: slow.WebSocket });
      const b = make('pb-late-b');
      await until(() => a.status === 'online' && b.status === 'online', 'both online');
      const pa = a.playback();
      await pa.update({ trackId: 'late-0', position: 0, isPlaying: false });
      await sleep(400); // past a's 300 ms link delay: the two writes are apart
      await b.playback().update({ trackId: 'from-b', position: 1, isPlaying: true });
      const mine = await pa.update({ trackId: 'from-a', position: 2, isPlaying: true });
      await sleep(800); // b's event reaches a (300 ms late) meanwhile, and must not undo a's newer write
      assert.equal(pa.state?.currentTrackId, 'from-a', 'a holds its own newer write');
      assert.equal(pa.state?.sequenceNumber, mine.sequenceNumber);
    });

    it('[SDK] a 2,000-item queue is mirrored by windows: loadMore pages it, live edits keep it equal to the server', async () => {
      const tracks = Array.from({ length: 2000 }, (_, i) => `L${i}`);
      const created = await api('POST', '/queues', { name: 'long', tracks: tracks.slice(0, 500) });
      const queueId = created.body.queue.id as string;
      for (let i = 500; i < 2000; i += 500) await api('POST', `/queues/${queueId}/tracks`, { tracks: tracks.slice(i, i + 500) });
      const a = make('long-a');
      const b = make('long-b');
      const q = await a.openQueue(queueId);
      assert.deepEqual(q.window, { offset: 0, loaded: 200, total: 2000, complete: false, stale: false });
      assert.deepEqual(mirrorView(q), await serverView(api, queueId, 200));
      const qb = await b.openQueue(queueId);
      // Edits inside and outside the window, from the other device and from this one.
      const far = (await api('GET', `/queues/${queueId}?offset=1500&limit=3`)).body.items as { itemId: string }[];
      await qb.addTracks(['head'], { position: 0 });
      await qb.addTracks(['tail']); // beyond the window: only the count changes
      await api('POST', `/queues/${queueId}/items/${far[0]!.itemId}/move`, { position: 3 }); // moves into the window
      await api('DELETE', `/queues/${queueId}/items/${far[1]!.itemId}`); // outside
      await q.removeItem(q.state.items[5]!.itemId);
      let srv = await serverView(api, queueId, 200);
      await until(() => q.version === srv.version, 'a catches up');
      await until(() => !q.window.stale && mirrorView(q).version === srv.version, 'window settled');
      assert.equal(q.state.itemCount, 2000); // +2 adds, -2 removals
      assert.deepEqual(mirrorView(q), await serverView(api, queueId, q.window.loaded));
      // Shuffle while only a window is held: the mirror reads its window again, as many items
      // as it held (200, or 201 when the edits above left one more in it: it depends on when
      // its re-read for the moved-in item ran), now in the shuffled order.
      const heldBefore = q.window.loaded;
      await qb.setShuffle(true);
      srv = await serverView(api, queueId, 200);
      await until(() => q.version === srv.version && q.state.shuffle && !q.window.stale, 'a re-reads its window after the shuffle');
      assert.equal(q.window.loaded, Math.max(200, heldBefore));
      assert.deepEqual(mirrorView(q), await serverView(api, queueId, q.window.loaded));
      await qb.setShuffle(false);
      srv = await serverView(api, queueId, 200);
      await until(() => q.version === srv.version && !q.state.shuffle && !q.window.stale, 'and after shuffle off');
      assert.deepEqual(mirrorView(q), await serverView(api, queueId, q.window.loaded));
      while (await q.loadMore(500)) {
        await qb.addTracks([`during-${q.window.loaded}`], { position: q.window.loaded - 1 });
      }
      assert.equal(q.window.complete, true);
      srv = await serverView(api, queueId);
      await until(() => q.version === srv.version, 'a at the server version');
      assert.deepEqual(mirrorView(q), srv);
      assert.equal(q.state.items.length, srv.itemCount);
      // Whole now: shuffle folds exactly with evolve.
      await qb.setShuffle(true);
      srv = await serverView(api, queueId);
      await until(() => q.version === srv.version, 'a gets the shuffle');
      assert.deepEqual(mirrorView(q), srv);
    });

    it('[SDK][QW3] loadMore after the last item held moved past the next one, which was removed: the page has it', async () => {
      const created = await api('POST', '/queues', { name: 'edge', tracks: Array.from({ length: 203 }, (_, i) => `E${i}`) });
      const queueId = created.body.queue.id as string;
      const q = await make('edge-a').openQueue(queueId);
      assert.deepEqual(q.window, { offset: 0, loaded: 200, total: 203, complete: false, stale: false });
      const last = q.state.items[199]!.itemId;
      const next = (await api('GET', `/queues/${queueId}?offset=200&limit=1`)).body.items[0].itemId as string;
      // Nothing is left between where the window ends and where its last item went.
      assert.equal((await api('POST', `/queues/${queueId}/items/${last}/move`, { afterItemId: next })).status, 200);
      assert.equal((await api('DELETE', `/queues/${queueId}/items/${next}`)).status, 200);
      const head = (await api('GET', `/queues/${queueId}?limit=0`)).body;
      await until(() => q.version === head.version && !q.window.stale, 'the mirror gets the move and the removal');
      assert.deepEqual(q.window, { offset: 0, loaded: 199, total: 202, complete: false, stale: false }, 'the moved item left the window');
      assert.equal(await q.loadMore(), true);
      assert.equal(q.window.complete, true);
      assert.deepEqual(mirrorView(q), await serverView(api, queueId));
      assert.equal(q.state.items[199]!.itemId, last);
    });
  });
}
