// End-to-end tests of the HTTP API against real server processes, one per store kind
// (plus one small-limits server per kind for queue_full). Every route, optimistic
// concurrency, idempotency, auth and bad input; no request may ever answer 5xx.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Tokens } from '../../src/auth/tokens.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';

type Res = Awaited<ReturnType<ReturnType<typeof client>>>;
type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;
type Server = RunningServer & { cleanup(): Promise<void> };

/** Asserts the status and the error shape {error:{code,message,details}} (and the code when given). */
function assertError(res: Res, status: number, code?: string): void {
  const where = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.ok(res.body !== null && typeof res.body === 'object' && !Array.isArray(res.body), `error body is an object: ${where}`);
  assert.deepEqual(Object.keys(res.body), ['error'], where);
  const e = res.body.error;
  assert.ok(e !== null && typeof e === 'object', where);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'details', 'message'], where);
  assert.equal(typeof e.code, 'string', where);
  assert.ok(e.code.length > 0, where);
  assert.equal(typeof e.message, 'string', where);
  assert.ok(e.details !== null && typeof e.details === 'object' && !Array.isArray(e.details), where);
  if (code !== undefined) assert.equal(e.code, code, where);
}

function assertOk(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const trackIds = (q: { items: { trackId: string }[] }) => q.items.map((i) => i.trackId);
const itemIds = (q: { items: { itemId: string }[] }) => q.items.map((i) => i.itemId);

for (const { kind, skip } of storeKinds) {
  describe(kind, { skip, timeout: 60_000 }, () => {
    let server: Server;
    let limited: Server;
    /** Every response seen by this block, to check none was a 5xx. */
    const seen: { method: string; path: string; status: number }[] = [];
    const track = (base: string, token?: string): Call => {
      const c = client(base, token);
      return async (method, path, body, headers) => {
        const res = await c(method, path, body, headers);
        seen.push({ method, path, status: res.status });
        return res;
      };
    };
    let alice: Call;
    let bob: Call;
    let anon: Call;
    let admin: Call;
    let shortLived: string;
    let shortLivedAt: number;
    let shortLivedExp: number;
    let shortLivedFirst: { sent: number; status: number };

    before(async () => {
      [server, limited] = await Promise.all([
        startServerOn(kind),
        startServerOn(kind, { env: { LIMIT_ITEMS_PER_QUEUE: '5' } }),
      ]);
      // The short-lived token is minted first so its expiry overlaps the other tests.
      shortLivedAt = Date.now();
      const minted = await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId: 'alice', ttlSeconds: 1 });
      shortLived = minted.body.token;
      shortLivedExp = Date.parse(minted.body.expiresAt);
      const sent = Date.now();
      shortLivedFirst = { sent, status: (await client(server.url, shortLived)('GET', '/queues')).status };
      alice = track(server.url, await mintToken(server, 'alice'));
      bob = track(server.url, await mintToken(server, 'bob'));
      anon = track(server.url);
      admin = track(server.url, server.adminKey);
    });

    after(async () => {
      await Promise.all([server?.cleanup(), limited?.cleanup()]);
    });

    async function newQueue(call: Call = alice, tracks: string[] = [], name = 'q'): Promise<any> {
      return assertOk(await call('POST', '/queues', { name, tracks }), 201).queue;
    }

    async function allEvents(call: Call, id: string): Promise<any[]> {
      return assertOk(await call('GET', `/queues/${id}/events?limit=1000`)).events;
    }

    describe('operations and docs', () => {
      it('GET /healthz and /readyz', async () => {
        assert.deepEqual(assertOk(await anon('GET', '/healthz')), { status: 'ok' });
        const ready = assertOk(await anon('GET', '/readyz'));
        assert.deepEqual([ready.status, ready.store], ['ready', kind]);
        assert.ok(ready.recommender.ms >= 0 && ready.recommender.rssMb > 0, JSON.stringify(ready));
      });

      it('GET /metrics has the HTTP histogram and the appended-events counter', async () => {
        await newQueue(alice, ['m1']);
        const res = await anon('GET', '/metrics');
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
        assert.equal(typeof res.body, 'string');
        assert.match(res.body, /http_request_duration_seconds/);
        assert.match(res.body, /queue_events_appended_total\{type="queue_created"\} [1-9]/);
        assert.match(res.body, /queue_events_appended_total\{type="item_added"\} [1-9]/);
      });

      it('GET /openapi.json is OpenAPI 3.1 with the queue paths', async () => {
        const doc = assertOk(await anon('GET', '/openapi.json'));
        assert.match(doc.openapi, /^3\.1\.\d+$/);
        for (const p of ['/queues', '/queues/{queueId}', '/queues/{queueId}/tracks', '/queues/{queueId}/events', '/auth/tokens']) {
          assert.ok(doc.paths[p], `path ${p} in the OpenAPI document`);
        }
        assert.ok(doc.paths['/queues'].post && doc.paths['/queues'].get);
      });

      it('GET /docs/ is an HTML page', async () => {
        const res = await anon('GET', '/docs/');
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /text\/html/);
        assert.match(String(res.body), /<html/i);
      });
    });

    describe('queues', () => {
      it('POST /queues creates a queue, without and with tracks and type', async () => {
        const res = await alice('POST', '/queues', { name: 'Empty' });
        const empty = assertOk(res, 201);
        assert.equal(res.headers.get('etag'), '"1"');
        assert.equal(empty.queue.name, 'Empty');
        assert.equal(empty.queue.type, 'user');
        assert.equal(empty.queue.ownerId, 'alice');
        assert.equal(empty.queue.version, 1);
        assert.deepEqual(empty.queue.items, []);
        assert.equal(empty.queue.currentItemId, null);
        assert.equal(empty.queue.currentIndex, null);
        assert.equal(empty.queue.shuffle, false);
        assert.equal(empty.queue.repeat, 'off');
        assert.deepEqual(empty.queue.metadata, {});
        assert.deepEqual(empty.events.map((e: any) => e.type), ['queue_created']);
        assert.equal(empty.events[0].sequenceNumber, 1);

        const full = assertOk(await alice('POST', '/queues', { name: 'Party', type: 'party', tracks: ['t1', 't2', 't3'], metadata: { mood: 'loud' } }), 201);
        assert.equal(full.queue.type, 'party');
        assert.deepEqual(trackIds(full.queue), ['t1', 't2', 't3']);
        assert.ok(full.queue.items.every((i: any) => i.addedBy === 'alice' && typeof i.itemId === 'string'));
        assert.deepEqual(full.queue.metadata, { mood: 'loud' });
        assert.equal(full.queue.version, 4);
        assert.deepEqual(full.events.map((e: any) => e.type), ['queue_created', 'item_added', 'item_added', 'item_added']);
        assert.deepEqual(full.events.map((e: any) => e.sequenceNumber), [1, 2, 3, 4]);
        assert.notEqual(full.queue.id, empty.queue.id);
      });

      it('GET /queues/:id returns the queue with ETag "<version>"', async () => {
        const created = await newQueue(alice, ['a', 'b']);
        const res = await alice('GET', `/queues/${created.id}`);
        assert.deepEqual(assertOk(res), created);
        assert.equal(res.headers.get('etag'), `"${created.version}"`);
        assert.equal(created.version, 3);
      });

      it("GET /queues lists only the caller's queues, paged with limit and nextCursor", async () => {
        const carolToken = await mintToken(server, `carol-${randomBytes(3).toString('hex')}`);
        const carol = track(server.url, carolToken);
        assert.deepEqual(assertOk(await carol('GET', '/queues')), { queues: [], nextCursor: null });
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await newQueue(carol, i % 2 ? ['x'] : [], `carol ${i}`)).id);
        await newQueue(bob, [], 'not carol');

        const seenIds: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const qs: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
          const page: any = assertOk(await carol('GET', `/queues${qs}`));
          pages++;
          assert.ok(page.queues.length <= 2);
          for (const q of page.queues) {
            assert.ok(q.ownerId.startsWith('carol-'));
            // [CO4] each queue says the caller's role
            assert.deepEqual(Object.keys(q).sort(), ['id', 'itemCount', 'name', 'ownerId', 'role', 'type', 'updatedAt', 'version']);
            assert.equal(q.role, 'owner');
            seenIds.push(q.id);
          }
          cursor = page.nextCursor;
          assert.ok(pages <= 5, 'pagination ends');
        } while (cursor);
        assert.equal(pages, 3);
        assert.deepEqual([...seenIds].sort(), [...ids].sort());
        assert.equal(new Set(seenIds).size, 5, 'no queue on two pages');

        const all = assertOk(await carol('GET', '/queues')).queues;
        assert.deepEqual(all.map((q: any) => q.id), seenIds, 'paging gives the same order as one page');
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].updatedAt >= all[i].updatedAt, 'most recently changed first');
        const one = all.find((q: any) => q.id === ids[1]);
        assert.equal(one.itemCount, 1);
        assert.equal(one.version, 2);

        // A change moves a queue to the front.
        await sleep(5);
        assertOk(await carol('PATCH', `/queues/${ids[0]}`, { name: 'renamed' }));
        const front = assertOk(await carol('GET', '/queues?limit=1'));
        assert.equal(front.queues[0].id, ids[0]);
        assert.equal(front.queues[0].name, 'renamed');
        assert.equal(typeof front.nextCursor, 'string');
      });

      it('PATCH renames and replaces metadata', async () => {
        const q = await newQueue(alice, [], 'before');
        const res = await alice('PATCH', `/queues/${q.id}`, { name: 'after', metadata: { a: 1, nested: { b: [1, 2] } } });
        const body = assertOk(res);
        assert.equal(body.queue.name, 'after');
        assert.deepEqual(body.queue.metadata, { a: 1, nested: { b: [1, 2] } });
        assert.equal(body.queue.version, 2);
        assert.equal(res.headers.get('etag'), '"2"');
        assert.deepEqual(body.events.map((e: any) => e.type), ['queue_updated']);
        const meta = assertOk(await alice('PATCH', `/queues/${q.id}`, { metadata: { c: true } }));
        assert.equal(meta.queue.name, 'after');
        assert.deepEqual(meta.queue.metadata, { c: true });
        // Nothing to change: no event, same version.
        const noop = assertOk(await alice('PATCH', `/queues/${q.id}`, {}));
        assert.deepEqual(noop.events, []);
        assert.equal(noop.queue.version, 3);
        assert.deepEqual(assertOk(await alice('GET', `/queues/${q.id}`)), meta.queue);
      });

      it('DELETE removes the queue: GET is 404, it leaves the list, its event log stays readable', async () => {
        const q = await newQueue(alice, ['d1'], 'doomed');
        const del = assertOk(await alice('DELETE', `/queues/${q.id}`));
        assert.deepEqual(del.events.map((e: any) => e.type), ['queue_deleted']);
        assert.equal(del.queue.version, 3);
        assertError(await alice('GET', `/queues/${q.id}`), 404, 'queue_not_found');
        const list = assertOk(await alice('GET', '/queues?limit=100')).queues;
        assert.ok(!list.some((x: any) => x.id === q.id));
        const log = assertOk(await alice('GET', `/queues/${q.id}/events`));
        assert.deepEqual(log.events.map((e: any) => e.type), ['queue_created', 'item_added', 'queue_deleted']);
        assert.equal(log.version, 3);
        // Writes to a deleted queue are 404 too; so is deleting it again.
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'] }), 404, 'queue_not_found');
        assertError(await alice('DELETE', `/queues/${q.id}`), 404, 'queue_not_found');
        assertError(await alice('PATCH', `/queues/${q.id}`, { name: 'zombie' }), 404, 'queue_not_found');
      });
    });

    describe('items', () => {
      it('POST /queues/:id/tracks at the end, at a position, after and before an item', async () => {
        const q = await newQueue(alice, ['a', 'b']);
        const [ia, ib] = itemIds(q);
        let r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['c', 'd'] }));
        assert.deepEqual(trackIds(r.queue), ['a', 'b', 'c', 'd']);
        assert.deepEqual(r.events.map((e: any) => [e.type, e.sequenceNumber]), [['item_added', 4], ['item_added', 5]]);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['p0'], position: 0 }));
        assert.deepEqual(trackIds(r.queue), ['p0', 'a', 'b', 'c', 'd']);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['p2'], position: 2 }));
        assert.deepEqual(trackIds(r.queue), ['p0', 'a', 'p2', 'b', 'c', 'd']);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['far'], position: 999 }));
        assert.deepEqual(trackIds(r.queue), ['p0', 'a', 'p2', 'b', 'c', 'd', 'far']);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['aa1', 'aa2'], afterItemId: ia }));
        assert.deepEqual(trackIds(r.queue), ['p0', 'a', 'aa1', 'aa2', 'p2', 'b', 'c', 'd', 'far']);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['bb'], beforeItemId: ib }));
        assert.deepEqual(trackIds(r.queue), ['p0', 'a', 'aa1', 'aa2', 'p2', 'bb', 'b', 'c', 'd', 'far']);
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['me'], addedBy: 'alice' }));
        assert.equal(r.queue.items.at(-1).trackId, 'me');
        assert.equal(r.queue.items.at(-1).addedBy, 'alice');
        // An empty add changes nothing.
        const empty = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: [] }));
        assert.deepEqual(empty.events, []);
        assert.equal(empty.queue.version, r.queue.version);
        assert.deepEqual(assertOk(await alice('GET', `/queues/${q.id}`)), r.queue);
      });

      it('the same track twice gives two items', async () => {
        const q = await newQueue(alice, ['same']);
        const r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['same', 'same'] }));
        assert.deepEqual(trackIds(r.queue), ['same', 'same', 'same']);
        assert.equal(new Set(itemIds(r.queue)).size, 3);
      });

      it('DELETE /queues/:id/items/:itemId and POST /queues/:id/items/remove', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd', 'e']);
        const [ia, ib, ic, id, ie] = itemIds(q);
        let r = assertOk(await alice('DELETE', `/queues/${q.id}/items/${ic}`));
        assert.deepEqual(trackIds(r.queue), ['a', 'b', 'd', 'e']);
        assert.deepEqual(r.events.map((e: any) => [e.type, e.data.itemId]), [['item_removed', ic]]);
        r = assertOk(await alice('POST', `/queues/${q.id}/items/remove`, { itemIds: [ia, ie, ia] }));
        assert.deepEqual(trackIds(r.queue), ['b', 'd']);
        assert.equal(r.events.length, 2);
        // [CO10] removed before: a conflict, not a 404
        assertError(await alice('DELETE', `/queues/${q.id}/items/${ic}`), 409, 'item_gone');
        // One unknown id refuses the whole request.
        assertError(await alice('POST', `/queues/${q.id}/items/remove`, { itemIds: [ib, 'nope'] }), 404, 'item_not_found');
        assert.deepEqual(itemIds(assertOk(await alice('GET', `/queues/${q.id}`))), [ib, id]);
      });

      it('POST /queues/:id/items/:itemId/move by position, after and before', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd']);
        const [ia, ib, ic, id] = itemIds(q);
        let r = assertOk(await alice('POST', `/queues/${q.id}/items/${id}/move`, { position: 0 }));
        assert.deepEqual(trackIds(r.queue), ['d', 'a', 'b', 'c']);
        assert.deepEqual(r.events.map((e: any) => e.type), ['item_moved']);
        r = assertOk(await alice('POST', `/queues/${q.id}/items/${id}/move`, { afterItemId: ib }));
        assert.deepEqual(trackIds(r.queue), ['a', 'b', 'd', 'c']);
        r = assertOk(await alice('POST', `/queues/${q.id}/items/${ic}/move`, { beforeItemId: ia }));
        assert.deepEqual(trackIds(r.queue), ['c', 'a', 'b', 'd']);
        r = assertOk(await alice('POST', `/queues/${q.id}/items/${ic}/move`, { position: 100 }));
        assert.deepEqual(trackIds(r.queue), ['a', 'b', 'd', 'c']);
        // Already there: no event.
        const same = assertOk(await alice('POST', `/queues/${q.id}/items/${ia}/move`, { position: 0 }));
        assert.deepEqual(same.events, []);
        assert.equal(same.queue.version, r.queue.version);
      });

      it('POST /queues/:id/clear, all and upcomingOnly', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd']);
        const ids = itemIds(q);
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: ids[1] }));
        let r = assertOk(await alice('POST', `/queues/${q.id}/clear`, { upcomingOnly: true }));
        assert.deepEqual(trackIds(r.queue), ['a', 'b']);
        assert.equal(r.queue.currentItemId, ids[1]);
        assert.deepEqual(r.events.map((e: any) => e.type), ['queue_cleared']);
        assert.deepEqual(r.events[0].data.itemIds, [ids[2], ids[3]]);
        r = assertOk(await alice('POST', `/queues/${q.id}/clear`, {}));
        assert.deepEqual(r.queue.items, []);
        assert.equal(r.queue.currentItemId, null);
        // Clearing an empty queue changes nothing; a clear with no body at all works too.
        const again = assertOk(await alice('POST', `/queues/${q.id}/clear`));
        assert.deepEqual(again.events, []);
        assert.equal(again.queue.version, r.queue.version);
      });
    });

    describe('playback order', () => {
      it('PUT shuffle on keeps the current item first; off restores the order', async () => {
        const tracks = Array.from({ length: 12 }, (_, i) => `s${i}`);
        const q = await newQueue(alice, tracks);
        const order = itemIds(q);
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: order[5] }));
        const on = assertOk(await alice('PUT', `/queues/${q.id}/shuffle`, { shuffle: true }));
        assert.equal(on.queue.shuffle, true);
        assert.deepEqual(on.events.map((e: any) => e.type), ['shuffle_changed']);
        assert.equal(on.queue.items[0].itemId, order[5], 'the current item leads');
        assert.equal(on.queue.currentIndex, 0);
        assert.deepEqual([...itemIds(on.queue)].sort(), [...order].sort(), 'a permutation');
        assert.notDeepEqual(itemIds(on.queue), order, 'shuffled (1 in 11! to fail by chance)');
        // Shuffle on again: no change.
        const twice = assertOk(await alice('PUT', `/queues/${q.id}/shuffle`, { shuffle: true }));
        assert.deepEqual(twice.events, []);
        assert.deepEqual(itemIds(twice.queue), itemIds(on.queue));
        const off = assertOk(await alice('PUT', `/queues/${q.id}/shuffle`, { shuffle: false }));
        assert.equal(off.queue.shuffle, false);
        assert.deepEqual(itemIds(off.queue), order, 'off restores the order from before');
        assert.equal(off.queue.currentItemId, order[5]);
        assert.equal(off.queue.currentIndex, 5);
        assert.deepEqual(assertOk(await alice('GET', `/queues/${q.id}`)), off.queue);
      });

      it('PUT repeat', async () => {
        const q = await newQueue(alice, ['a']);
        let r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }));
        assert.equal(r.queue.repeat, 'all');
        assert.deepEqual(r.events.map((e: any) => [e.type, e.data.repeat]), [['repeat_changed', 'all']]);
        r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'one' }));
        assert.equal(r.queue.repeat, 'one');
        const same = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'one' }));
        assert.deepEqual(same.events, []);
        r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'off' }));
        assert.equal(r.queue.repeat, 'off');
      });

      it('PUT current sets and clears the current item', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c']);
        const ids = itemIds(q);
        let r = assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: ids[2] }));
        assert.equal(r.queue.currentItemId, ids[2]);
        assert.equal(r.queue.currentIndex, 2);
        assert.deepEqual(r.events.map((e: any) => [e.type, e.data.itemId, e.data.reason]), [['current_item_changed', ids[2], 'set']]);
        r = assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: null }));
        assert.equal(r.queue.currentItemId, null);
        assert.equal(r.queue.currentIndex, null);
        assertError(await alice('PUT', `/queues/${q.id}/current`, { itemId: 'no-such-item' }), 404, 'item_not_found');
      });

      it('POST next and previous, with an empty body and with no body at all', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c']);
        const ids = itemIds(q);
        const emptyBody = { 'content-type': 'application/json' };
        // No body at all (no content-type either).
        let r = assertOk(await alice('POST', `/queues/${q.id}/next`));
        assert.equal(r.queue.currentItemId, ids[0]);
        // An empty JSON body.
        r = assertOk(await alice('POST', `/queues/${q.id}/next`, '', emptyBody));
        assert.equal(r.queue.currentItemId, ids[1]);
        r = assertOk(await alice('POST', `/queues/${q.id}/next`, {}));
        assert.equal(r.queue.currentItemId, ids[2]);
        assert.deepEqual(r.queue.history.map((h: any) => h.itemId), [ids[0], ids[1]]);
        r = assertOk(await alice('POST', `/queues/${q.id}/previous`));
        assert.equal(r.queue.currentItemId, ids[1]);
        assert.deepEqual(r.events.map((e: any) => [e.type, e.data.reason]), [['current_item_changed', 'previous']]);
        r = assertOk(await alice('POST', `/queues/${q.id}/previous`, '', emptyBody));
        assert.equal(r.queue.currentItemId, ids[0]);
        r = assertOk(await alice('POST', `/queues/${q.id}/previous`, {}));
        assert.equal(r.queue.currentItemId, ids[0]);
        assert.deepEqual(r.events, []);
        // Next past the end with repeat off: no current item; with repeat all: wraps.
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: ids[2] }));
        r = assertOk(await alice('POST', `/queues/${q.id}/next`, { reason: 'user' }));
        assert.equal(r.queue.currentItemId, null);
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }));
        assertOk(await alice('PUT', `/queues/${q.id}/current`, { itemId: ids[2] }));
        r = assertOk(await alice('POST', `/queues/${q.id}/next`));
        assert.equal(r.queue.currentItemId, ids[0]);
        // Repeat one replays on track_end.
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'one' }));
        r = assertOk(await alice('POST', `/queues/${q.id}/next`, { reason: 'track_end' }));
        assert.equal(r.queue.currentItemId, ids[0]);
        assert.equal(r.events[0].data.reason, 'repeat');
        // An empty queue has nothing to advance to.
        const empty = await newQueue(alice);
        assertError(await alice('POST', `/queues/${empty.id}/next`), 409, 'queue_empty');
        assertError(await alice('POST', `/queues/${empty.id}/previous`, '', emptyBody), 409, 'queue_empty');
      });
    });

    describe('event log', () => {
      it('GET /queues/:id/events pages with since, limit, nextSince and hasMore', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd', 'e', 'f']);
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }));
        assertOk(await alice('POST', `/queues/${q.id}/next`));
        const version = 9;
        const full = assertOk(await alice('GET', `/queues/${q.id}/events`));
        assert.equal(full.version, version);
        assert.equal(full.hasMore, false);
        assert.equal(full.nextSince, version);
        assert.deepEqual(full.events.map((e: any) => e.sequenceNumber), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for (const e of full.events) {
          assert.equal(e.queueId, q.id);
          assert.equal(e.userId, 'alice');
          assert.equal(e.deviceId, null);
          assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
        }

        const paged: any[] = [];
        let since = 0;
        let pages = 0;
        for (;;) {
          const page = assertOk(await alice('GET', `/queues/${q.id}/events?since=${since}&limit=4`));
          pages++;
          assert.equal(page.version, version);
          assert.ok(page.events.length <= 4);
          paged.push(...page.events);
          assert.equal(page.nextSince, page.events.at(-1)?.sequenceNumber ?? since);
          assert.equal(page.hasMore, page.nextSince < version);
          if (!page.hasMore) break;
          since = page.nextSince;
        }
        assert.equal(pages, 3);
        assert.deepEqual(paged, full.events);

        const mid = assertOk(await alice('GET', `/queues/${q.id}/events?since=7&limit=1`));
        assert.deepEqual(mid.events, [full.events[7]]);
        assert.equal(mid.nextSince, 8);
        assert.equal(mid.hasMore, true);
        const end = assertOk(await alice('GET', `/queues/${q.id}/events?since=${version}`));
        assert.deepEqual(end, { events: [], version, nextSince: version, hasMore: false, logStart: 1 });
        const past = assertOk(await alice('GET', `/queues/${q.id}/events?since=100`));
        assert.deepEqual(past.events, []);
        assert.equal(past.hasMore, false);
      });

      it('events record the device from X-Device-Id', async () => {
        const q = await newQueue(alice);
        const r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'] }, { 'x-device-id': 'phone-1' }));
        assert.equal(r.events[0].deviceId, 'phone-1');
        const log = await allEvents(alice, q.id);
        assert.equal(log.at(-1).deviceId, 'phone-1');
        assert.deepEqual(log.at(-1), r.events[0]);
      });
    });

    describe('optimistic concurrency', () => {
      it('If-Match and expectedVersion are accepted when current', async () => {
        const q = await newQueue(alice, ['a']);
        let res = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['b'] }, { 'if-match': `"${q.version}"` });
        let r = assertOk(res);
        assert.equal(r.queue.version, 3);
        assert.equal(res.headers.get('etag'), '"3"');
        r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['c'], expectedVersion: 3 }));
        assert.equal(r.queue.version, 4);
        // Both given and equal; weak ETag form; '*'.
        r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all', expectedVersion: 4 }, { 'if-match': '"4"' }));
        assert.equal(r.queue.version, 5);
        r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'one' }, { 'if-match': 'W/"5"' }));
        assert.equal(r.queue.version, 6);
        r = assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'off' }, { 'if-match': '*' }));
        assert.equal(r.queue.version, 7);
        // The ETag of a GET works as If-Match.
        const got = await alice('GET', `/queues/${q.id}`);
        r = assertOk(await alice('PATCH', `/queues/${q.id}`, { name: 'etag' }, { 'if-match': got.headers.get('etag')! }));
        assert.equal(r.queue.version, 8);
      });

      it('a stale version is 409 version_conflict with details.currentVersion, and changes nothing', async () => {
        const q = await newQueue(alice, ['a', 'b']);
        const stale = `"${q.version - 1}"`;
        let res = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'] }, { 'if-match': stale });
        assertError(res, 409, 'version_conflict');
        assert.equal(res.body.error.details.currentVersion, q.version);
        assert.equal(res.body.error.details.expectedVersion, q.version - 1);
        res = await alice('PATCH', `/queues/${q.id}`, { name: 'x', expectedVersion: q.version + 5 });
        assertError(res, 409, 'version_conflict');
        assert.equal(res.body.error.details.currentVersion, q.version);
        res = await alice('DELETE', `/queues/${q.id}`, undefined, { 'if-match': '"1"' });
        assertError(res, 409, 'version_conflict');
        res = await alice('POST', `/queues/${q.id}/next`, { expectedVersion: 0 });
        assertError(res, 409, 'version_conflict');
        assert.equal(res.body.error.details.currentVersion, q.version);
        assert.deepEqual(assertOk(await alice('GET', `/queues/${q.id}`)), q);
      });

      it('If-Match and expectedVersion that disagree are 400', async () => {
        const q = await newQueue(alice);
        assertError(await alice('PATCH', `/queues/${q.id}`, { name: 'x', expectedVersion: 1 }, { 'if-match': '"2"' }), 400, 'version_mismatch');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['a'], expectedVersion: 2 }, { 'if-match': '"1"' }), 400, 'version_mismatch');
        assert.equal(assertOk(await alice('GET', `/queues/${q.id}`)).version, 1);
      });

      it('writes without a version apply to the current state', async () => {
        const q = await newQueue(alice, ['a']);
        // Two clients that both saw version 2 and write without a version: both apply.
        const [r1, r2] = await Promise.all([
          alice('POST', `/queues/${q.id}/tracks`, { tracks: ['from-1'] }),
          alice('POST', `/queues/${q.id}/tracks`, { tracks: ['from-2'] }),
        ]);
        assertOk(r1);
        assertOk(r2);
        const now = assertOk(await alice('GET', `/queues/${q.id}`));
        assert.equal(now.version, 4);
        assert.deepEqual([...trackIds(now)].sort(), ['a', 'from-1', 'from-2']);
        // 20 concurrent unversioned writes all land, gaplessly.
        const many = await Promise.all(Array.from({ length: 20 }, (_, i) => alice('POST', `/queues/${q.id}/tracks`, { tracks: [`c${i}`] })));
        for (const r of many) assertOk(r);
        const seqs = many.map((r) => r.body.events[0].sequenceNumber).sort((a, b) => a - b);
        assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => 5 + i));
        const log = await allEvents(alice, q.id);
        assert.deepEqual(log.map((e) => e.sequenceNumber), Array.from({ length: 24 }, (_, i) => i + 1));
      });
    });

    describe('idempotency', () => {
      it('Idempotency-Key: a retry gets the same body, idempotent-replayed: true, and appends nothing', async () => {
        const q = await newQueue(alice, ['a']);
        const key = randomUUID();
        const first = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['b', 'c'] }, { 'idempotency-key': key });
        assertOk(first);
        assert.equal(first.headers.get('idempotent-replayed'), null);
        const before = await allEvents(alice, q.id);
        const retry = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['b', 'c'] }, { 'idempotency-key': key });
        assertOk(retry);
        assert.equal(retry.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(retry.body, first.body);
        assert.equal(retry.headers.get('etag'), first.headers.get('etag'));
        assert.deepEqual(await allEvents(alice, q.id), before, 'the log did not grow');
        // Even after other writes the retry answers as the first time.
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }));
        const late = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['b', 'c'] }, { 'idempotency-key': key });
        assert.deepEqual(assertOk(late), first.body);
        assert.equal(late.headers.get('idempotent-replayed'), 'true');
        assert.equal(assertOk(await alice('GET', `/queues/${q.id}`)).version, 5);
      });

      it('a replayed answer is byte-for-byte the first answer', async () => {
        // Keys deliberately out of sorted order, nested, and events whose data has several keys.
        const q = await newQueue(alice, ['a', 'b']);
        const token = await mintToken(server, 'alice');
        const raw = async (method: string, path: string, body: unknown, key: string) => {
          const res = await fetch(server.url + path, {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
            body: JSON.stringify(body),
          });
          seen.push({ method, path, status: res.status });
          return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text() };
        };
        const cases: [string, string, unknown][] = [
          ['POST', '/queues', { name: 'bytes', tracks: ['x'], metadata: { zeta: 1, alpha: { yy: [1, { b: 2, a: 1 }], b: 'B' } } }],
          ['PATCH', `/queues/${q.id}`, { metadata: { zz: true, a: null, mm: 'x' } }],
          ['POST', `/queues/${q.id}/next`, {}],
        ];
        for (const [method, path, body] of cases) {
          const key = randomUUID();
          const first = await raw(method, path, body, key);
          const retry = await raw(method, path, body, key);
          assert.ok(first.status < 300, first.text);
          assert.equal(retry.status, first.status);
          assert.equal(retry.replayed, 'true');
          assert.equal(retry.text, first.text, `${method} ${path}: the replayed body differs from the first one`);
        }
      });

      it('mutationId in the body works the same way', async () => {
        const q = await newQueue(alice, ['a']);
        const body = { tracks: ['m'], mutationId: randomUUID() };
        const first = await alice('POST', `/queues/${q.id}/tracks`, body);
        assertOk(first);
        const log = await allEvents(alice, q.id);
        const retry = await alice('POST', `/queues/${q.id}/tracks`, body);
        assert.deepEqual(assertOk(retry), first.body);
        assert.equal(retry.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(await allEvents(alice, q.id), log);
        // Create is idempotent too.
        const cbody = { name: 'once', mutationId: randomUUID() };
        const c1 = await alice('POST', '/queues', cbody);
        const c2 = await alice('POST', '/queues', cbody);
        assertOk(c1, 201);
        assert.deepEqual(assertOk(c2, 201), c1.body);
        assert.equal(c2.headers.get('idempotent-replayed'), 'true');
      });

      it('the same key with a different body is 422 idempotency_key_reused', async () => {
        const q = await newQueue(alice, ['a']);
        const key = randomUUID();
        assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'] }, { 'idempotency-key': key }));
        const v = assertOk(await alice('GET', `/queues/${q.id}`)).version;
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['y'] }, { 'idempotency-key': key }), 422, 'idempotency_key_reused');
        assertError(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }, { 'idempotency-key': key }), 422, 'idempotency_key_reused');
        const mid = randomUUID();
        assertOk(await alice('PATCH', `/queues/${q.id}`, { name: 'n1', mutationId: mid }));
        assertError(await alice('PATCH', `/queues/${q.id}`, { name: 'n2', mutationId: mid }), 422, 'idempotency_key_reused');
        assert.equal(assertOk(await alice('GET', `/queues/${q.id}`)).version, v + 1);
      });

      it('keys are per user: another user may use the same key', async () => {
        const key = randomUUID();
        const a = assertOk(await alice('POST', '/queues', { name: 'k' }, { 'idempotency-key': key }), 201);
        const bres = await bob('POST', '/queues', { name: 'k' }, { 'idempotency-key': key });
        const b = assertOk(bres, 201);
        assert.equal(bres.headers.get('idempotent-replayed'), null);
        assert.notEqual(a.queue.id, b.queue.id);
        assert.equal(b.queue.ownerId, 'bob');
      });

      it('10 concurrent identical requests with one key append exactly once', async () => {
        const q = await newQueue(alice, ['a']);
        const key = randomUUID();
        const results = await Promise.all(
          Array.from({ length: 10 }, () => alice('POST', `/queues/${q.id}/tracks`, { tracks: ['once-1', 'once-2'] }, { 'idempotency-key': key })),
        );
        for (const r of results) assertOk(r);
        for (const r of results) assert.deepEqual(r.body, results[0]!.body);
        assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1, 'one original answer');
        const log = await allEvents(alice, q.id);
        assert.equal(log.length, 4, 'created + 1 add + 2 tracks');
        assert.deepEqual(trackIds(assertOk(await alice('GET', `/queues/${q.id}`))), ['a', 'once-1', 'once-2']);

        // The same for create: one queue, whatever the race.
        const ckey = randomUUID();
        const name = `race-${ckey}`;
        const creates = await Promise.all(Array.from({ length: 10 }, () => alice('POST', '/queues', { name, tracks: ['t'] }, { 'idempotency-key': ckey })));
        for (const r of creates) assertOk(r, 201);
        for (const r of creates) assert.deepEqual(r.body, creates[0]!.body);
        const mine = assertOk(await alice('GET', '/queues?limit=100')).queues.filter((x: any) => x.name === name);
        assert.equal(mine.length, 1, 'exactly one queue created');
      });
    });

    describe('auth', () => {
      it('no token, a malformed token, a bad signature: 401', async () => {
        assertError(await anon('GET', '/queues'), 401, 'missing_token');
        const noToken = await anon('POST', '/queues', { name: 'x' });
        assertError(noToken, 401, 'missing_token');
        assert.equal(noToken.headers.get('www-authenticate'), 'Bearer');
        assertError(await track(server.url, 'not-a-jwt')('GET', '/queues'), 401, 'invalid_token');
        assertError(await anon('GET', '/queues', undefined, { authorization: 'Basic abc' }), 401, 'missing_token');
        const good = await mintToken(server, 'alice');
        const [h, p, s] = good.split('.');
        const flipped = `${h}.${p}.${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BB' : 'AA'}`;
        assertError(await track(server.url, flipped)('GET', '/queues'), 401, 'invalid_token');
        // A forged payload (another subject) under alice's signature.
        const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'bob' })).toString('base64url');
        assertError(await track(server.url, `${h}.${forgedPayload}.${s}`)('GET', '/queues'), 401, 'invalid_token');
        // alg none.
        const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
        assertError(await track(server.url, none)('GET', '/queues'), 401, 'invalid_token');
        // The admin key is not a user token.
        assertError(await admin('GET', '/queues'), 401, 'invalid_token');
      });

      it('a token minted with another admin key is 401', async () => {
        const other = await new Tokens(randomBytes(16).toString('hex')).mint('alice', 3600);
        assertError(await track(server.url, other.token)('GET', '/queues'), 401, 'invalid_token');
        const fromLimited = await mintToken(limited, 'alice');
        assertError(await track(server.url, fromLimited)('GET', '/queues'), 401, 'invalid_token');
      });

      it('an expired token is 401 token_expired', async () => {
        // Minted with ttlSeconds 1: usable until its expiresAt (which is at most 1 s after minting).
        assert.ok(shortLivedExp <= shortLivedAt + 1000 + 50, 'expiresAt within ttlSeconds');
        // Used right after minting (in before()), it was accepted unless its second had already run out.
        if (shortLivedFirst.sent < shortLivedExp - 150) assert.equal(shortLivedFirst.status, 200);
        const wait = shortLivedAt + 2200 - Date.now();
        if (wait > 0) await sleep(wait);
        const res = await track(server.url, shortLived)('GET', '/queues');
        assertError(res, 401, 'token_expired');
      });

      it('POST /auth/tokens needs the admin key and a valid userId', async () => {
        assertError(await anon('POST', '/auth/tokens', { userId: 'alice' }), 401, 'missing_token');
        assertError(await track(server.url, 'wrong-admin-key')('POST', '/auth/tokens', { userId: 'alice' }), 401, 'invalid_admin_key');
        assertError(await track(server.url, `${server.adminKey}x`)('POST', '/auth/tokens', { userId: 'alice' }), 401, 'invalid_admin_key');
        // A user token is not the admin key.
        assertError(await alice('POST', '/auth/tokens', { userId: 'alice' }), 401, 'invalid_admin_key');
        assertError(await admin('POST', '/auth/tokens', { userId: 'not ok!' }), 400);
        assertError(await admin('POST', '/auth/tokens', { userId: '' }), 400);
        assertError(await admin('POST', '/auth/tokens', { userId: 'x'.repeat(129) }), 400);
        assertError(await admin('POST', '/auth/tokens', {}), 400);
        assertError(await admin('POST', '/auth/tokens', { userId: 'alice', ttlSeconds: 0 }), 400);
        assertError(await admin('POST', '/auth/tokens', { userId: 'alice', extra: 1 }), 400);
        const minted = assertOk(await admin('POST', '/auth/tokens', { userId: 'dave@example.com', ttlSeconds: 60 }));
        assert.equal(typeof minted.token, 'string');
        const exp = Date.parse(minted.expiresAt);
        assert.ok(Math.abs(exp - (Date.now() + 60_000)) < 5_000, `expiresAt ${minted.expiresAt}`);
        assertOk(await track(server.url, minted.token)('GET', '/queues'));
      });

      it("another user's queue is indistinguishable from a missing one (404 queue_not_found)", async () => {
        const mine = await newQueue(bob, ['b1'], "bob's");
        const itemId = mine.items[0].itemId;
        const ghost = randomUUID();
        /** The answer with the queue id replaced, so the two ids compare equal. */
        const norm = (res: Res, id: string) => ({
          status: res.status,
          type: res.headers.get('content-type'),
          body: JSON.parse(JSON.stringify(res.body).replaceAll(id, '<id>')),
        });
        const probes: [string, (id: string) => string, unknown][] = [
          ['GET', (id) => `/queues/${id}`, undefined],
          ['PATCH', (id) => `/queues/${id}`, { name: 'stolen' }],
          ['DELETE', (id) => `/queues/${id}`, undefined],
          ['POST', (id) => `/queues/${id}/tracks`, { tracks: ['x'] }],
          ['GET', (id) => `/queues/${id}/events`, undefined],
          ['DELETE', (id) => `/queues/${id}/items/${itemId}`, undefined],
          ['POST', (id) => `/queues/${id}/items/${itemId}/move`, { position: 0 }],
          ['POST', (id) => `/queues/${id}/clear`, {}],
          ['PUT', (id) => `/queues/${id}/shuffle`, { shuffle: true }],
          ['PUT', (id) => `/queues/${id}/current`, { itemId }],
          ['POST', (id) => `/queues/${id}/next`, undefined],
        ];
        for (const [method, path, body] of probes) {
          const foreign = await alice(method, path(mine.id), body);
          const missing = await alice(method, path(ghost), body);
          assertError(foreign, 404, 'queue_not_found');
          assertError(missing, 404, 'queue_not_found');
          assert.deepEqual(norm(foreign, mine.id), norm(missing, ghost), `${method} ${path('<id>')}`);
        }
        // With a version too (a 409 would reveal the queue).
        const v = await alice('PATCH', `/queues/${mine.id}`, { name: 'x', expectedVersion: 0 });
        assertError(v, 404, 'queue_not_found');
        // Nothing changed, and the queue is not in alice's list.
        assert.deepEqual(assertOk(await bob('GET', `/queues/${mine.id}`)), mine);
        assert.ok(!assertOk(await alice('GET', '/queues?limit=100')).queues.some((x: any) => x.id === mine.id));
      });

      it('addedBy must be the caller', async () => {
        const q = await newQueue(alice);
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], addedBy: 'bob' }), 403, 'added_by_mismatch');
      });
    });

    describe('bad input', () => {
      let q: any;
      before(async () => {
        q = await newQueue(alice, ['a', 'b', 'c']);
      });

      it('wrong types are 400 (bodies are not coerced)', async () => {
        assertError(await alice('POST', '/queues', { name: 123 }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', tracks: 'abc' }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', tracks: [1, 2] }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', type: 'bogus' }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', metadata: [1] }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', ['name']), 400);
        assertError(await alice('POST', '/queues', 'null'), 400);
        assertError(await alice('PUT', `/queues/${q.id}/shuffle`, { shuffle: 'true' }), 400, 'validation_failed');
        assertError(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'sometimes' }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], position: '1' }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], position: 1.5 }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], expectedVersion: '4' }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/clear`, { upcomingOnly: 1 }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/next`, { reason: 'bored' }), 400, 'validation_failed');
        assertError(await alice('PUT', `/queues/${q.id}/current`, { itemId: 5 }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/items/remove`, { itemIds: 'a' }), 400, 'validation_failed');
      });

      it('missing fields are 400', async () => {
        assertError(await alice('POST', '/queues', {}), 400, 'validation_failed');
        assertError(await alice('POST', '/queues'), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: '' }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, {}), 400, 'validation_failed');
        assertError(await alice('PUT', `/queues/${q.id}/shuffle`, {}), 400, 'validation_failed');
        assertError(await alice('PUT', `/queues/${q.id}/repeat`), 400, 'validation_failed');
        assertError(await alice('PUT', `/queues/${q.id}/current`, {}), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/items/remove`, {}), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/items/remove`, { itemIds: [] }), 400, 'validation_failed');
      });

      it('unknown fields are 400', async () => {
        const res = await alice('POST', '/queues', { name: 'x', colour: 'red' });
        assertError(res, 400, 'validation_failed');
        assert.equal(res.body.error.details.issues[0].property, 'colour');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], at: 0 }), 400, 'validation_failed');
        assertError(await alice('PATCH', `/queues/${q.id}`, { owner: 'bob' }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/next`, { force: true }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/previous`, { reason: 'user' }), 400, 'validation_failed');
      });

      it('invalid JSON is 400 invalid_json; a wrong content type is 415', async () => {
        assertError(await alice('POST', '/queues', '{"name": "x"'), 400, 'invalid_json');
        assertError(await alice('POST', '/queues', "{name: 'x'}"), 400, 'invalid_json');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, '{"tracks": ["a",]}'), 400, 'invalid_json');
        // (client() always sends application/json with a body, so these go through fetch.)
        const token = await mintToken(server, 'alice');
        const post = async (type: string) => {
          const res = await fetch(`${server.url}/queues`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body: 'name=x' });
          const r = { status: res.status, headers: res.headers, body: await res.json() };
          seen.push({ method: 'POST', path: '/queues', status: r.status });
          return r;
        };
        assertError(await post('application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
        // fastify parses text/plain as a string, which the body schema then refuses.
        assertError(await post('text/plain'), 400, 'validation_failed');
      });

      it('track ids: empty and over 128 characters are 400; 128 is fine', async () => {
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: [''] }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['ok', 'x'.repeat(129)] }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', tracks: [''] }), 400, 'validation_failed');
        assertError(await alice('POST', '/queues', { name: 'x', tracks: ['y'.repeat(129)] }), 400, 'validation_failed');
        const r = assertOk(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['z'.repeat(128)] }));
        assert.equal(r.queue.items.at(-1).trackId, 'z'.repeat(128));
      });

      it('501 tracks in one request are 413 too_many_items; 500 are fine', async () => {
        const many = (n: number) => Array.from({ length: n }, (_, i) => `bulk-${i}`);
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: many(501) }), 413, 'too_many_items');
        assertError(await alice('POST', '/queues', { name: 'big', tracks: many(501) }), 413, 'too_many_items');
        assertError(await alice('POST', `/queues/${q.id}/items/remove`, { itemIds: many(501) }), 413, 'too_many_items');
        const big = assertOk(await alice('POST', '/queues', { name: 'big', tracks: many(500) }), 201);
        assert.equal(big.queue.itemCount, 500);
        assert.equal(big.queue.items.length, 200, '[QW1] the answer carries the default window');
        assert.equal(big.queue.version, 501);
      });

      it('a body over 1 MB is 413', async () => {
        const res = await alice('POST', '/queues', { name: 'x', metadata: { blob: 'x'.repeat(1024 * 1024 + 10) } });
        assertError(res, 413, 'body_too_large');
        // The server still answers afterwards.
        assertOk(await alice('GET', `/queues/${q.id}`));
      });

      it('a queue over its item limit is 422 queue_full', async () => {
        const lim = track(limited.url, await mintToken(limited, 'alice'));
        const created = assertOk(await lim('POST', '/queues', { name: 'small', tracks: ['1', '2', '3', '4'] }), 201);
        assertOk(await lim('POST', `/queues/${created.queue.id}/tracks`, { tracks: ['5'] }));
        const res = await lim('POST', `/queues/${created.queue.id}/tracks`, { tracks: ['6'] });
        assertError(res, 422, 'queue_full');
        assert.equal(res.body.error.details.limit, 5);
        assertError(await lim('POST', '/queues', { name: 'too big', tracks: ['1', '2', '3', '4', '5', '6'] }), 422, 'queue_full');
        // After a remove there is room again.
        assertOk(await lim('DELETE', `/queues/${created.queue.id}/items/${created.queue.items[0].itemId}`));
        assertOk(await lim('POST', `/queues/${created.queue.id}/tracks`, { tracks: ['6'] }));
        assertError(await lim('POST', `/queues/${created.queue.id}/tracks`, { tracks: ['7', '8'] }), 422, 'queue_full');
        assert.equal(assertOk(await lim('GET', `/queues/${created.queue.id}`)).items.length, 5);
        assert.ok(!seen.some((s) => s.status >= 500));
      });

      it('an unknown item is 404 item_not_found; an unknown anchor is 409 anchor_not_found', async () => {
        const ids = itemIds(assertOk(await alice('GET', `/queues/${q.id}`)));
        assertError(await alice('DELETE', `/queues/${q.id}/items/nope`), 404, 'item_not_found');
        assertError(await alice('POST', `/queues/${q.id}/items/nope/move`, { position: 0 }), 404, 'item_not_found');
        assertError(await alice('PUT', `/queues/${q.id}/current`, { itemId: 'nope' }), 404, 'item_not_found');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], afterItemId: 'nope' }), 409, 'anchor_not_found');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], beforeItemId: 'nope' }), 409, 'anchor_not_found');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, { afterItemId: 'nope' }), 409, 'anchor_not_found');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, { beforeItemId: 'nope' }), 409, 'anchor_not_found');
      });

      it('placement: none for a move, two at once, relative to itself, negative position: 400', async () => {
        const ids = itemIds(assertOk(await alice('GET', `/queues/${q.id}`)));
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, {}), 400, 'missing_placement');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`), 400, 'missing_placement');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, { position: 1, afterItemId: ids[1] }), 400, 'ambiguous_placement');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], afterItemId: ids[0], beforeItemId: ids[1] }), 400, 'ambiguous_placement');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, { afterItemId: ids[0] }), 400, 'invalid_anchor');
        assertError(await alice('POST', `/queues/${q.id}/items/${ids[0]}/move`, { position: -1 }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], position: -1 }), 400, 'validation_failed');
      });

      it('bad query strings are 400: limit=0, limit=abc, since=-1, limit over the maximum', async () => {
        for (const qs of ['limit=0', 'limit=abc', 'limit=101', 'limit=-5', 'limit=1.5']) {
          assertError(await alice('GET', `/queues?${qs}`), 400, 'validation_failed');
        }
        assertError(await alice('GET', `/queues?cursor=${'c'.repeat(501)}`), 400, 'validation_failed');
        for (const qs of ['since=-1', 'since=abc', 'limit=0', 'limit=abc', 'limit=1001']) {
          assertError(await alice('GET', `/queues/${q.id}/events?${qs}`), 400, 'validation_failed');
        }
      });

      it('a garbage cursor is not a 500 (either the first page or a 400)', async () => {
        const odd = [
          'not-a-real-cursor',
          Buffer.from(JSON.stringify(['not a time', 'x'])).toString('base64url'),
          Buffer.from(JSON.stringify([1, 2])).toString('base64url'),
          Buffer.from('{"a":').toString('base64url'),
          // Times JavaScript parses but a database may not.
          Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url'),
          Buffer.from(JSON.stringify(['+275760-09-13T00:00:00.000Z', 'x'])).toString('base64url'),
        ];
        for (const c of odd) {
          const res = await alice('GET', `/queues?limit=2&cursor=${encodeURIComponent(c)}`);
          if (res.status === 200) assert.ok(Array.isArray(res.body.queues), JSON.stringify(res.body));
          else assertError(res, 400);
        }
      });

      it('since past 2^31 is not a 500', async () => {
        for (const since of ['2147483647', '2147483648', '99999999999']) {
          const res = await alice('GET', `/queues/${q.id}/events?since=${since}`);
          if (res.status === 200) {
            assert.deepEqual(res.body.events, [], `since=${since}`);
            assert.equal(res.body.hasMore, false);
          } else assertError(res, 400);
        }
      });

      it('strings a store cannot hold (NUL, lone surrogates) are refused with a 400 or round-trip exactly', async () => {
        const odd = ['a\u0000b', 'x\ud800', '\udc00y'];
        for (const str of odd) {
          const label = JSON.stringify(str);
          // As a queue name, a track id, a metadata value and key, a mutation id.
          const created = await alice('POST', '/queues', { name: str });
          if (created.status === 201) {
            const got = assertOk(await alice('GET', `/queues/${created.body.queue.id}`));
            assert.equal(got.name, str, `name ${label} round-trips in GET`);
            const listed = assertOk(await alice('GET', '/queues?limit=100')).queues.find((x: any) => x.id === got.id);
            assert.equal(listed?.name, str, `name ${label} round-trips in the list`);
          } else assertError(created, 400);
          const added = await alice('POST', `/queues/${q.id}/tracks`, { tracks: [str] });
          if (added.status === 200) {
            const got = assertOk(await alice('GET', `/queues/${q.id}`));
            assert.equal(got.items.at(-1).trackId, str, `track ${label} round-trips`);
          } else assertError(added, 400);
          for (const metadata of [{ k: str }, { [str]: 1 }]) {
            const patched = await alice('PATCH', `/queues/${q.id}`, { metadata });
            if (patched.status === 200) assert.deepEqual(assertOk(await alice('GET', `/queues/${q.id}`)).metadata, metadata, `metadata ${label}`);
            else assertError(patched, 400);
          }
          const keyed = await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'off', mutationId: str });
          if (keyed.status !== 200) assertError(keyed, 400);
        }
        // In the path: an id that cannot exist is simply not found.
        for (const [method, path] of [['GET', '/queues/x%00'], ['GET', '/queues/x%00/events'], ['POST', '/queues/x%00/next'], ['GET', '/queues/%C3%A9%00']] as const) {
          const res = await alice(method, path);
          assert.ok(res.status === 404 || res.status === 400, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
          assertError(res, res.status);
        }
      });

      it('deeply nested metadata under the body limit is refused with a 4xx or round-trips', async () => {
        for (const depth of [1_000, 10_000, 100_000]) {
          const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
          const res = await alice('POST', '/queues', `{"name":"deep","metadata":{"x":${nested}}}`);
          if (res.status === 201) {
            const got = await alice('GET', `/queues/${res.body.queue.id}`);
            assert.equal(got.status, 200, `depth ${depth}: GET answers ${got.status}`);
            assert.equal(JSON.stringify(got.body.metadata), `{"x":${nested}}`);
          } else {
            assert.ok(res.status >= 400 && res.status < 500, `depth ${depth}: ${res.status} ${JSON.stringify(res.body)}`);
            assertError(res, res.status);
          }
        }
      });

      it('unknown routes are 404 route_not_found, with or without a token', async () => {
        assertError(await alice('GET', '/nope'), 404, 'route_not_found');
        assertError(await anon('GET', '/nope'), 404, 'route_not_found');
        assertError(await alice('POST', `/queues/${q.id}/shuffle`, { shuffle: true }), 404, 'route_not_found');
        assertError(await alice('GET', `/queues/${q.id}/items`), 404, 'route_not_found');
        assertError(await alice('PUT', '/queues'), 404, 'route_not_found');
      });

      it('an invalid If-Match is 400 invalid_if_match', async () => {
        for (const h of ['abc', '"v1"', '"-1"', '"1"x', '"1", "2"']) {
          const res = await alice('PATCH', `/queues/${q.id}`, { name: 'x' }, { 'if-match': h });
          assertError(res, 400, 'invalid_if_match');
        }
        assertError(await alice('POST', '/queues', { name: 'x', expectedVersion: 0 }), 400, 'validation_failed');
      });

      it('over-long ids and idempotency keys are 400', async () => {
        assertError(await alice('GET', `/queues/${'q'.repeat(65)}`), 400, 'validation_failed');
        assertError(await alice('DELETE', `/queues/${q.id}/items/${'i'.repeat(65)}`), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'] }, { 'idempotency-key': 'k'.repeat(201) }), 400, 'validation_failed');
        assertError(await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['x'], mutationId: '' }), 400, 'validation_failed');
      });
    });

    it('no request in this block answered 5xx', () => {
      const bad = seen.filter((s) => s.status >= 500);
      assert.deepEqual(bad, []);
      assert.ok(seen.length > 100);
    });
  });
}
