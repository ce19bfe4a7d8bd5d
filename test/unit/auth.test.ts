// The pure parts of issue 23's auth: scopes and what they imply, the scope of each socket
// op and route, the provider user id mapping, and the AUTH_* configuration's refusals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ROUTE_SCOPES, routeScope } from '../../src/auth/route-scopes.ts';
import { allows, grant, OP_SCOPES, opScope, requireScope, scopeNames, SCOPES } from '../../src/auth/scopes.ts';
import { providerUserId, userIdRe } from '../../src/auth/user-ids.ts';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { queueOps } from '../../src/queues/ops.ts';

describe('scopes', () => {
  it('[AU5] reads `scope` (space-separated) and `scp` (array or string); ignores scopes that are not ours', () => {
    assert.deepEqual(scopeNames({ scope: 'openid queue:read  profile' }), ['openid', 'queue:read', 'profile']);
    assert.deepEqual(scopeNames({ scp: ['queue:write', 7, 'party:host'] }), ['queue:write', 'party:host']);
    assert.deepEqual(scopeNames({ scp: 'playback:write admin' }), ['playback:write', 'admin']);
    assert.equal(grant(['openid', 'profile']), null, "none of ours: the user's full rights");
    assert.deepEqual([...grant(['openid', 'queue:write'])!].sort(), ['queue:read', 'queue:write'], 'a writer reads');
    assert.deepEqual([...grant(['party:host'])!].sort(), ['party:host', 'party:join'], 'a host is a member');
    assert.deepEqual([...grant(['queue:read'])!], ['queue:read'], 'a reader does not write');
  });

  it('[AU6] a token without scopes may do anything a user may; a scoped one only what it names (403 insufficient_scope naming it)', () => {
    assert.equal(allows(null, 'queue:write'), true);
    assert.equal(allows(grant(['queue:read']), 'queue:write'), false);
    assert.equal(allows(grant(['queue:read']), []), true, 'a route that needs no scope');
    assert.equal(allows(grant(['playback:write']), ['queue:read', 'playback:write']), true, 'any one of a list');
    assert.throws(
      () => requireScope(grant(['queue:read']), 'playback:write'),
      (e: unknown) => {
        assert.ok(e instanceof AppError);
        assert.equal(e.kind, 'forbidden');
        assert.equal(e.code, 'insufficient_scope');
        assert.equal(e.details.scope, 'playback:write');
        assert.deepEqual(e.details.granted, ['queue:read']);
        assert.match(e.message, /playback:write/);
        return true;
      },
    );
  });

  it('[AU7] every socket and offline op has a scope: edits of a queue need queue:write, what plays playback:write', () => {
    for (const op of [...Object.keys(queueOps), 'set_playback']) assert.ok(Object.hasOwn(OP_SCOPES, op), `${op} has no scope`);
    for (const op of ['next', 'previous', 'set_current', 'set_shuffle', 'set_repeat', 'set_playback']) assert.equal(opScope(op), 'playback:write', op);
    for (const op of ['add_tracks', 'move_item', 'remove_items', 'clear', 'delete_queue', 'add_collaborator', 'vote_item'])
      assert.equal(opScope(op), 'queue:write', op);
    assert.equal(opScope('no_such_op'), 'queue:write');
  });

  it('[AU6] the route table names only our scopes; a route missing from it needs queue:read to read and queue:write otherwise', () => {
    for (const [route, needed] of Object.entries(ROUTE_SCOPES)) {
      for (const s of typeof needed === 'string' ? [needed] : needed) assert.ok((SCOPES as readonly string[]).includes(s), `${route}: ${s}`);
    }
    assert.equal(routeScope('GET', '/queues/:queueId', undefined), 'queue:read');
    assert.equal(routeScope('POST', '/queues/:queueId/next', undefined), 'playback:write');
    assert.equal(routeScope('GET', '/queues/:queueId/extend', undefined), 'queue:write', 'a GET that writes');
    assert.equal(routeScope('GET', '/some/new/route', undefined), 'queue:read');
    assert.equal(routeScope('DELETE', '/some/new/route', undefined), 'queue:write');
    assert.equal(routeScope('DELETE', '/some/new/route', 'party:host'), 'party:host', 'a route config wins');
  });
});

describe('provider user ids', () => {
  const hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

  it('[AU3] ids that fit the rule are kept (Auth0, UUIDs, Firebase); others are sha256:<hex>, one-to-one', () => {
    for (const id of ['auth0|5f7c8ec7c33c6c004bbafe82', 'google-oauth2|104', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6', 'Xk2pQ9aLzR1bT7yC3vN8mW0dE4s2']) {
      assert.equal(providerUserId(id), id);
    }
    assert.equal(providerUserId('alice+x@example.com'), `sha256:${hex('alice+x@example.com')}`);
    assert.equal(providerUserId('a'.repeat(129)), `sha256:${hex('a'.repeat(129))}`);
    assert.equal(providerUserId('a'.repeat(128)), 'a'.repeat(128));
    assert.equal(providerUserId('ünïcode'), `sha256:${hex('ünïcode')}`);
    const lookalike = `sha256:${hex('bob')}`;
    assert.equal(providerUserId(lookalike), `sha256:${hex(lookalike)}`, 'a raw id never equals a hashed one');
    assert.equal(providerUserId(12345), '12345');
    for (const none of ['', null, undefined, {}, 1.5]) assert.equal(providerUserId(none), null);
    for (const id of ['x|y', providerUserId('a+b')!]) assert.ok(userIdRe.test(id), id);
  });
});

describe('AUTH_* configuration', () => {
  const base = { AUTH_ISSUER: 'https://tenant.eu.auth0.com/', AUTH_AUDIENCE: 'https://queue.example.com' };

  it('[AU1] reads the provider settings with their defaults', () => {
    const p = loadConfig(base).auth.provider!;
    assert.equal(p.issuer, 'https://tenant.eu.auth0.com/', 'kept exactly (iss is compared as a string)');
    assert.deepEqual(p.audience, ['https://queue.example.com']);
    assert.equal(p.userClaim, 'sub');
    assert.deepEqual(p.algorithms, ['RS256', 'ES256', 'EdDSA']);
    assert.equal(p.clockSkewSeconds, 30);
    assert.equal(p.cooldownMs, 30_000);
    assert.equal(p.requireScopes, false);
    assert.equal(loadConfig({}).auth.provider, null);
  });

  it('[AU2] refuses what would weaken the checks: no audience, HS* or none, our own issuer, stray settings', () => {
    assert.throws(() => loadConfig({ AUTH_ISSUER: base.AUTH_ISSUER }), /AUTH_AUDIENCE is required/);
    assert.throws(() => loadConfig({ ...base, AUTH_ALGORITHMS: 'RS256,HS256' }), /HS256.*never none or HS/);
    assert.throws(() => loadConfig({ ...base, AUTH_ALGORITHMS: 'none' }), /"none" is not accepted/);
    // Minted tokens' issuer, "queue-service", is no URL: a provider can never be taken for it.
    assert.throws(() => loadConfig({ ...base, AUTH_ISSUER: 'queue-service' }), /absolute http/);
    assert.throws(() => loadConfig({ AUTH_AUDIENCE: 'x' }), /neither AUTH_ISSUER nor AUTH_JWKS_URL/);
    assert.throws(() => loadConfig({ ...base, AUTH_REQUIRE_SCOPES: 'maybe' }), /true or false/);
    assert.throws(() => loadConfig({ AUTH_JWKS_URL: 'ftp://x/jwks', AUTH_AUDIENCE: 'a' }), /http\(s\) URL/);
  });
});
