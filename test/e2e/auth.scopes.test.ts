// Scoped tokens (issue 23) against a real server on both stores: each REST route and each
// socket message checks the scope it needs ([AU6], [AU7]); operator routes take the admin
// scope ([AU8]); a socket takes a fresh token in place ([AU11]); the SDK mirrors a queue with
// a read-only token (a TV display) and rolls its edits back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueueClient, QueueServiceError } from '@queue-service/client';
import { until } from '../helpers/client.ts';
import { sleep } from '../helpers/wait.ts';
import { assertError, assertOk } from '../helpers/http.ts';
import { client, runCli, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';

for (const { kind, skip } of storeKinds) {
  describe(`scoped tokens (${kind})`, { skip, timeout: 120_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    const sockets: TestSocket[] = [];
    const clients: QueueClient[] = [];
    /** A token for `userId` limited to `scopes` (none: full rights). */
    const mint = async (userId: string, scopes?: string[]) => {
      const r = assertOk(await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId, ...(scopes ? { scopes } : {}) }));
      return r.token as string;
    };
    const open = async (path: string, token: string, query: Record<string, string | number> = {}) => {
      const s = await connect(server.url, path, { token, query });
      sockets.push(s);
      return s;
    };
    let full: ReturnType<typeof client>;
    let queueId: string;
    let itemIds: string[];

    before(async () => {
      server = await startServerOn(kind);
      full = client(server.url, await mint('alice'));
      const q = assertOk(await full('POST', '/queues', { name: 'tv', tracks: ['a', 'b', 'c'] }), 201).queue;
      queueId = q.id;
      itemIds = q.items.map((i: any) => i.itemId);
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      for (const c of clients) await c.close();
      await server?.cleanup();
    });

    it('[AU6] a read-only token (queue:read) reads every read route and changes nothing; each refusal is 403 insufficient_scope naming the scope', async () => {
      const tv = client(server.url, await mint('alice', ['queue:read']));
      for (const path of [
        '/queues',
        `/queues/${queueId}`,
        `/queues/${queueId}/events`,
        `/queues/${queueId}/collaborators`,
        `/queues/${queueId}/history`,
        `/queues/${queueId}/offline`,
        '/users/me/playback-state',
        '/users/me/devices',
        '/users/me/sync-events',
        '/auth/me',
      ]) {
        const r = await tv('GET', path);
        // 404 for a playback state nobody set yet: past the scope check either way.
        assert.ok(r.status === 200 || (r.status === 404 && path.endsWith('playback-state')), `${path}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      const before = assertOk(await full('GET', `/queues/${queueId}`)).version;
      const refused: [string, string, unknown, string][] = [
        ['POST', '/queues', { name: 'x' }, 'queue:write'],
        ['POST', `/queues/${queueId}/tracks`, { tracks: ['d'] }, 'queue:write'],
        ['DELETE', `/queues/${queueId}/items/${itemIds[0]}`, undefined, 'queue:write'],
        ['POST', `/queues/${queueId}/items/${itemIds[0]}/move`, { position: 2 }, 'queue:write'],
        ['PATCH', `/queues/${queueId}`, { name: 'renamed' }, 'queue:write'],
        ['POST', `/queues/${queueId}/collaborators`, { userId: 'bob', permissionLevel: 'viewer' }, 'queue:write'],
        ['POST', `/queues/${queueId}/invites`, {}, 'queue:write'],
        ['POST', `/queues/${queueId}/next`, {}, 'playback:write'],
        ['PUT', `/queues/${queueId}/shuffle`, { shuffle: true }, 'playback:write'],
        ['PUT', `/queues/${queueId}/current`, { itemId: itemIds[1] }, 'playback:write'],
        ['PUT', '/users/me/playback-state', { position: 1, isPlaying: true, deviceId: 'tv', timestamp: Date.now() }, 'playback:write'],
        ['POST', '/users/me/playback/transfer', { deviceId: 'tv' }, 'playback:write'],
        ['POST', '/recommendations/feedback', { trackId: 'a', type: 'like' }, 'playback:write'],
        ['POST', `/queues/${queueId}/extend`, {}, 'queue:write'],
        ['GET', `/queues/${queueId}/extend`, undefined, 'queue:write'],
        ['POST', '/parties', { queueId }, 'party:host'],
      ];
      for (const [method, path, body, scope] of refused) {
        const r = await tv(method, path, body);
        assertError(r, 403, 'insufficient_scope');
        assert.equal(r.body.error.details.scope, scope, `${method} ${path}`);
        assert.deepEqual(r.body.error.details.granted, ['queue:read']);
      }
      assert.equal(assertOk(await full('GET', `/queues/${queueId}`)).version, before, 'nothing changed');
    });

    it('[AU6] a remote control (playback:write) skips and sets playback, but neither reads nor edits the queue', async () => {
      const remote = client(server.url, await mint('alice', ['playback:write']));
      assertOk(await remote('POST', `/queues/${queueId}/next`, {}));
      assertOk(await remote('PUT', '/users/me/playback-state', { position: 3, isPlaying: true, deviceId: 'remote', timestamp: Date.now() }));
      assertError(await remote('GET', `/queues/${queueId}`), 403, 'insufficient_scope');
      assertError(await remote('POST', `/queues/${queueId}/tracks`, { tracks: ['x'] }), 403, 'insufficient_scope');
    });

    it('[AU8] operator routes take the admin key or a token with the admin scope; a scoped token without it is 403, a full user token 401', async () => {
      const operator = client(server.url, await mint('ops', ['admin']));
      const minted = assertOk(await operator('POST', '/auth/tokens', { userId: 'bob', scopes: ['queue:read'], ttlSeconds: 600 }));
      assert.deepEqual(minted.scopes, ['queue:read']);
      assert.equal(typeof minted.tokenId, 'string');
      assertError(await operator('GET', '/queues'), 403, 'insufficient_scope'); // admin is not a user's rights
      const reader = client(server.url, await mint('bob', ['queue:read']));
      const r = await reader('POST', '/auth/tokens', { userId: 'bob' });
      assertError(r, 403, 'insufficient_scope');
      assert.equal(r.body.error.details.scope, 'admin');
      assertError(await client(server.url, await mint('bob'))('POST', '/auth/tokens', { userId: 'bob' }), 401, 'invalid_admin_key');
      assertError(await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId: 'bob', scopes: ['queue:sing'] }), 400);
      // The operator CLI mints scoped tokens too.
      const cli = await runCli(['token', 'zoe', '--scopes', 'queue:read,party:join'], { ADMIN_API_KEY: server.adminKey, DATA_DIR: server.dataDir });
      assert.equal(cli.code, 0, cli.stderr);
      assert.deepEqual(assertOk(await client(server.url, cli.stdout.trim())('GET', '/auth/me')).scopes, ['party:join', 'queue:read']);
      const bad = await runCli(['token', 'zoe', '--scopes', 'queue:sing'], { ADMIN_API_KEY: server.adminKey, DATA_DIR: server.dataDir });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unknown scope queue:sing/);
    });

    it('[AU7] queue socket with a read-only token: the queue streams live; every command is refused with its scope and the socket stays open', async () => {
      const s = await open(`/ws/queues/${queueId}`, await mint('alice', ['queue:read']), { since: 0, deviceId: 'tv-1' });
      await s.waitFor((m) => m.type === 'hello');
      const add = await s.command('add_tracks', { tracks: ['e'] });
      assert.equal(add.type, 'error');
      assert.equal(add.status, 403);
      assert.equal(add.error.code, 'insufficient_scope');
      assert.equal(add.error.details.scope, 'queue:write');
      const next = await s.command('next', {});
      assert.equal(next.error.details.scope, 'playback:write');
      const from = s.messages.length;
      const w = assertOk(await full('POST', `/queues/${queueId}/tracks`, { tracks: ['live'] }));
      await s.waitFor((m) => m.type === 'item_added' && m.sequenceNumber === w.version, 5000, from);
      assert.equal(s.ws.readyState, s.ws.OPEN);
    });

    it('[AU7] sync socket with a read-only token: subscribe streams the queue; set_playback and queue commands are refused', async () => {
      const s = await open('/ws/sync/me', await mint('alice', ['queue:read']), { deviceId: 'tv-2' });
      await s.waitFor((m) => m.type === 'hello');
      s.send({ type: 'subscribe', queueId });
      await s.waitFor((m) => m.type === 'subscribed' && m.queueId === queueId);
      const pb = await s.command('set_playback', { position: 1, isPlaying: true, deviceId: 'tv-2', timestamp: Date.now() });
      assert.equal(pb.error.code, 'insufficient_scope');
      assert.equal(pb.error.details.scope, 'playback:write');
      const add = await s.command('add_tracks', { tracks: ['z'] }, { queueId });
      assert.equal(add.error.details.scope, 'queue:write');
      // Without queue:read (a remote control) the sockets are refused at the upgrade.
      await assert.rejects(connect(server.url, '/ws/sync/me', { token: await mint('alice', ['playback:write']) }), (e: any) => e.statusCode === 403);
      await assert.rejects(connect(server.url, `/ws/queues/${queueId}`, { token: await mint('alice', ['playback:write']) }), (e: any) => e.statusCode === 403);
    });

    it('[AU7] party socket: party:join opens it and syncs clocks; playback commands need party:host; no party scope, no socket', async () => {
      const hostApi = client(server.url, await mint('alice', ['party:host', 'queue:read']));
      const party = assertOk(await hostApi('POST', '/parties', { queueId }), 201);
      const guestToken = await mint('carol', ['party:join']);
      assertOk(await client(server.url, guestToken)('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode }));
      const guest = await open(`/ws/party/${party.id}`, guestToken, { deviceId: 'carol-tv' });
      await guest.waitFor((m) => m.type === 'hello');
      guest.send({ type: 'latency_measurement', ping: Date.now() });
      await guest.waitFor((m) => m.type === 'latency_measurement');
      guest.send({ type: 'playback_sync', mutationId: 'g1', action: 'pause' });
      const refused = await guest.waitFor((m) => m.type === 'error' && m.mutationId === 'g1');
      assert.equal(refused.error.code, 'insufficient_scope');
      assert.equal(refused.error.details.scope, 'party:host');
      const host = await open(`/ws/party/${party.id}`, await mint('alice', ['party:host']), { deviceId: 'alice-phone' });
      await host.waitFor((m) => m.type === 'hello');
      host.send({ type: 'playback_sync', mutationId: 'h1', action: 'play' });
      assert.equal((await host.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.mutationId === 'h1')).type, 'ack');
      await assert.rejects(connect(server.url, `/ws/party/${party.id}`, { token: await mint('carol', ['queue:read']) }), (e: any) => e.statusCode === 403);
      assertError(await client(server.url, guestToken)('POST', `/parties/${party.id}/end`, {}), 403, 'insufficient_scope');
    });

    it("[AU7] offline batches: each change needs its op's scope; one the token lacks fails alone", async () => {
      const remote = client(server.url, await mint('alice', ['playback:write']));
      const q = assertOk(await full('POST', '/queues', { name: 'offline', tracks: ['o1', 'o2'] }), 201).queue;
      const now = Date.now();
      const r = assertOk(
        await remote(
          'POST',
          '/sync/offline',
          {
            lastSyncTimestamp: null,
            changes: [
              {
                clientId: 'remote-1',
                mutationId: 1,
                resourceType: 'queue',
                resourceId: q.id,
                op: 'add_tracks',
                args: { tracks: ['off'] },
                clientTimestamp: now,
              },
              { clientId: 'remote-1', mutationId: 2, resourceType: 'queue', resourceId: q.id, op: 'next', args: {}, clientTimestamp: now + 1 },
              {
                clientId: 'remote-1',
                mutationId: 3,
                resourceType: 'playback',
                resourceId: 'me',
                op: 'set_playback',
                args: { position: 5, isPlaying: false, deviceId: 'remote', timestamp: now + 60_000 },
                clientTimestamp: now + 2,
              },
            ],
          },
          { 'x-device-id': 'remote' },
        ),
      );
      assert.equal(r.results[0].outcome, 'error');
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].error.code, 'insufficient_scope');
      assert.equal(r.errors[0].error.details.scope, 'queue:write');
      assert.equal(r.results[1].outcome, 'applied');
      assert.equal(r.results[2].outcome, 'applied');
      const after = assertOk(await full('GET', `/queues/${q.id}`));
      assert.equal(after.version, q.version + 1, 'only the skip');
      assert.ok(!after.items.some((i: any) => i.trackId === 'off'));
    });

    it("[AU11] a socket takes a fresh token of its user in place: its scopes and expiry apply; another user's or a bad token is refused and the old one stays", async () => {
      const s = await open(`/ws/queues/${queueId}`, await mint('alice', ['queue:read']), { deviceId: 'tv-3' });
      await s.waitFor((m) => m.type === 'hello');
      assert.equal((await s.command('add_tracks', { tracks: ['r1'] })).error.code, 'insufficient_scope');
      s.send({ type: 'auth', token: await mint('bob'), mutationId: 'a1' });
      const other = await s.waitFor((m) => m.mutationId === 'a1');
      assert.equal(other.error.code, 'token_user_mismatch');
      s.send({ type: 'auth', token: 'garbage', mutationId: 'a2' });
      assert.equal((await s.waitFor((m) => m.mutationId === 'a2')).error.code, 'invalid_token');
      s.send({ type: 'auth', token: await mint('alice', ['queue:write']), mutationId: 'a3' });
      const ok = await s.waitFor((m) => m.mutationId === 'a3');
      assert.equal(ok.type, 'auth_ok');
      assert.deepEqual(ok.scopes, ['queue:read', 'queue:write']);
      assert.equal((await s.command('add_tracks', { tracks: ['r2'] })).type, 'ack');
    });

    it('[AU6] the SDK mirrors a queue live with a read-only token (a TV display); its edits are refused and rolled back', async () => {
      const tv = new QueueClient({
        baseUrl: server.url,
        token: await mint('alice', ['queue:read']),
        deviceId: 'tv-sdk',
        reconnect: { baseMs: 50, maxMs: 500 },
      });
      clients.push(tv);
      const q = await tv.openQueue(queueId);
      const w = assertOk(await full('POST', `/queues/${queueId}/tracks`, { tracks: ['shown-on-tv'] }));
      await until(() => q.state.version === w.version, 'the mirror follows the queue');
      assert.ok(q.state.items.some((i) => i.trackId === 'shown-on-tv'));
      const count = q.state.items.length;
      await assert.rejects(q.addTracks(['from-tv']), (e: unknown) => e instanceof QueueServiceError && e.code === 'insufficient_scope');
      assert.equal(q.state.items.length, count, 'rolled back');
      assert.ok(!q.state.items.some((i) => i.trackId === 'from-tv'));
      assert.equal(assertOk(await full('GET', `/queues/${queueId}`)).version, q.state.version);
      // A token the sync socket is not for (no queue:read) is refused once, not retried forever.
      const remote = new QueueClient({
        baseUrl: server.url,
        token: await mint('alice', ['playback:write']),
        deviceId: 'remote-sdk',
        reconnect: { baseMs: 50, maxMs: 100 },
      });
      clients.push(remote);
      const errors: string[] = [];
      remote.on('error', (e) => errors.push(e.code));
      await until(() => errors.length > 0, 'the refusal is reported');
      await sleep(1000); // no retry, and so no second refusal, in the next second
      assert.deepEqual(errors, ['insufficient_scope']);
      assert.notEqual(remote.status, 'online');
    });

    it('[AU6] every route has its scope declared: the server logs no route without one, and every operation of /openapi.json states what it needs', async () => {
      assert.doesNotMatch(server.output(), /route has no scope/);
      const doc = assertOk(await client(server.url)('GET', '/openapi.json'));
      assert.ok(doc.components.securitySchemes.bearer && doc.components.securitySchemes.adminKey);
      let checked = 0;
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
        for (const [method, op] of Object.entries(ops)) {
          assert.ok(Array.isArray(op.security), `${method} ${path} states its security`);
          checked++;
        }
      }
      assert.ok(checked > 60, `${checked} operations`);
      assert.deepEqual(doc.paths['/queues/{queueId}/next'].post.security, [{ bearer: ['playback:write'] }]);
      assert.deepEqual(doc.paths['/auth/tokens/revoke'].post.security, [{ adminKey: [] }, { bearer: ['admin'] }]);
    });
  });
}
