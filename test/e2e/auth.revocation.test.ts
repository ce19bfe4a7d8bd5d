// Revoking tokens (issue 23): one token (by the token or its id) or every token of a user
// issued before now, on both stores ([AU9]); open sockets opened with what was revoked are
// closed with 4401 ([AU10]); the revocation outlives a restart; and across two instances
// (Postgres + Redis) it reaches the other instance's cache and sockets within a second,
// through the database alone when Redis is down, and from the operator CLI.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { assertError, assertOk } from '../helpers/http.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { redisSkipReason, startRedis, stopProcess } from '../helpers/redis.ts';
import { client, runCli, startServer, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';
import type { TempDatabase } from '../helpers/pg.ts';

async function mintOn(server: { url: string; adminKey: string }, userId: string, scopes?: string[]): Promise<{ token: string; tokenId: string }> {
  return assertOk(await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId, ...(scopes ? { scopes } : {}) }));
}

const revokeOn = (server: { url: string; adminKey: string }, body: unknown) => client(server.url, server.adminKey)('POST', '/auth/tokens/revoke', body);

/** Resolves with the close code once the socket closes; rejects after `ms`. */
function closedWithin(s: TestSocket, ms: number): Promise<number> {
  return Promise.race([s.closed.then((c) => c.code), sleep(ms).then(() => Promise.reject(new Error(`socket still open after ${ms} ms`)))]);
}

for (const { kind, skip } of storeKinds) {
  describe(`token revocation (${kind})`, { skip, timeout: 120_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void>; db: TempDatabase | null };
    let current: RunningServer;
    const sockets: TestSocket[] = [];
    const open = async (path: string, token: string, query: Record<string, string | number> = {}) => {
      const s = await connect(current.url, path, { token, query });
      sockets.push(s);
      await s.waitFor((m) => m.type === 'hello');
      return s;
    };

    before(async () => {
      server = await startServerOn(kind);
      current = server;
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      await current?.stop();
      await server?.db?.drop();
      if (server) rmSync(server.dataDir, { recursive: true, force: true });
    });

    it("[AU9] one token, by the token itself: refused 401 token_revoked at once (also from the cache); the user's other tokens work", async () => {
      const a = await mintOn(current, 'alice');
      const b = await mintOn(current, 'alice');
      assertOk(await client(current.url, a.token)('GET', '/queues')); // now in the cache of verified tokens
      const r = assertOk(await revokeOn(current, { token: a.token }));
      assert.equal(r.revoked, 'token');
      assert.equal(r.tokenId, a.tokenId);
      assert.equal(r.userId, 'alice');
      assertError(await client(current.url, a.token)('GET', '/queues'), 401, 'token_revoked');
      assertOk(await client(current.url, b.token)('GET', '/queues'));
    });

    it('[AU9] one token by its id; an id given with another user revokes nothing of this one', async () => {
      const a = await mintOn(current, 'bob');
      assertOk(await revokeOn(current, { tokenId: a.tokenId, userId: 'someone-else' }));
      assertOk(await client(current.url, a.token)('GET', '/queues'));
      assertOk(await revokeOn(current, { tokenId: a.tokenId }));
      assertError(await client(current.url, a.token)('GET', '/queues'), 401, 'token_revoked');
    });

    it('[AU9] every token of a user issued before now; one minted right after (the same second) works; other users are untouched', async () => {
      const old1 = await mintOn(current, 'carol');
      const old2 = await mintOn(current, 'carol', ['queue:read']);
      const dave = await mintOn(current, 'dave');
      const r = assertOk(await revokeOn(current, { userId: 'carol' }));
      assert.equal(r.revoked, 'user');
      assert.ok(Date.parse(r.issuedBefore) > Date.parse(r.revokedAt) - 1000);
      const fresh = await mintOn(current, 'carol');
      for (const t of [old1, old2]) assertError(await client(current.url, t.token)('GET', '/queues'), 401, 'token_revoked');
      assertOk(await client(current.url, fresh.token)('GET', '/queues'));
      assertOk(await client(current.url, dave.token)('GET', '/queues'));
    });

    it("[AU10] sockets opened with a revoked token close with 4401 at once; the user's other sockets and other users' stay", async () => {
      const a = await mintOn(current, 'erin');
      const b = await mintOn(current, 'erin');
      const other = await mintOn(current, 'frank');
      const q = assertOk(await client(current.url, a.token)('POST', '/queues', { name: 'e' }), 201).queue;
      const sA = await open(`/ws/queues/${q.id}`, a.token);
      const syncA = await open('/ws/sync/me', a.token, { deviceId: 'erin-phone' });
      const sB = await open('/ws/sync/me', b.token, { deviceId: 'erin-desk' });
      const sOther = await open('/ws/sync/me', other.token, { deviceId: 'frank-phone' });
      assertOk(await revokeOn(current, { token: a.token }));
      assert.equal(await closedWithin(sA, 1000), 4401);
      assert.equal(await closedWithin(syncA, 1000), 4401);
      assert.equal(sB.ws.readyState, sB.ws.OPEN);
      assertOk(await revokeOn(current, { userId: 'erin' }));
      assert.equal(await closedWithin(sB, 1000), 4401);
      await sleep(100); // the other socket is not closed in the next 100 ms
      assert.equal(sOther.ws.readyState, sOther.ws.OPEN);
      // A fresh token opens a socket again.
      const again = await mintOn(current, 'erin');
      await open('/ws/sync/me', again.token, { deviceId: 'erin-phone' });
    });

    it('[AU10] a party socket closes with 4401 when its token is revoked', async () => {
      const host = await mintOn(current, 'gus');
      const q = assertOk(await client(current.url, host.token)('POST', '/queues', { name: 'p', tracks: ['t'] }), 201).queue;
      const party = assertOk(await client(current.url, host.token)('POST', '/parties', { queueId: q.id }), 201);
      const s = await open(`/ws/party/${party.id}`, host.token, { deviceId: 'gus-phone' });
      assertOk(await revokeOn(current, { tokenId: host.tokenId }));
      assert.equal(await closedWithin(s, 1000), 4401);
    });

    it('[AU9] a revocation is in the database: still in force after a restart', async () => {
      const t = await mintOn(current, 'hana');
      const u = await mintOn(current, 'ivan');
      assertOk(await revokeOn(current, { token: t.token }));
      assertOk(await revokeOn(current, { userId: 'ivan' }));
      await current.stop();
      current = await startServer({ dataDir: server.dataDir, databaseUrl: server.db?.url, adminKey: server.adminKey });
      assertError(await client(current.url, t.token)('GET', '/queues'), 401, 'token_revoked');
      assertError(await client(current.url, u.token)('GET', '/queues'), 401, 'token_revoked');
      assertOk(await client(current.url, (await mintOn(current, 'hana')).token)('GET', '/queues'));
    });

    it('[AU9] bad revocations are 4xx in the error shape; only the operator may revoke', async () => {
      const t = await mintOn(current, 'jo');
      assertError(await revokeOn(current, {}), 400, 'one_revocation');
      assertError(await revokeOn(current, { token: t.token, userId: 'jo' }), 400, 'one_revocation');
      assertError(await revokeOn(current, { token: t.token, tokenId: t.tokenId }), 400, 'one_revocation');
      assertError(await revokeOn(current, { token: 'not-a-token' }), 400, 'unrecognized_token');
      assertError(await revokeOn(current, { userId: 'no spaces allowed' }), 400);
      assertError(await client(current.url, t.token)('POST', '/auth/tokens/revoke', { userId: 'jo' }), 401, 'invalid_admin_key');
      assertOk(await client(current.url, t.token)('GET', '/queues'));
    });
  });
}

describe('token revocation across two instances (Postgres + Redis)', { skip: pgSkipReason || redisSkipReason, timeout: 120_000 }, () => {
  let cluster: Cluster;
  const prefix = `qs-rev-${randomBytes(4).toString('hex')}:`;
  const sockets: TestSocket[] = [];
  const open = async (server: RunningServer, path: string, token: string, query: Record<string, string | number> = {}) => {
    const s = await connect(server.url, path, { token, query });
    sockets.push(s);
    await s.waitFor((m) => m.type === 'hello');
    return s;
  };

  before(async () => {
    cluster = await startCluster('qs-rev', { REDIS_KEY_PREFIX: prefix, AUTH_REVOCATION_POLL_SECONDS: '1' });
  });
  after(async () => {
    for (const s of sockets) await s.close().catch(() => undefined);
    await cluster?.stop();
  });

  it("[AU10] a revocation on one instance closes the user's sockets on both within a second, and both refuse the token at once", async () => {
    const { a, b } = cluster;
    const t = await mintOn(a, 'kim');
    const q = assertOk(await client(a.url, t.token)('POST', '/queues', { name: 'k' }), 201).queue;
    const onA = await open(a, '/ws/sync/me', t.token, { deviceId: 'kim-phone' });
    const onB = await open(b, `/ws/queues/${q.id}`, t.token, { deviceId: 'kim-tv' });
    assertOk(await client(b.url, t.token)('GET', '/queues')); // cached on B
    const t0 = Date.now();
    assertOk(await revokeOn(a, { userId: 'kim' }));
    const codes = await Promise.all([closedWithin(onA, 1000), closedWithin(onB, 1000)]);
    assert.deepEqual(codes, [4401, 4401]);
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
    assertError(await client(b.url, t.token)('GET', '/queues'), 401, 'token_revoked');
    assertError(await client(a.url, t.token)('GET', '/queues'), 401, 'token_revoked');
    assertOk(await client(b.url, (await mintOn(b, 'kim')).token)('GET', '/queues'));
  });

  it('[AU10] the operator CLI revokes too: written to the database and signalled through Redis', async () => {
    const { a, b } = cluster;
    const t = await mintOn(a, 'lee');
    const onB = await open(b, '/ws/sync/me', t.token, { deviceId: 'lee-phone' });
    const res = await runCli(['revoke', 'lee'], {
      DATABASE_URL: cluster.db.url,
      REDIS_URL: `redis://127.0.0.1:${cluster.redisPort}`,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_API_KEY: cluster.adminKey,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await closedWithin(onB, 1000), 4401);
    assertError(await client(a.url, t.token)('GET', '/queues'), 401, 'token_revoked');
  });

  it('[AU10] with Redis down the other instance learns it from the database at its next poll (AUTH_REVOCATION_POLL_SECONDS=1)', async () => {
    const { a, b } = cluster;
    const t = await mintOn(a, 'max');
    const onB = await open(b, '/ws/sync/me', t.token, { deviceId: 'max-phone' });
    assertOk(await client(b.url, t.token)('GET', '/queues'));
    await stopProcess(cluster.redis);
    try {
      assertOk(await revokeOn(a, { token: t.token }));
      assert.equal(await closedWithin(onB, 4000), 4401);
      assertError(await client(b.url, t.token)('GET', '/queues'), 401, 'token_revoked');
    } finally {
      cluster.redis = await startRedis(cluster.redisPort);
    }
  });
});
