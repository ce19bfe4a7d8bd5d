// End-to-end tests of the HTTP API against real server processes, one per store kind.
// The event log, optimistic concurrency (If-Match / expectedVersion) and idempotent retries over HTTP; no request may ever answer 5xx.
// The other HTTP suites: http.queues.test.ts, http.refusals.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mintToken, storeKinds } from '../helpers/server.ts';
import { allEvents, assertError, assertOk, newQueue, trackIds, httpUsers } from '../helpers/http.ts';

for (const { kind, skip } of storeKinds) {
  describe(kind, { skip, timeout: 60_000 }, () => {
    /** Every response seen by this block (to check none was a 5xx), and the callers. */
    const users = httpUsers(kind);
    const { seen, alice, bob } = users;

    describe('event log', () => {
      it('[Q1] GET /queues/:id/events pages with since, limit, nextSince and hasMore', async () => {
        const q = await newQueue(alice, ['a', 'b', 'c', 'd', 'e', 'f']);
        assertOk(await alice('PUT', `/queues/${q.id}/repeat`, { repeat: 'all' }));
        assertOk(await alice('POST', `/queues/${q.id}/next`));
        const version = 9;
        const full = assertOk(await alice('GET', `/queues/${q.id}/events`));
        assert.equal(full.version, version);
        assert.equal(full.hasMore, false);
        assert.equal(full.nextSince, version);
        assert.deepEqual(
          full.events.map((e: any) => e.sequenceNumber),
          [1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
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
        const res = await alice('POST', `/queues/${q.id}/tracks`, { tracks: ['b'] }, { 'if-match': `"${q.version}"` });
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

      it('[Q1] a stale version is 409 version_conflict with details.currentVersion, and changes nothing', async () => {
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

      it('[Q1] writes without a version apply to the current state', async () => {
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
        assert.deepEqual(
          seqs,
          Array.from({ length: 20 }, (_, i) => 5 + i),
        );
        const log = await allEvents(alice, q.id);
        assert.deepEqual(
          log.map((e) => e.sequenceNumber),
          Array.from({ length: 24 }, (_, i) => i + 1),
        );
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
        const token = await mintToken(users.server, 'alice');
        const raw = async (method: string, path: string, body: unknown, key: string) => {
          const res = await fetch(users.server.url + path, {
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

    it('no request in this block answered 5xx', () => {
      const bad = seen.filter((s) => s.status >= 500);
      assert.deepEqual(bad, []);
      assert.ok(seen.length > 20);
    });
  });
}
