// End-to-end tests of the catalog, radio, recommendations and context API against real
// server processes (SQLite, and PostgreSQL when one answers), over a small generated
// catalog: every endpoint's validation and permissions, radio rules, feedback, extend
// and auto-extend as ordinary queue events, refresh. No request may answer 5xx.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTO_DEVICE, AUTO_EXTEND_BELOW } from '../../src/radio/service.ts';
import { NO_REPEAT_WINDOW } from '../../src/radio/batch.ts';
import { generateCatalog } from '../helpers/catalog.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

type Res = Awaited<ReturnType<ReturnType<typeof client>>>;
type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

function assertError(res: Res, status: number, code?: string): void {
  const where = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.deepEqual(Object.keys(res.body ?? {}), ['error'], where);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'details', 'message'], where);
  if (code !== undefined) assert.equal(res.body.error.code, code, where);
}

function ok(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const g = generateCatalog({ artists: 36, tracksPerArtist: 10, clusters: 4, playlists: 240, length: 14 });
const artistNo = (trackId: string) => Number(/^a(\d+)t/.exec(trackId)![1]);
const enc = encodeURIComponent;

for (const { kind, skip } of storeKinds) {
  describe(`radio and recommendations (${kind})`, { skip, timeout: 90_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    const seen: { path: string; status: number }[] = [];
    const track = (token?: string): Call => {
      const c = client(server.url, token);
      return async (method, path, body, headers) => {
        const res = await c(method, path, body, headers);
        seen.push({ path: `${method} ${path}`, status: res.status });
        return res;
      };
    };
    let admin: Call;
    let alice: Call;
    let bob: Call;
    let anon: Call;

    before(async () => {
      server = await startServerOn(kind);
      admin = track(server.adminKey);
      alice = track(await mintToken(server, 'alice'));
      bob = track(await mintToken(server, 'bob'));
      anon = track();
      ok(await admin('POST', '/catalog/tracks', { tracks: g.tracks }));
      for (let i = 0; i < g.playlists.length; i += 100) ok(await admin('POST', '/catalog/playlists', { playlists: g.playlists.slice(i, i + 100) }));
    });

    after(async () => {
      await server?.cleanup();
    });

    describe('catalog', () => {
      it('POST /catalog/tracks upserts in bulk with the admin key only, and validates', async () => {
        const again = ok(
          await admin('POST', '/catalog/tracks', {
            tracks: [g.tracks[0], { id: 'new-1', title: 'New', artist: 'Newcomer', genres: ['rock'], features: { energy: 0.4, tempo: 99 } }],
          }),
        );
        assert.deepEqual(again, { created: 1, updated: 1 });
        assertError(await alice('POST', '/catalog/tracks', { tracks: [g.tracks[0]] }), 401, 'invalid_admin_key');
        assertError(await anon('POST', '/catalog/tracks', { tracks: [g.tracks[0]] }), 401, 'missing_token');
        assertError(await admin('POST', '/catalog/tracks', { tracks: [{ id: 'x', artist: 'No title' }] }), 400, 'validation_failed');
        assertError(
          await admin('POST', '/catalog/tracks', { tracks: [{ id: 'x', title: 't', artist: 'a', features: { energy: 2 } }] }),
          400,
          'validation_failed',
        );
        assertError(await admin('POST', '/catalog/tracks', { tracks: [] }), 400, 'validation_failed');
        const many = Array.from({ length: 1001 }, (_, i) => ({ id: `m${i}`, title: 't', artist: 'a' }));
        assertError(await admin('POST', '/catalog/tracks', { tracks: many }), 413, 'too_many_items');
      });

      it('GET /catalog/tracks/{id} and GET /catalog/search', async () => {
        const t = ok(await alice('GET', '/catalog/tracks/new-1'));
        assert.deepEqual(t.features, { energy: 0.4, tempo: 99 });
        assert.equal(t.artist, 'Newcomer');
        assert.equal(t.duration, null);
        const a = ok(await alice('GET', '/catalog/tracks/a3t2'));
        assert.equal(a.duration, 182);
        assert.deepEqual(a.genres, [g.tracks.find((x) => x.id === 'a3t2')!.genres[0]]);
        assertError(await alice('GET', '/catalog/tracks/nope'), 404, 'track_not_found');
        assertError(await anon('GET', '/catalog/tracks/a3t2'), 401);
        // Path parameters over 100 characters stop at the router (fastify's maxParamLength, set
        // in app.ts for every route) before validation: a 4xx either way.
        const long = await alice('GET', `/catalog/tracks/${'x'.repeat(129)}`);
        assert.ok(long.status >= 400 && long.status < 500, String(long.status));
        const s = ok(await alice('GET', '/catalog/search?q=song%202%20of%203&limit=5'));
        assert.equal(s.tracks[0].id, 'a3t2');
        assert.ok(s.tracks.length <= 5);
        assert.deepEqual(ok(await alice('GET', '/catalog/search?q=zzzz')).tracks, []);
        assertError(await alice('GET', '/catalog/search'), 400, 'validation_failed');
        assertError(await alice('GET', '/catalog/search?q=a&limit=51'), 400, 'validation_failed');
        assertError(await anon('GET', '/catalog/search?q=song'), 401, 'missing_token');
      });

      it('POST /catalog/tracks/lookup: many tracks in one read, unknown ids in missing, bounded', async () => {
        const r = ok(await alice('POST', '/catalog/tracks/lookup', { ids: ['a3t2', 'nope', 'new-1', 'a3t2', 'nope-2'] }));
        assert.deepEqual(
          r.tracks.map((t: any) => t.id),
          ['a3t2', 'new-1'],
          'request order, each id once',
        );
        assert.deepEqual(r.tracks[0], ok(await alice('GET', '/catalog/tracks/a3t2')), 'the same view as the single read');
        assert.deepEqual(r.missing, ['nope', 'nope-2']);
        const window = g.tracks.slice(0, 200).map((t) => t.id);
        assert.deepEqual(
          ok(await alice('POST', '/catalog/tracks/lookup', { ids: window })).tracks.map((t: any) => t.id),
          window,
        );
        assertError(await alice('POST', '/catalog/tracks/lookup', { ids: [...window, 'one-more'] }), 413, 'too_many_items');
        assertError(await alice('POST', '/catalog/tracks/lookup', { ids: [] }), 400, 'validation_failed');
        assertError(await alice('POST', '/catalog/tracks/lookup', { ids: ['x'.repeat(300)] }), 400, 'validation_failed');
        assertError(await alice('POST', '/catalog/tracks/lookup', { ids: ['a'], extra: 1 }), 400, 'validation_failed');
        assertError(await anon('POST', '/catalog/tracks/lookup', { ids: ['a3t2'] }), 401, 'missing_token');
      });

      it('POST /catalog/playlists validates and needs the admin key', async () => {
        assertError(await alice('POST', '/catalog/playlists', { playlists: [{ id: 'p', name: 'x', tracks: [] }] }), 401);
        assertError(await anon('POST', '/catalog/playlists', { playlists: [{ id: 'p', name: 'x', tracks: [] }] }), 401, 'missing_token');
        assertError(await admin('POST', '/catalog/playlists', { playlists: [{ id: 'has space', name: 'x', tracks: [] }] }), 400);
        assertError(await admin('POST', '/catalog/playlists', { playlists: [{ id: 'p', tracks: [] }] }), 400);
        assert.deepEqual(ok(await admin('POST', '/catalog/playlists', { playlists: [{ id: 'pl0', name: 'renamed', tracks: g.playlists[0]!.tracks }] })), {
          created: 0,
          updated: 1,
        });
      });
    });

    describe('history and context', () => {
      it('POST /users/{userId}/history records in bulk, for the caller only', async () => {
        const events = ['a1t0', 'a1t1', 'a5t0'].map((trackId, i) => ({
          trackId,
          action: 'complete',
          timestamp: `2024-05-0${i + 1}T08:00:00+02:00`,
          contextType: 'user_collection',
        }));
        assert.deepEqual(ok(await alice('POST', '/users/me/history', { events })), { recorded: 3 });
        assert.deepEqual(ok(await bob('POST', '/users/bob/history', { events: [{ trackId: 'a2t0', action: 'like', timestamp: '2024-05-01T08:00:00Z' }] })), {
          recorded: 1,
        });
        assertError(await bob('POST', '/users/alice/history', { events }), 403, 'forbidden');
        assertError(await alice('POST', '/users/me/history', { events: [{ trackId: 'a1t0', action: 'love', timestamp: '2024-05-01T08:00:00Z' }] }), 400);
        assertError(await alice('POST', '/users/me/history', { events: [{ trackId: 'a1t0', action: 'skip' }] }), 400);
        assertError(await alice('POST', '/users/me/history', { events: [] }), 400);
        assertError(await alice('POST', '/users/me/history', { events: Array(1001).fill(events[0]) }), 413, 'too_many_items');
        assertError(await anon('POST', '/users/me/history', { events }), 401);
      });

      it('POST /users/{userId}/context records the context and what the model takes from it', async () => {
        const c = ok(
          await alice('POST', '/users/me/context', { location: 'gym', activity: 'running', timestamp: '2024-05-06T07:15:00+02:00', mood: 'good' }),
          201,
        );
        assert.equal(c.userId, 'alice');
        assert.deepEqual(c.features, ['hour:2', 'day:weekday', 'location:gym', 'activity:running']);
        assert.equal(c.context.mood, 'good');
        assertError(await alice('POST', '/users/me/context', { timeOfDay: 'teatime' }), 400);
        assertError(await alice('POST', '/users/me/context', { nested: { a: 1 } }), 400);
        assertError(await bob('POST', '/users/alice/context', { activity: 'x' }), 403);
        assertError(await anon('POST', '/users/me/context', { activity: 'x' }), 401);
      });
    });

    describe('radio', () => {
      let radioId: string;
      let first: any;

      it('POST /radio/{stationId}/queue makes a radio queue of 20, each with a reason', async () => {
        first = ok(await alice('POST', `/radio/${enc('track:a0t0')}/queue`, { userId: 'me', deviceId: 'phone-1' }), 201);
        radioId = first.queue.id;
        assert.equal(first.queue.type, 'radio');
        assert.equal(first.queue.items.length, 20);
        assert.equal(first.items.length, 20);
        assert.deepEqual(first.station, { id: 'track:a0t0', kind: 'track', label: 'Song 0 of 0 by Artist 0' });
        assert.equal(first.queue.metadata.radio.stationId, 'track:a0t0');
        for (const i of first.items) {
          assert.ok(i.reason.text.length > 3, JSON.stringify(i));
          assert.deepEqual(first.queue.metadata.radio.reasons[i.trackId], i.reason);
        }
        assert.ok(first.events.every((e: any) => e.deviceId === 'phone-1'));
        assert.deepEqual(
          first.events.map((e: any) => e.type),
          ['queue_created', ...Array(20).fill('item_added')],
        );
        const artists = first.items.map((i: any) => artistNo(i.trackId));
        for (let k = 1; k < artists.length; k++) assert.notEqual(artists[k], artists[k - 1]);
        // An ordinary queue: listed, readable, permissions as any queue.
        assert.ok(ok(await alice('GET', '/queues')).queues.some((q: any) => q.id === radioId));
        assertError(await bob('GET', `/queues/${radioId}`), 404, 'queue_not_found');
      });

      it("validates stations and bodies, and plays only the caller's own taste", async () => {
        assertError(await alice('POST', '/radio/bogus/queue', { userId: 'me' }), 400, 'validation_failed');
        assertError(await alice('POST', `/radio/${enc('artist:Nobody')}/queue`, { userId: 'me' }), 404, 'station_seed_not_found');
        assertError(await alice('POST', `/radio/${enc('playlist:none')}/queue`, { userId: 'me' }), 404, 'station_seed_not_found');
        assertError(await alice('POST', `/radio/${enc('artist:Artist 3')}/queue`, { userId: 'bob' }), 403, 'forbidden');
        assertError(await alice('POST', `/radio/${enc('user:bob')}/queue`, { userId: 'me' }), 403, 'forbidden');
        assertError(await alice('POST', `/radio/${enc('artist:Artist 3')}/queue`, { userId: 'me', extra: 1 }), 400);
        assertError(await alice('POST', `/radio/${enc('artist:Artist 3')}/queue`, { userId: 'me', preferences: { familiarity: 3 } }), 400);
        assertError(await alice('POST', `/radio/${enc('artist:Artist 3')}/queue`, {}), 400);
        assertError(await anon('POST', `/radio/${enc('artist:Artist 3')}/queue`, { userId: 'me' }), 401);
        for (const st of ['artist:artist 3', 'genre:jazz', 'album:al4-1', 'playlist:pl7', 'user:me', 'user:alice']) {
          const r = ok(await alice('POST', `/radio/${enc(st)}/queue`, { userId: 'alice', preferences: { excludeArtists: ['Artist 1'] } }), 201);
          assert.ok(r.items.length >= 10, `${st}: ${r.items.length}`);
          assert.ok(!r.items.some((i: any) => artistNo(i.trackId) === 1), `${st} excludes Artist 1`);
        }
      });

      it('GET /queues/{id}/extend appends ordinary item_added events', async () => {
        const before = ok(await alice('GET', `/queues/${radioId}`)).version;
        const r = ok(await alice('GET', `/queues/${radioId}/extend?count=5`));
        assert.equal(r.items.length, 5);
        assert.equal(r.queue.items.length, 25);
        const log = ok(await alice('GET', `/queues/${radioId}/events?since=${before}`)).events;
        assert.deepEqual(
          log.map((e: any) => e.type),
          [...Array(5).fill('item_added'), 'queue_updated'],
        );
        assert.ok(log.every((e: any) => e.userId === 'alice'));
        assert.deepEqual(
          log.map((e: any) => e.sequenceNumber),
          [1, 2, 3, 4, 5, 6].map((n) => before + n),
        );
        for (const i of r.items) assert.deepEqual(r.queue.metadata.radio.reasons[i.trackId], i.reason);
        assertError(await alice('GET', `/queues/${radioId}/extend?count=0`), 400);
        assertError(await alice('GET', `/queues/${radioId}/extend?count=51`), 400);
        assertError(await bob('GET', `/queues/${radioId}/extend`), 404, 'queue_not_found');
        // Collaborators: a viewer may not extend (it adds tracks); a contributor may, and
        // the reasons are then written on the owner's behalf (contributors cannot edit metadata).
        ok(await alice('POST', `/queues/${radioId}/collaborators`, { userId: 'bob', permissionLevel: 'viewer' }));
        assertError(await bob('GET', `/queues/${radioId}/extend`), 403, 'forbidden');
        assertError(await bob('POST', `/queues/${radioId}/refresh`, {}), 403, 'forbidden');
        ok(await alice('PUT', `/queues/${radioId}/collaborators/bob`, { permissionLevel: 'contributor' }));
        const byBob = ok(await bob('GET', `/queues/${radioId}/extend?count=2`));
        assert.deepEqual(
          byBob.events.map((e: any) => [e.type, e.userId]),
          [
            ['item_added', 'bob'],
            ['item_added', 'bob'],
            ['queue_updated', 'alice'],
          ],
        );
        assert.equal(byBob.events[2].deviceId, AUTO_DEVICE);
        ok(await alice('DELETE', `/queues/${radioId}/collaborators/bob`));
        assertError(await anon('GET', `/queues/${radioId}/extend`), 401);
        assertError(await alice('GET', '/queues/no-such-queue/extend'), 404);
        assertError(await alice('POST', '/queues/no-such-queue/extend', { count: 3 }), 404);
      });

      it('extends by itself when fewer than N upcoming items remain (ordinary events)', async () => {
        let q = ok(await alice('GET', `/queues/${radioId}`));
        ok(await alice('PUT', `/queues/${radioId}/current`, { itemId: q.items[0].itemId }));
        const length = q.items.length;
        let played = 0;
        for (let k = 1; k < length - AUTO_EXTEND_BELOW + 1; k++) played = ok(await alice('POST', `/queues/${radioId}/next`, {})).version;
        // The service's own events after the last play (earlier tests made some of the station's too).
        const auto: any[] = await waitFor(
          async () => {
            const mine = ok(await alice('GET', `/queues/${radioId}/events?since=${played}&limit=1000`)).events.filter((e: any) => e.deviceId === AUTO_DEVICE);
            return mine.some((e: any) => e.type === 'item_added') ? mine : null;
          },
          { intervalMs: 100, what: 'an extend appended by the service' },
        );
        assert.ok(auto.length > 0, 'the service appended by itself');
        assert.ok(auto.every((e: any) => e.type === 'item_added' || e.type === 'queue_updated'));
        assert.ok(
          auto.every((e: any) => e.userId === 'alice'),
          'as the owner',
        );
        q = ok(await alice('GET', `/queues/${radioId}`));
        assert.ok(q.items.length > length, `${length} -> ${q.items.length}`);
        assert.ok(q.items.length - 1 - q.currentIndex >= AUTO_EXTEND_BELOW);
      });

      it('never repeats within the window, keeps artists spread, and follows skips and likes', async () => {
        const before = ok(await alice('GET', `/queues/${radioId}`)).items.map((i: any) => i.trackId);
        const count = (ids: string[], a: number) => ids.filter((t) => artistNo(t) === a).length;
        const recent = before.slice(-20);
        const freq = new Map<number, number>();
        for (const t of recent) if (artistNo(t) !== 0) freq.set(artistNo(t), (freq.get(artistNo(t)) ?? 0) + 1);
        const skipped = [...freq].sort((a, b) => b[1] - a[1])[0]![0];
        const liked = Array.from({ length: 36 }, (_, a) => a).find((a) => g.clusterOf(a) !== g.clusterOf(0) && count(before, a) === 0)!;
        for (const t of recent.filter((x: string) => artistNo(x) === skipped).slice(0, 2)) {
          const fb = ok(await alice('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: t, action: 'skip', position: 3, queueId: radioId }));
          assert.ok(fb.affinity.stationArtist < 0 && fb.affinity.artist < 0, JSON.stringify(fb));
        }
        const likedTrack = g.trackId(liked, 0);
        ok(await alice('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: likedTrack, action: 'like', position: 100 }));
        const next = ok(await alice('GET', `/queues/${radioId}/extend?count=20`)).items.map((i: any) => i.trackId);
        assert.ok(count(next, skipped) < count(recent, skipped), `skipped artist ${skipped}: ${count(recent, skipped)} -> ${count(next, skipped)}`);
        assert.ok(
          count(next, liked) + next.filter((t: string) => g.clusterOf(artistNo(t)) === g.clusterOf(liked)).length > 0,
          `liked artist ${liked} shows up`,
        );
        const all = ok(await alice('GET', `/queues/${radioId}`)).items.map((i: any) => i.trackId);
        for (let k = 0; k < all.length; k++) assert.ok(!all.slice(Math.max(0, k - NO_REPEAT_WINDOW), k).includes(all[k]), `repeat at ${k}`);
        const artists = all.map(artistNo);
        for (let k = 1; k < artists.length; k++) assert.notEqual(artists[k], artists[k - 1], `artist twice at ${k}`);
        for (let k = 0; k + 20 <= artists.length; k++) {
          const c = new Map<number, number>();
          for (const a of artists.slice(k, k + 20)) c.set(a, (c.get(a) ?? 0) + 1);
          assert.ok(Math.max(...c.values()) <= 3, `window at ${k}`);
        }
        assertError(await alice('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: 'a1t1', action: 'love', position: 1 }), 400);
        assertError(await alice('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: 'a1t1', action: 'skip' }), 400);
        assertError(await alice('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: 'a1t1', action: 'skip', position: -1 }), 400);
        assertError(await alice('POST', '/radio/nope/feedback', { trackId: 'a1t1', action: 'skip', position: 1 }), 400);
        assertError(await alice('POST', `/radio/${enc('user:bob')}/feedback`, { trackId: 'a1t1', action: 'skip', position: 1 }), 403);
        assertError(await anon('POST', `/radio/${enc('track:a0t0')}/feedback`, { trackId: 'a1t1', action: 'skip', position: 1 }), 401);
      });
    });

    describe('issue 12: radio never loops, skips refine, extend any queue, keys, deletes', () => {
      // A user of its own, so its many queues do not crowd the others' suggestions.
      let carol: Call;
      before(async () => {
        carol = track(await mintToken(server, 'carol'));
      });

      it('[12.5] POST and GET /queues/{id}/extend continue a user queue from its tracks, idempotent with a key', async () => {
        const seeds = ['a1t1', 'a1t2', 'a5t3'];
        const plain = ok(await carol('POST', '/queues', { name: 'mine', tracks: seeds }), 201).queue;
        const key = { 'idempotency-key': `ext-${plain.id}` };
        const r = ok(await carol('POST', `/queues/${plain.id}/extend`, { count: 8 }, key));
        assert.equal(r.items.length, 8);
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.userId]),
          Array(8).fill(['item_added', 'carol']),
        );
        assert.ok(!r.items.some((i: any) => seeds.includes(i.trackId)), 'never queues a seed');
        // Mostly the seeds' cluster (artists 1 and 5 share cluster 1 of 4).
        assert.ok(r.items.filter((i: any) => g.clusterOf(artistNo(i.trackId)) === 1).length >= 6, JSON.stringify(r.items));
        for (const i of r.items) assert.ok(i.reason.text.length > 3);
        const again = await carol('POST', `/queues/${plain.id}/extend`, { count: 8 }, key);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(ok(again), r);
        assert.equal(ok(await carol('GET', `/queues/${plain.id}`)).items.length, 11, 'the retry appended nothing');
        assertError(await carol('POST', `/queues/${plain.id}/extend`, { count: 9 }, key), 422, 'idempotency_key_reused');
        const viaGet = ok(await carol('GET', `/queues/${plain.id}/extend?count=4`));
        assert.equal(viaGet.items.length, 4);
        const all = ok(await carol('GET', `/queues/${plain.id}`)).items.map((i: any) => i.trackId);
        assert.equal(new Set(all).size, all.length, 'no track twice');
        assertError(await bob('POST', `/queues/${plain.id}/extend`, {}), 404, 'queue_not_found');
        ok(await carol('POST', `/queues/${plain.id}/collaborators`, { userId: 'bob', permissionLevel: 'viewer' }));
        assertError(await bob('POST', `/queues/${plain.id}/extend`, {}), 403, 'forbidden');
        assertError(await carol('POST', `/queues/${plain.id}/extend`, { count: 51 }), 400);
        assertError(await carol('POST', `/queues/${plain.id}/extend`, { nope: 1 }), 400);
      });

      it('[12.1] a station repeats nothing it ever queued, also after items are removed, until the catalog is exhausted', async () => {
        const created = ok(await carol('POST', `/radio/${enc('artist:Artist 9')}/queue`, { userId: 'me' }), 201);
        const id = created.queue.id;
        const gone = created.queue.items.slice(0, 5);
        for (const it of gone) ok(await carol('DELETE', `/queues/${id}/items/${it.itemId}`));
        let all: string[] = created.queue.items.map((i: any) => i.trackId);
        for (let k = 0; k < 8; k++) all = all.concat(ok(await carol('POST', `/queues/${id}/extend`, { count: 50 })).items.map((i: any) => i.trackId));
        const firstRepeat = all.findIndex((t, i) => all.indexOf(t) < i);
        assert.ok(firstRepeat < 0 || new Set(all.slice(0, firstRepeat)).size >= 330, `distinct before the first repeat: ${firstRepeat}`);
        assert.ok(firstRepeat > 0, 'the 360-track catalog is exhausted after 420 items, then tracks come back');
        for (let k = 0; k < all.length; k++) assert.ok(!all.slice(Math.max(0, k - NO_REPEAT_WINDOW), k).includes(all[k]!), `repeat within the window at ${k}`);
        const firstRemoved = all.indexOf(gone[0].trackId, 20);
        assert.ok(firstRemoved < 0 || firstRemoved >= firstRepeat, 'a removed track counts as played');
      });

      it('[12.4] the playlist station is seeded by the whole playlist and never plays it back', async () => {
        // A listener of its own: carol just heard the whole 360-track catalog, and her other
        // stations avoid the newest 200 of it while anything else is left (issue 24).
        const fran = track(await mintToken(server, 'fran'));
        const pl = g.playlists[11]!;
        let items = ok(await fran('POST', `/radio/${enc(`playlist:${pl.id}`)}/queue`, { userId: 'me' }), 201).items;
        const id = ok(await fran('GET', '/queues')).queues.find((q: any) => q.name.startsWith(pl.name)).id;
        for (let k = 0; k < 3; k++) items = items.concat(ok(await fran('POST', `/queues/${id}/extend`, { count: 20 })).items);
        assert.equal(items.length, 80);
        assert.ok(!items.some((i: any) => pl.tracks.includes(i.trackId)), 'no track of the playlist');
        const inCluster = items.filter((i: any) => g.clusterOf(artistNo(i.trackId)) === 11 % 4).length;
        assert.ok(inCluster >= 40, `${inCluster} of 80 in the playlist's cluster`);
      });

      it("[12.2] skips refine the user station: all-skipped history still plays the listener's taste", async () => {
        const dave = track(await mintToken(server, 'dave'));
        const erin = track(await mintToken(server, 'erin'));
        // The same plays of cluster 2 (artists 2, 6, 10, ...): dave skipped every one early, erin completed them.
        const plays = [2, 6, 10, 14, 18].flatMap((a) => [g.trackId(a, 0), g.trackId(a, 1)]);
        const at = (i: number) => new Date(Date.now() - (plays.length - i) * 60_000).toISOString();
        ok(await dave('POST', '/users/me/history', { events: plays.map((trackId, i) => ({ trackId, action: 'skip', position: 40, timestamp: at(i) })) }));
        ok(await erin('POST', '/users/me/history', { events: plays.map((trackId, i) => ({ trackId, action: 'complete', timestamp: at(i) })) }));
        const forDave = ok(await dave('POST', `/radio/${enc('user:me')}/queue`, { userId: 'me' }), 201);
        const forErin = ok(await erin('POST', `/radio/${enc('user:me')}/queue`, { userId: 'me' }), 201);
        assert.equal(forDave.station.label, 'your taste', 'not the cold-start station');
        const share = (r: any) => r.items.filter((i: any) => g.clusterOf(artistNo(i.trackId)) === 2).length / r.items.length;
        assert.ok(share(forErin) >= 0.6, `erin: ${share(forErin)}`);
        assert.ok(share(forDave) >= 0.4, `dave: ${share(forDave)} of his station is still his cluster`);
        assert.ok(!forDave.items.some((i: any) => plays.includes(i.trackId)), 'nothing just played');
      });

      it('[12.8] Idempotency-Key on radio creation, feedback, history, context and mixes', async () => {
        const before = ok(await carol('GET', '/queues?limit=100')).queues.length;
        const h = { 'idempotency-key': 'radio-once' };
        const a = await carol('POST', `/radio/${enc('track:a3t3')}/queue`, { userId: 'me' }, h);
        const b = await carol('POST', `/radio/${enc('track:a3t3')}/queue`, { userId: 'me' }, h);
        assert.equal(ok(a, 201).queue.id, ok(b, 201).queue.id);
        assert.equal(b.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(b.body.items, a.body.items);
        assert.equal(ok(await carol('GET', '/queues?limit=100')).queues.length, before + 1, 'one queue for one key');
        assertError(await carol('POST', `/radio/${enc('track:a3t4')}/queue`, { userId: 'me' }, h), 422, 'idempotency_key_reused');
        const hist = { events: [{ trackId: 'a3t5', action: 'complete', timestamp: new Date().toISOString() }] };
        ok(await carol('POST', '/users/me/history', hist, { 'idempotency-key': 'hist-1' }));
        const replay = await carol('POST', '/users/me/history', hist, { 'idempotency-key': 'hist-1' });
        assert.equal(replay.headers.get('idempotent-replayed'), 'true');
        const fb = { trackId: 'a3t6', action: 'like', position: 100 };
        const f1 = ok(await carol('POST', `/radio/${enc('track:a3t3')}/feedback`, fb, { 'idempotency-key': 'fb-1' }));
        const f2 = await carol('POST', `/radio/${enc('track:a3t3')}/feedback`, fb, { 'idempotency-key': 'fb-1' });
        assert.deepEqual(ok(f2), f1);
        assert.equal(f2.headers.get('idempotent-replayed'), 'true');
        const c1 = ok(await carol('POST', '/users/me/context', { activity: 'running' }, { 'idempotency-key': 'ctx-1' }), 201);
        const c2 = await carol('POST', '/users/me/context', { activity: 'running' }, { 'idempotency-key': 'ctx-1' });
        assert.equal(ok(c2, 201).id, c1.id, 'recorded once');
        assert.equal(c2.headers.get('idempotent-replayed'), 'true');
        const m1 = ok(await carol('POST', '/recommendations/queue', { context: 'discover_weekly', userId: 'me' }, { 'idempotency-key': 'mix-1' }), 201);
        const m2 = ok(await carol('POST', '/recommendations/queue', { context: 'discover_weekly', userId: 'me' }, { 'idempotency-key': 'mix-1' }), 201);
        assert.equal(m1.queue.id, m2.queue.id);
      });

      it('[12.8] DELETE /catalog/tracks/{id} and /catalog/playlists/{id}: gone from reads, search and stations', async () => {
        assertError(await carol('DELETE', '/catalog/tracks/a7t7'), 401, 'invalid_admin_key');
        assert.deepEqual(ok(await admin('DELETE', '/catalog/tracks/a7t7')), { deleted: true });
        assertError(await admin('DELETE', '/catalog/tracks/a7t7'), 404, 'track_not_found');
        assertError(await carol('GET', '/catalog/tracks/a7t7'), 404, 'track_not_found');
        assert.ok(!ok(await carol('GET', '/catalog/search?q=Song%207%20of%207')).tracks.some((t: any) => t.id === 'a7t7'));
        const st = ok(await carol('POST', `/radio/${enc('artist:Artist 7')}/queue`, { userId: 'me' }), 201);
        let items = st.items;
        for (let k = 0; k < 3; k++) items = items.concat(ok(await carol('POST', `/queues/${st.queue.id}/extend`, { count: 50 })).items);
        assert.ok(!items.some((i: any) => i.trackId === 'a7t7'), 'a deleted track is never recommended');
        assert.deepEqual(ok(await admin('DELETE', '/catalog/playlists/pl20')), { deleted: true });
        assertError(await carol('POST', `/radio/${enc('playlist:pl20')}/queue`, { userId: 'me' }), 404, 'station_seed_not_found');
        assertError(await admin('DELETE', '/catalog/playlists/pl20'), 404, 'playlist_not_found');
        // Upserting again brings the track back.
        ok(await admin('POST', '/catalog/tracks', { tracks: [g.tracks.find((t) => t.id === 'a7t7')] }));
        assert.equal(ok(await carol('GET', '/catalog/tracks/a7t7')).id, 'a7t7');
      });
    });

    describe('recommendations', () => {
      it('discover_weekly: unheard tracks near the taste', async () => {
        const r = ok(await alice('POST', '/recommendations/queue', { context: 'discover_weekly', userId: 'me' }), 201);
        assert.equal(r.queue.type, 'recommendations');
        assert.equal(r.queue.metadata.recommendations.context, 'discover_weekly');
        assert.equal(r.queue.metadata.recommendations.refreshable, true);
        assert.ok(r.items.length >= 20);
        const heard = new Set(['a1t0', 'a1t1', 'a5t0']);
        assert.ok(!r.items.some((i: any) => heard.has(i.trackId)), 'nothing the user heard');
        assert.ok(r.items.every((i: any) => i.reason.text.length > 0));
        assert.deepEqual(
          r.mixes.map((m: any) => m.queueId),
          [r.queue.id],
        );
      });

      it('daily_mix: one mix per cluster of the taste; album_radio: from an album seed', async () => {
        const r = ok(await bob('POST', '/recommendations/queue', { context: 'daily_mix', userId: 'bob', seedTracks: ['a0t0', 'a0t1', 'a1t0', 'a1t1'] }), 201);
        assert.ok(r.mixes.length >= 2, JSON.stringify(r.mixes));
        for (const m of r.mixes) assert.equal(ok(await bob('GET', `/queues/${m.queueId}`)).type, 'recommendations');
        assert.ok(
          r.items.some((i: any) => i.reason.kind === 'familiar'),
          'familiar plus new',
        );
        assert.ok(r.items.some((i: any) => i.reason.kind !== 'familiar'));
        const al = ok(await alice('POST', '/recommendations/queue', { context: 'album_radio', userId: 'me', seedTracks: ['a4t1'] }), 201);
        assert.ok(
          al.items.slice(0, 10).some((i: any) => i.reason.text.startsWith('from Album 4-1')),
          JSON.stringify(al.items.slice(0, 5)),
        );
        assertError(await alice('POST', '/recommendations/queue', { context: 'album_radio', userId: 'me' }), 400, 'seed_required');
        assertError(await alice('POST', '/recommendations/queue', { context: 'album_radio', userId: 'me', seedTracks: ['nope'] }), 404, 'track_not_found');
        assertError(await alice('POST', '/recommendations/queue', { context: 'weekly', userId: 'me' }), 400);
        assertError(await alice('POST', '/recommendations/queue', { context: 'daily_mix', userId: 'bob' }), 403);
        assertError(await anon('POST', '/recommendations/queue', { context: 'daily_mix', userId: 'me' }), 401);
      });

      it('POST /queues/{id}/refresh keeps what was played and replaces the rest', async () => {
        const r = ok(await alice('POST', '/recommendations/queue', { context: 'discover_weekly', userId: 'me' }), 201);
        const id = r.queue.id;
        ok(await alice('PUT', `/queues/${id}/current`, { itemId: r.queue.items[3].itemId }));
        const f = ok(await alice('POST', `/queues/${id}/refresh`, {}));
        assert.equal(f.kept, 4);
        assert.deepEqual(
          f.queue.items.slice(0, 4).map((i: any) => i.itemId),
          r.queue.items.slice(0, 4).map((i: any) => i.itemId),
        );
        assert.ok(f.items.length > 0);
        const played = new Set(r.queue.items.slice(0, 4).map((i: any) => i.trackId));
        assert.ok(!f.items.some((i: any) => played.has(i.trackId)), 'nothing played comes back');
        assert.deepEqual([...new Set(f.events.map((e: any) => e.type))], ['queue_cleared', 'item_added', 'queue_updated']);
        const plain = ok(await alice('POST', '/queues', { name: 'p', tracks: ['a1t1'] }), 201).queue;
        assertError(await alice('POST', `/queues/${plain.id}/refresh`, {}), 409, 'not_refreshable');
        assertError(await bob('POST', `/queues/${id}/refresh`, {}), 404);
        assertError(await anon('POST', `/queues/${id}/refresh`, {}), 401);
        const rid = await radioIdOf(alice);
        const rf = ok(await alice('POST', `/queues/${rid}/refresh`, {}));
        assert.ok(rf.items.length > 0, 'a radio refreshes too');
      });

      it('POST /recommendations/feedback folds in at once', async () => {
        const neg = ok(await alice('POST', '/recommendations/feedback', { trackId: 'a9t9', context: 'discover_weekly', feedback: 'negative' }));
        assert.ok(neg.affinity.track < 0 && neg.affinity.artist < 0, JSON.stringify(neg));
        const pos = ok(await alice('POST', '/recommendations/feedback', { trackId: 'a8t8', context: 'daily_mix', feedback: 'positive' }));
        assert.ok(pos.affinity.track > 0);
        const d = ok(await alice('POST', '/recommendations/queue', { context: 'discover_weekly', userId: 'me' }), 201);
        assert.ok(!d.items.some((i: any) => i.trackId === 'a9t9'));
        assertError(await alice('POST', '/recommendations/feedback', { trackId: 'a9t9', context: 'x', feedback: 'meh' }), 400);
        assertError(await anon('POST', '/recommendations/feedback', { trackId: 'a9t9', context: 'x', feedback: 'neutral' }), 401);
      });
    });

    async function radioIdOf(call: Call): Promise<string> {
      return ok(await call('GET', '/queues')).queues.find((q: any) => q.type === 'radio').id;
    }

    describe('contextual suggestions', () => {
      it("POST /queues/contextual ranks the user's queues, stations and mixes with scores and reasons", async () => {
        const r = ok(await alice('POST', '/queues/contextual', { userId: 'me', context: { activity: 'running', timeOfDay: '07:30', location: 'gym' } }));
        assert.ok(r.suggestions.length > 3 && r.suggestions.length <= 10);
        assert.ok(r.suggestions.every((s: any, i: number) => i === 0 || r.suggestions[i - 1].score >= s.score));
        const types = new Set(r.suggestions.map((s: any) => s.type));
        assert.ok(types.has('queue') && types.has('station') && types.has('mix'), [...types].join());
        assert.ok(r.suggestions.some((s: any) => s.reasons.length > 0));
        assert.deepEqual(r.features, ['hour:2', `day:${new Date().getUTCDay() % 6 === 0 ? 'weekend' : 'weekday'}`, 'location:gym', 'activity:running']);
        assert.equal(Math.round(r.kinds.reduce((a: number, k: any) => a + k.p, 0) * 100) / 100, 1);
        assert.equal(ok(await alice('POST', '/queues/contextual', { userId: 'me', context: {}, limit: 2 })).suggestions.length, 2);
        assertError(await alice('POST', '/queues/contextual', { userId: 'bob', context: {} }), 403);
        assertError(await alice('POST', '/queues/contextual', { userId: 'me', context: { mood: 'x' } }), 400);
        assertError(await alice('POST', '/queues/contextual', { userId: 'me' }), 400);
        assertError(await anon('POST', '/queues/contextual', { userId: 'me', context: {} }), 401);
      });
    });

    it('the OpenAPI document has the new paths', async () => {
      const doc = ok(await anon('GET', '/openapi.json'));
      for (const p of [
        '/catalog/tracks',
        '/catalog/tracks/{trackId}',
        '/catalog/search',
        '/catalog/playlists',
        '/users/{userId}/history',
        '/users/{userId}/context',
        '/radio/{stationId}/queue',
        '/radio/{stationId}/feedback',
        '/queues/{queueId}/extend',
        '/queues/{queueId}/refresh',
        '/recommendations/queue',
        '/recommendations/feedback',
        '/queues/contextual',
      ])
        assert.ok(doc.paths[p], p);
      // Issue 12: extend is GET and POST on any queue, catalog deletes, keys, readiness.
      assert.ok(doc.paths['/queues/{queueId}/extend'].post && doc.paths['/queues/{queueId}/extend'].get);
      assert.ok(doc.paths['/catalog/tracks/{trackId}'].delete && doc.paths['/catalog/playlists/{playlistId}'].delete);
      assert.ok(doc.paths['/radio/{stationId}/queue'].post.parameters.some((x: any) => x.name === 'idempotency-key' && x.in === 'header'));
      assert.match(doc.paths['/readyz'].get.summary, /recommender/);
    });

    it('answered no request with a 5xx', () => {
      const bad = seen.filter((s) => s.status >= 500);
      assert.deepEqual(bad, []);
    });
  });
}
