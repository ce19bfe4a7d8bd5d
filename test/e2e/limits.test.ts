// Rate limits, socket caps, CORS and security headers (issue 16) on real server
// processes with small limits; the Redis case runs two instances that share a redis-server
// of the test's own.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { freePort, redisSkipReason, startRedis, stopProcess } from '../helpers/redis.ts';
import { client, mintToken, startServer, startServerOn, type RunningServer } from '../helpers/server.ts';

const PLAYER = 'https://player.example';

/** Tries a WebSocket upgrade: the socket once open, or the refusal's status and JSON body. */
function upgrade(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + path, { headers });
    ws.once('open', () => resolve({ status: 101, body: null, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    ws.once('error', (err) => reject(err));
  });
}

function assertErrorShape(body: any, code: string): void {
  assert.equal(typeof body?.error?.message, 'string', JSON.stringify(body));
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.details, 'object');
}

describe('per-user and per-IP rate limits, socket cap, CORS, security headers (one instance)', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let aliceToken: string;
  let bobToken: string;
  let carolToken: string;
  let daveToken: string;

  before(async () => {
    server = await startServerOn('sqlite', {
      env: { RATE_LIMIT_PER_MINUTE: '8', RATE_LIMIT_IP_PER_MINUTE: '6', WS_MAX_SOCKETS_PER_USER: '2', CORS_ORIGINS: `${PLAYER},http://localhost:5173` },
    });
    // The IP limit counts token minting: four of the six are used here.
    aliceToken = await mintToken(server, 'alice');
    bobToken = await mintToken(server, 'bob');
    carolToken = await mintToken(server, 'carol');
    daveToken = await mintToken(server, 'dave');
  });
  after(async () => {
    await server?.cleanup();
  });

  it('the n+1th request of a user in the window is 429 with Retry-After and RateLimit-*, another user is served', async () => {
    const alice = client(server.url, aliceToken);
    const remaining: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await alice('GET', '/queues');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('ratelimit-limit'), '8');
      remaining.push(r.headers.get('ratelimit-remaining')!);
    }
    assert.deepEqual(remaining, ['7', '6', '5', '4', '3', '2', '1', '0']);
    const refused = await alice('POST', '/queues', { name: 'one too many' });
    assert.equal(refused.status, 429);
    assertErrorShape(refused.body, 'rate_limited');
    assert.equal(refused.body.error.details.limit, 8);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.ok(Number(refused.headers.get('ratelimit-reset')) >= 1);
    // Security headers are on refusals too.
    assert.equal(refused.headers.get('x-content-type-options'), 'nosniff');
    // Nothing was created by the refused request, and bob is not limited by alice's excess.
    const bob = client(server.url, bobToken);
    const served = await bob('GET', '/queues');
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('ratelimit-remaining'), '7');
    assert.equal((await bob('POST', '/queues', { name: 'bob' })).status, 201);
  });

  it('token minting is limited per client IP, before the admin key is checked', async () => {
    // Four mints in before(); two more are allowed, then even a wrong key gets a 429, not a 401.
    assert.equal((await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId: 'carol' })).status, 200);
    assert.equal((await client(server.url, 'not-the-key')('POST', '/auth/tokens', { userId: 'carol' })).status, 401);
    const refused = await client(server.url, 'not-the-key')('POST', '/auth/tokens', { userId: 'carol' });
    assert.equal(refused.status, 429);
    assertErrorShape(refused.body, 'rate_limited');
    assert.equal(refused.body.error.details.scope, 'ip');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const admin = await client(server.url, server.adminKey)('POST', '/auth/tokens', { userId: 'carol' });
    assert.equal(admin.status, 429, 'the right key is limited too');
    // /media/verify shares the per-IP budget.
    assert.equal((await client(server.url, server.adminKey)('GET', `/media/verify?url=${encodeURIComponent('http://x/y')}`)).status, 429);
  });

  it('a user past WS_MAX_SOCKETS_PER_USER open sockets gets 429 on the upgrade; closing one frees a place', async () => {
    const path = (token: string) => `/ws/sync/me?token=${encodeURIComponent(token)}`;
    const first = await upgrade(server.url, path(carolToken));
    const second = await upgrade(server.url, path(carolToken));
    assert.equal(first.status, 101);
    assert.equal(second.status, 101);
    const third = await upgrade(server.url, path(carolToken));
    assert.equal(third.status, 429);
    assertErrorShape(third.body, 'too_many_sockets');
    // Another user has places of their own. (Each attempt counts against the user's request limit: carol makes at most 8.)
    const other = await upgrade(server.url, path(daveToken));
    assert.equal(other.status, 101);
    other.ws!.close();
    const closed = new Promise((r) => first.ws!.once('close', r));
    first.ws!.close();
    await closed;
    let again = await upgrade(server.url, path(carolToken));
    for (let i = 0; again.status === 429 && i < 4; i++) {
      await new Promise((r) => setTimeout(r, 200)); // the server sees the TCP close a moment later
      again = await upgrade(server.url, path(carolToken));
    }
    assert.equal(again.status, 101);
    again.ws!.close();
    second.ws!.close();
  });

  it('CORS: a preflight from an allowed origin lists our methods and headers; a refused origin gets 403', async () => {
    const ok = await fetch(`${server.url}/queues/q1/tracks`, {
      method: 'OPTIONS',
      headers: {
        origin: PLAYER,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, idempotency-key, if-match, prefer, x-device-id, content-type',
      },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), PLAYER);
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    const allowed = (ok.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const h of ['authorization', 'idempotency-key', 'if-match', 'prefer', 'x-device-id']) assert.ok(allowed.includes(h), `${h} not allowed: ${allowed}`);
    const methods = (ok.headers.get('access-control-allow-methods') ?? '').split(/,\s*/);
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) assert.ok(methods.includes(m), `${m} not allowed: ${methods}`);

    const refused = await fetch(`${server.url}/queues`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    assertErrorShape(await refused.json(), 'origin_not_allowed');

    // An OPTIONS request that is no preflight (no Origin, or no Access-Control-Request-Method): 400 in our shape.
    for (const headers of [{}, { origin: PLAYER }, { 'access-control-request-method': 'POST' }] as Record<string, string>[]) {
      const bare = await fetch(`${server.url}/queues`, { method: 'OPTIONS', headers });
      assert.equal(bare.status, 400, JSON.stringify(headers));
      const body = (await bare.json()) as any;
      assertErrorShape(body, 'invalid_preflight');
      assert.ok(body.error.details.missing.length >= 1);
    }

    // The answer itself: a script on the allowed origin may read ETag, Retry-After, RateLimit-*, idempotent-replayed.
    const bob = await fetch(`${server.url}/healthz`, { headers: { origin: PLAYER } });
    assert.equal(bob.headers.get('access-control-allow-origin'), PLAYER);
    const exposed = (bob.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const h of ['etag', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'idempotent-replayed'])
      assert.ok(exposed.includes(h), `${h} not exposed: ${exposed}`);
    const stranger = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
  });

  it('a socket upgrade from an origin that is not allowed is refused 403; allowed, own and absent origins connect', async () => {
    const path = `/ws/sync/me?token=${encodeURIComponent(bobToken)}`;
    const refused = await upgrade(server.url, path, { origin: 'https://evil.example' });
    assert.equal(refused.status, 403);
    assertErrorShape(refused.body, 'origin_not_allowed');
    const listed = await upgrade(server.url, path, { origin: PLAYER });
    assert.equal(listed.status, 101);
    const own = await upgrade(server.url, path, { origin: server.url });
    assert.equal(own.status, 101);
    listed.ws!.close();
    own.ws!.close();
  });

  it('security headers on every answer; the JSON API allows no content, /docs its own', async () => {
    for (const path of ['/healthz', '/openapi.json', '/no-such-route']) {
      const r = await fetch(server.url + path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'/, path);
    }
    const docs = await fetch(`${server.url}/docs/`);
    const csp = docs.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or remote scripts');
  });
});

describe('a server without CORS_ORIGINS refuses cross-origin browsers; a party limit', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  before(async () => {
    server = await startServerOn('sqlite', { env: { PARTY_MAX_MEMBERS: '2' } });
  });
  after(async () => {
    await server?.cleanup();
  });

  it('preflight 403, no allow-origin header, socket upgrade with an Origin 403', async () => {
    const pre = await fetch(`${server.url}/queues`, { method: 'OPTIONS', headers: { origin: PLAYER, 'access-control-request-method': 'GET' } });
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    // CORS is not registered at all: answers carry no CORS headers.
    const plainAnswer = await fetch(`${server.url}/healthz`, { headers: { origin: PLAYER } });
    assert.equal(plainAnswer.headers.get('access-control-allow-origin'), null);
    assert.equal(plainAnswer.headers.get('access-control-expose-headers'), null);
    assert.equal((await fetch(`${server.url}/queues`, { method: 'OPTIONS' })).status, 400);
    const token = await mintToken(server, 'dave');
    const refused = await upgrade(server.url, `/ws/sync/me?token=${encodeURIComponent(token)}`, { origin: PLAYER });
    assert.equal(refused.status, 403);
    const plain = await upgrade(server.url, `/ws/sync/me?token=${encodeURIComponent(token)}`);
    assert.equal(plain.status, 101, 'non-browser clients send no Origin');
    plain.ws!.close();
  });

  it('PARTY_MAX_MEMBERS bounds a party (host included): the next join is 422 party_full', async () => {
    const [host, m1, m2] = await Promise.all(['ph', 'pm1', 'pm2'].map(async (u) => client(server.url, await mintToken(server, u))));
    const q = await host('POST', '/queues', { name: 'p', tracks: ['t1'] });
    const party = await host('POST', '/parties', { queueId: q.body.queue.id });
    assert.equal(party.status, 201, JSON.stringify(party.body));
    const join = (c: typeof host) => c('POST', `/parties/${party.body.id}/join`, { inviteCode: party.body.inviteCode });
    assert.equal((await join(m1)).status, 200);
    const full = await join(m2);
    assert.equal(full.status, 422, JSON.stringify(full.body));
    assert.equal(full.body.error.code, 'party_full');
    assert.equal(full.body.error.details.maxMembers, 2);
  });
});

describe('limits shared by two instances through Redis', { skip: redisSkipReason }, () => {
  let redis: ChildProcess;
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const adminKey = randomBytes(16).toString('hex');
    const env = {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: `qs-limits-${randomBytes(4).toString('hex')}:`,
      RATE_LIMIT_PER_MINUTE: '4',
      RATE_LIMIT_IP_PER_MINUTE: '3',
    };
    // Each on its own SQLite file: tokens are signed with the shared admin key, the counters live in Redis.
    a = await startServer({ adminKey, env });
    b = await startServer({ adminKey, env });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    if (redis) await stopProcess(redis);
  });

  it('a user limited on one instance is limited on the other; the IP limit is shared too', async () => {
    const erin = await mintToken(a, 'erin'); // IP: 1 of 3
    const frank = await mintToken(b, 'frank'); // IP: 2 of 3
    const onA = client(a.url, erin);
    const onB = client(b.url, erin);
    assert.equal((await onA('GET', '/queues')).status, 200);
    assert.equal((await onB('GET', '/queues')).status, 200);
    assert.equal((await onA('GET', '/queues')).status, 200);
    const fourth = await onB('GET', '/queues');
    assert.equal(fourth.status, 200);
    assert.equal(fourth.headers.get('ratelimit-remaining'), '0', 'B saw the three requests A served');
    const fifth = await onA('GET', '/queues');
    assert.equal(fifth.status, 429);
    assertErrorShape(fifth.body, 'rate_limited');
    assert.equal((await onB('GET', '/queues')).status, 429);
    assert.equal((await client(b.url, frank)('GET', '/queues')).status, 200, 'frank is not limited by erin');

    assert.equal((await client(a.url, a.adminKey)('POST', '/auth/tokens', { userId: 'gina' })).status, 200); // IP: 3 of 3
    const minted = await client(b.url, b.adminKey)('POST', '/auth/tokens', { userId: 'gina' });
    assert.equal(minted.status, 429);
    assertErrorShape(minted.body, 'rate_limited');
  });
});
