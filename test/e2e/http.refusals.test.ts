// End-to-end tests of the HTTP API against real server processes, one per store kind
// (plus one small-limits server per kind for queue_full and a token from another server).
// Refusals over HTTP: auth (tokens, admin key, expiry) and bad input of every kind; no request may ever answer 5xx.
// The other HTTP suites: http.queues.test.ts, http.log.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Tokens } from '../../src/auth/tokens.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { type Call, type Res, assertError, assertOk, itemIds, newQueue, tracker } from '../helpers/http.ts';
import { sleep } from '../helpers/wait.ts';

type Server = RunningServer & { cleanup(): Promise<void> };

for (const { kind, skip } of storeKinds) {
  describe(kind, { skip, timeout: 60_000 }, () => {
    let server: Server;
    let limited: Server;
    /** Every response seen by this block, to check none was a 5xx. */
    const { seen, track } = tracker();
    let alice: Call;
    let bob: Call;
    let anon: Call;
    let admin: Call;
    let shortLived: string;
    let shortLivedAt: number;
    let shortLivedExp: number;
    let shortLivedFirst: { sent: number; status: number };

    before(async () => {
      [server, limited] = await Promise.all([startServerOn(kind), startServerOn(kind, { env: { LIMIT_ITEMS_PER_QUEUE: '5' } })]);
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
        if (wait > 0) await sleep(wait); // the clock passes the token's expiry
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
          const res = await fetch(`${server.url}/queues`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': type },
            body: 'name=x',
          });
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
        for (const [method, path] of [
          ['GET', '/queues/x%00'],
          ['GET', '/queues/x%00/events'],
          ['POST', '/queues/x%00/next'],
          ['GET', '/queues/%C3%A9%00'],
        ] as const) {
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
      assert.ok(seen.length > 20);
    });
  });
}
