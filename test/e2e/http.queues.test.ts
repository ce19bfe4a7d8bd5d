// End-to-end tests of the HTTP API against real server processes, one per store kind.
// Queues, items and playback order over HTTP, plus the operations routes; no request may ever answer 5xx.
// The other HTTP suites: http.log.test.ts, http.refusals.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mintToken, storeKinds } from '../helpers/server.ts';
import { assertError, assertOk, itemIds, newQueue, trackIds, httpUsers } from '../helpers/http.ts';
import { sleep } from '../helpers/wait.ts';

for (const { kind, skip } of storeKinds) {
  describe(kind, { skip, timeout: 60_000 }, () => {
    /** Every response seen by this block (to check none was a 5xx), and the callers. */
    const users = httpUsers(kind);
    const { seen, track, alice, bob, anon } = users;

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
        assert.deepEqual(
          empty.events.map((e: any) => e.type),
          ['queue_created'],
        );
        assert.equal(empty.events[0].sequenceNumber, 1);

        const full = assertOk(await alice('POST', '/queues', { name: 'Party', type: 'party', tracks: ['t1', 't2', 't3'], metadata: { mood: 'loud' } }), 201);
        assert.equal(full.queue.type, 'party');
        assert.deepEqual(trackIds(full.queue), ['t1', 't2', 't3']);
        assert.ok(full.queue.items.every((i: any) => i.addedBy === 'alice' && typeof i.itemId === 'string'));
        assert.deepEqual(full.queue.metadata, { mood: 'loud' });
        assert.equal(full.queue.version, 4);
        assert.deepEqual(
          full.events.map((e: any) => e.type),
          ['queue_created', 'item_added', 'item_added', 'item_added'],
        );
        assert.deepEqual(
          full.events.map((e: any) => e.sequenceNumber),
          [1, 2, 3, 4],
        );
        assert.notEqual(full.queue.id, empty.queue.id);
      });

      it('GET /queues/:id returns the queue with ETag "<version>"', async () => {
        const created = await newQueue(alice, ['a', 'b']);
        const res = await alice('GET', `/queues/${created.id}`);
        assert.deepEqual(assertOk(res), created);
        assert.equal(res.headers.get('etag'), `"${created.version}"`);
        assert.equal(created.version, 3);
      });

      it('[QW10] GET /queues/:id with If-None-Match: 304 without a body at that version, 200 once the queue moved on; strangers still 404', async () => {
        const created = await newQueue(alice, ['a', 'b']);
        const path = `/queues/${created.id}`;
        const etag = `"${created.version}"`;
        for (const header of [etag, `W/${etag}`, `"999", ${etag}`, '*']) {
          const res = await alice('GET', path, undefined, { 'if-none-match': header });
          assert.equal(res.status, 304, header);
          assert.equal(res.headers.get('etag'), etag);
          assert.ok(res.body === '' || res.body === null || res.body === undefined, `no body for ${header}: ${JSON.stringify(res.body)}`);
        }
        // Another version, or a window read at an older one: the whole answer.
        assert.deepEqual(assertOk(await alice('GET', path, undefined, { 'if-none-match': '"2"' })), created);
        assertOk(await alice('POST', `${path}/tracks`, { tracks: ['c'] }, { prefer: 'return=minimal' }));
        const moved = await alice('GET', path, undefined, { 'if-none-match': etag });
        assert.equal(moved.status, 200);
        assert.equal(moved.headers.get('etag'), `"${created.version + 1}"`);
        assert.deepEqual(trackIds(moved.body), ['a', 'b', 'c']);
        assertError(await bob('GET', path, undefined, { 'if-none-match': '*' }), 404, 'queue_not_found');
      });

      it("GET /queues lists only the caller's queues, paged with limit and nextCursor", async () => {
        const carolToken = await mintToken(users.server, `carol-${randomBytes(3).toString('hex')}`);
        const carol = track(users.server.url, carolToken);
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
        assert.deepEqual(
          all.map((q: any) => q.id),
          seenIds,
          'paging gives the same order as one page',
        );
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].updatedAt >= all[i].updatedAt, 'most recently changed first');
        const one = all.find((q: any) => q.id === ids[1]);
        assert.equal(one.itemCount, 1);
        assert.equal(one.version, 2);

        // A change moves a queue to the front.
        await sleep(5); // a later updatedAt than the others'
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
        assert.deepEqual(
          body.events.map((e: any) => e.type),
          ['queue_updated'],
        );
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
        assert.deepEqual(
          del.events.map((e: any) => e.type),
          ['queue_deleted'],
        );
        assert.equal(del.queue.version, 3);
        assertError(await alice('GET', `/queues/${q.id}`), 404, 'queue_not_found');
        const list = assertOk(await alice('GET', '/queues?limit=100')).queues;
        assert.ok(!list.some((x: any) => x.id === q.id));
        const log = assertOk(await alice('GET', `/queues/${q.id}/events`));
        assert.deepEqual(
          log.events.map((e: any) => e.type),
          ['queue_created', 'item_added', 'queue_deleted'],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.sequenceNumber]),
          [
            ['item_added', 4],
            ['item_added', 5],
          ],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.data.itemId]),
          [['item_removed', ic]],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => e.type),
          ['item_moved'],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => e.type),
          ['queue_cleared'],
        );
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
        assert.deepEqual(
          on.events.map((e: any) => e.type),
          ['shuffle_changed'],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.data.repeat]),
          [['repeat_changed', 'all']],
        );
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
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.data.itemId, e.data.reason]),
          [['current_item_changed', ids[2], 'set']],
        );
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
        assert.deepEqual(
          r.queue.history.map((h: any) => h.itemId),
          [ids[0], ids[1]],
        );
        r = assertOk(await alice('POST', `/queues/${q.id}/previous`));
        assert.equal(r.queue.currentItemId, ids[1]);
        assert.deepEqual(
          r.events.map((e: any) => [e.type, e.data.reason]),
          [['current_item_changed', 'previous']],
        );
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

    it('no request in this block answered 5xx', () => {
      const bad = seen.filter((s) => s.status >= 500);
      assert.deepEqual(bad, []);
      assert.ok(seen.length > 20);
    });
  });
}
