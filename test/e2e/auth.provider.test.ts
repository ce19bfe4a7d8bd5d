// Access tokens of the app's own identity provider (issue 23): a real server process that
// trusts a real local provider (test/helpers/idp.ts: an HTTP server with an OIDC discovery
// document and a JWK set of keys generated here). Signatures, claims, the user id mapping,
// key rotation, a provider that is down or erroring, and a flood of unknown keys.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { assertError, assertOk } from '../helpers/http.ts';
import { idpEnv, startIdp, type Idp } from '../helpers/idp.ts';
import { client, mintToken, startServer, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const hashed = (id: string) => `sha256:${createHash('sha256').update(id, 'utf8').digest('hex')}`;
const COOLDOWN_MS = 1000;

for (const { kind, skip } of storeKinds) {
  describe(`identity provider tokens (${kind})`, { skip, timeout: 120_000 }, () => {
    let idp: Idp;
    let server: RunningServer & { cleanup(): Promise<void> };
    const as = (token: string) => client(server.url, token);

    before(async () => {
      idp = await startIdp({ algs: ['RS256', 'ES256', 'EdDSA'] });
      server = await startServerOn(kind, {
        env: idpEnv(idp, { AUTH_JWKS_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000), AUTH_JWKS_REFRESH_SECONDS: '0', AUTH_CLOCK_SKEW_SECONDS: '5' }),
      });
    });
    after(async () => {
      await server?.cleanup();
      await idp?.stop().catch(() => undefined);
    });

    it("[AU1] RS256, ES256 and EdDSA tokens of the provider are accepted, with the user's full rights when they name no scope of ours", async () => {
      const [rs, es, ed] = idp.kids();
      for (const kid of [rs, es, ed]) {
        const me = assertOk(await as(await idp.token({ sub: 'auth0|abc', kid, scope: 'openid profile' }))('GET', '/auth/me'));
        assert.deepEqual(
          { ...me, expiresAt: undefined, tokenId: undefined },
          { userId: 'auth0|abc', scopes: null, source: 'provider', expiresAt: undefined, tokenId: undefined },
          kid,
        );
      }
      const alice = as(await idp.token({ sub: 'auth0|abc', kid: es }));
      const q = assertOk(await alice('POST', '/queues', { name: 'from the provider', tracks: ['t1'] }), 201).queue;
      assert.equal(q.ownerId, 'auth0|abc');
      assertOk(await as(await idp.token({ sub: 'auth0|abc', kid: ed }))('POST', `/queues/${q.id}/tracks`, { tracks: ['t2'] }));
      const list = assertOk(await as(await idp.token({ sub: 'auth0|abc', kid: rs }))('GET', '/queues'));
      assert.deepEqual(
        list.queues.map((x: any) => x.id),
        [q.id],
      );
    });

    it('[AU3] a provider id that fits our user ids is kept; any other is sha256:<hex> of it, one-to-one', async () => {
      const cases: [string, string][] = [
        ['google-oauth2|1234567890', 'google-oauth2|1234567890'],
        ['f81d4fae-7dec-11d0-a765-00a0c91e6bf6', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'],
        ['alice+music@example.com', hashed('alice+music@example.com')],
        ['x'.repeat(200), hashed('x'.repeat(200))],
        // An id that looks like a hashed one is hashed too, so it cannot take another's place.
        [hashed('someone'), hashed(hashed('someone'))],
      ];
      for (const [sub, expected] of cases) {
        assert.equal(assertOk(await as(await idp.token({ sub }))('GET', '/auth/me')).userId, expected, sub);
      }
      // The mapped id is a user id like any other: another user can add it as a collaborator.
      const owner = as(await idp.token({ sub: 'owner-1' }));
      const q = assertOk(await owner('POST', '/queues', { name: 'shared' }), 201).queue;
      assertOk(await owner('POST', `/queues/${q.id}/collaborators`, { userId: hashed('alice+music@example.com'), permissionLevel: 'contributor' }));
      assertOk(await as(await idp.token({ sub: 'alice+music@example.com' }))('POST', `/queues/${q.id}/tracks`, { tracks: ['t'] }));
    });

    it('[AU1] tokens minted with the admin key keep working beside the provider', async () => {
      const minted = await mintToken(server, 'bob');
      const me = assertOk(await as(minted)('GET', '/auth/me'));
      assert.equal(me.userId, 'bob');
      assert.equal(me.source, 'minted');
    });

    it('[AU2] wrong audience or issuer, alg none, HS256 signed with the public key, a bad signature, 401 in the error shape', async () => {
      const now = Math.floor(Date.now() / 1000);
      const pem = await idp.publicPem();
      const hsWithPublicKey = await new SignJWT({ sub: 'mallory' })
        .setProtectedHeader({ alg: 'HS256', kid: idp.kids()[0] })
        .setIssuer(idp.issuer)
        .setAudience(idp.audience)
        .setIssuedAt()
        .setExpirationTime(now + 300)
        .sign(new TextEncoder().encode(pem));
      const none = new UnsecuredJWT({ sub: 'mallory' })
        .setIssuer(idp.issuer)
        .setAudience(idp.audience)
        .setIssuedAt()
        .setExpirationTime(now + 300)
        .encode();
      const good = await idp.token({ sub: 'mallory' });
      const [h, p] = good.split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'admin' })).toString('base64url')}.${good.split('.')[2]}`;
      const madeUpSecret = await new SignJWT({ sub: 'mallory' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(idp.issuer)
        .setAudience(idp.audience)
        .sign(new Uint8Array(32));
      const refused: [string, string, string | undefined][] = [
        ['wrong audience', await idp.token({ sub: 'mallory', aud: 'https://other-api.example.com' }), 'audience'],
        ['wrong issuer', await idp.token({ sub: 'mallory', iss: 'https://evil.example.com' }), undefined],
        ['alg none', none, 'algorithm'],
        ['HS256 with the public key', hsWithPublicKey, 'algorithm'],
        ['changed payload', forged, 'signature'],
        ['HS256 with a made-up secret', madeUpSecret, 'algorithm'],
        ['no exp', await idp.token({ sub: 'mallory', exp: null }), 'exp'],
        ['not a JWT', 'not-a-token', undefined],
      ];
      for (const [what, token, reason] of refused) {
        const res = await as(token)('GET', '/queues');
        assertError(res, 401, 'invalid_token');
        if (reason) assert.equal(res.body.error.details.reason, reason, what);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer', what);
      }
      // The wrong issuer is refused as the provider's token it claims to be, never as a minted one.
      const wrongIss = await as(await idp.token({ sub: 'mallory', iss: 'queue-service' }))('GET', '/queues');
      assertError(wrongIss, 401, 'invalid_token');
    });

    it('[AU2] expiry and not-before are checked with the configured clock skew (5 s)', async () => {
      const now = Math.floor(Date.now() / 1000);
      assertError(await as(await idp.token({ sub: 'carol', iat: now - 600, exp: now - 30 }))('GET', '/queues'), 401, 'token_expired');
      assertError(await as(await idp.token({ sub: 'carol', nbf: now + 60 }))('GET', '/queues'), 401, 'token_not_yet_valid');
      assertOk(await as(await idp.token({ sub: 'carol', iat: now - 600, exp: now - 2 }))('GET', '/queues'));
      assertOk(await as(await idp.token({ sub: 'carol', nbf: now + 2 }))('GET', '/queues'));
    });

    it("[AU6] the provider's scopes (scope or scp) limit the token", async () => {
      const reader = as(await idp.token({ sub: 'dave', scp: ['queue:read'] }));
      assertOk(await reader('GET', '/queues'));
      const refused = await reader('POST', '/queues', { name: 'x' });
      assertError(refused, 403, 'insufficient_scope');
      assert.equal(refused.body.error.details.scope, 'queue:write');
      const writer = as(await idp.token({ sub: 'dave', scope: 'openid queue:write' }));
      assertOk(await writer('POST', '/queues', { name: 'x' }), 201);
      assertError(await writer('PUT', '/users/me/playback-state', { isPlaying: true }), 403, 'insufficient_scope');
    });

    it('[AU4] key rotation: a token with a new kid makes the server fetch the set once, then it is known', async () => {
      await sleep(COOLDOWN_MS + 100); // past the cooldown of any earlier fetch
      const before = idp.jwksHits;
      const kid = await idp.addKey('ES256');
      assertOk(await as(await idp.token({ sub: 'erin', kid }))('GET', '/queues'));
      assert.equal(idp.jwksHits, before + 1);
      for (let i = 0; i < 5; i++) assertOk(await as(await idp.token({ sub: `erin${i}`, kid }))('GET', '/queues'));
      assert.equal(idp.jwksHits, before + 1, 'the new key is cached');
    });

    it('[AU4] a flood of unknown kids causes at most one fetch of the set per cooldown, whether the endpoint answers or fails', async () => {
      for (const mode of ['up', 'error'] as const) {
        idp.setMode(mode);
        await sleep(COOLDOWN_MS + 100); // past the cooldown of any earlier fetch
        const before = idp.jwksHits;
        const t0 = Date.now();
        const statuses: number[] = [];
        for (let round = 0; round < 15; round++) {
          const tokens = await Promise.all(Array.from({ length: 4 }, () => idp.token({ sub: 'mallory', kid: `made-up-${Math.random()}`, alg: 'RS256' })));
          const answers = await Promise.all(tokens.map((t) => as(t)('GET', '/queues')));
          for (const a of answers) {
            assertError(a, 401, 'invalid_token');
            statuses.push(a.status);
          }
          await sleep(60); // the flood is spread over time on purpose (across the cooldown)
        }
        const elapsed = Date.now() - t0;
        const fetched = idp.jwksHits - before;
        assert.ok(fetched >= 1, `${mode}: the first unknown kid after the cooldown is looked up`);
        assert.ok(fetched <= Math.floor(elapsed / COOLDOWN_MS) + 1, `${mode}: ${fetched} fetches in ${elapsed} ms (cooldown ${COOLDOWN_MS} ms)`);
        assert.equal(statuses.length, 60);
        // Known keys keep working meanwhile (also while every fetch fails).
        for (const kid of idp.kids()) assertOk(await as(await idp.token({ sub: 'frank', kid }))('GET', '/queues'), 200);
      }
      idp.setMode('up');
    });

    it('[AU4] while the provider is down the keys it had keep working; unknown ones are 401, never 5xx; back up, a new key is fetched', async () => {
      const known = idp.kids();
      await idp.down();
      try {
        for (const kid of known) assertOk(await as(await idp.token({ sub: 'gina', kid }))('GET', '/queues'));
        await sleep(COOLDOWN_MS + 100); // past the cooldown of any earlier fetch
        const unknown = await as(await idp.token({ sub: 'gina', kid: 'not-there', alg: 'ES256' }))('GET', '/queues');
        assertError(unknown, 401, 'invalid_token');
      } finally {
        await idp.up();
      }
      const kid = await idp.addKey('RS256');
      await sleep(COOLDOWN_MS + 100); // past the cooldown of any earlier fetch
      assertOk(await as(await idp.token({ sub: 'gina', kid }))('GET', '/queues'));
    });
  });
}

describe('identity provider: a JWKS URL, another user claim, scopes required, background refresh', { timeout: 120_000 }, () => {
  let idp: Idp;
  let server: RunningServer;

  before(async () => {
    idp = await startIdp({ algs: ['RS256'] });
    server = await startServer({
      env: {
        AUTH_JWKS_URL: idp.jwksUrl,
        AUTH_AUDIENCE: `other,${idp.audience}`,
        AUTH_USER_CLAIM: 'https://example.com/uid',
        AUTH_REQUIRE_SCOPES: 'true',
        AUTH_JWKS_COOLDOWN_SECONDS: '1',
        AUTH_JWKS_REFRESH_SECONDS: '1',
      },
    });
  });
  after(async () => {
    await server?.stop();
    await idp?.stop().catch(() => undefined);
  });

  it('[AU3] the user id comes from AUTH_USER_CLAIM; a token without it is 401', async () => {
    const token = await idp.token({ sub: 'ignored', iss: 'https://any-issuer.example.com', extra: { 'https://example.com/uid': 'u-42' }, scope: 'queue:read' });
    const me = assertOk(await client(server.url, token)('GET', '/auth/me'));
    assert.equal(me.userId, 'u-42');
    const res = await client(server.url, await idp.token({ sub: 'someone', scope: 'queue:read' }))('GET', '/auth/me');
    assertError(res, 401, 'invalid_token');
    assert.equal(res.body.error.details.reason, 'user_claim');
  });

  it('[AU6] with AUTH_REQUIRE_SCOPES a token that names none of our scopes may do nothing', async () => {
    const token = await idp.token({ extra: { 'https://example.com/uid': 'u-43' }, scope: 'openid profile' });
    assert.deepEqual(assertOk(await client(server.url, token)('GET', '/auth/me')).scopes, []);
    const res = await client(server.url, token)('GET', '/queues');
    assertError(res, 403, 'insufficient_scope');
  });

  it('[AU4] failed background refreshes keep the known keys', async () => {
    await idp.down();
    try {
      await sleep(2500); // two or three refreshes fail meanwhile
      const token = await idp.token({ extra: { 'https://example.com/uid': 'u-44' }, scope: 'queue:read' });
      assertOk(await client(server.url, token)('GET', '/queues'));
    } finally {
      await idp.up();
    }
    // Back up, the refresh picks up a key that was added without any token asking for it.
    const kid = await idp.addKey('RS256');
    const before = idp.jwksHits;
    await waitFor(() => idp.jwksHits !== before, { timeoutMs: 4000, intervalMs: 100, what: 'a background refresh of the key set' });
    await idp.down();
    try {
      assertOk(await client(server.url, await idp.token({ kid, extra: { 'https://example.com/uid': 'u-45' }, scope: 'queue:read' }))('GET', '/queues'));
    } finally {
      await idp.up();
    }
  });
});

describe('identity provider: a discovery document that names another issuer', { timeout: 60_000 }, () => {
  let idp: Idp;
  let server: RunningServer;

  before(async () => {
    idp = await startIdp({ discoveryIssuer: 'https://impostor.example.com' });
    server = await startServer({ env: idpEnv(idp, { AUTH_JWKS_COOLDOWN_SECONDS: '1' }) });
  });
  after(async () => {
    await server?.stop();
    await idp?.stop();
  });

  it('[AU1] provider tokens are refused 401 (the keys are never taken from it); minted tokens work; the server serves', async () => {
    const res = await client(server.url, await idp.token({ sub: 'x' }))('GET', '/queues');
    assertError(res, 401, 'invalid_token');
    assert.equal(res.body.error.details.reason, 'keys_unavailable');
    assert.equal(idp.jwksHits, 0);
    assertOk(await client(server.url, await mintToken(server, 'y'))('GET', '/queues'));
    assert.match(server.output(), /names the issuer https:\/\/impostor\.example\.com/);
  });
});
