// The SDK's token renewal (client/src/context.ts, [AU11]): a JWT is renewed ahead of its
// expiry through getToken, the new one is handed to the listeners (the open sockets), a
// getToken that gives the same token back is not asked again for it, and a long-lived token
// does not set off a renewal at once (timers take at most 24.8 days).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeContext, renewalLeadMs, tokenTimes } from '../../client/src/context.ts';

/** An unsigned JWT with these claims: the client only reads `exp` and `iat`. */
const jwt = (claims: Record<string, unknown>) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const nowS = () => Math.floor(Date.now() / 1000);
import { sleep } from '../helpers/wait.ts';
const fakeWs = class {} as never;

describe('client token renewal', () => {
  it('[AU11] reads exp and iat of a JWT; renews a quarter of its lifetime early, at most a minute, at least a second', () => {
    assert.deepEqual(tokenTimes(jwt({ exp: 100, iat: 40 })), { exp: 100, iat: 40 });
    assert.equal(tokenTimes('not-a-jwt'), null);
    assert.equal(tokenTimes(jwt({ sub: 'x' })), null);
    assert.equal(renewalLeadMs({ exp: 300, iat: 0 }, 0), 60_000);
    assert.equal(renewalLeadMs({ exp: 120, iat: 0 }, 0), 30_000);
    assert.equal(renewalLeadMs({ exp: 2, iat: 0 }, 0), 1000);
  });

  it('[AU11] renews a short-lived token before it expires and hands the new one to the listeners', async () => {
    let asked = 0;
    const ctx = makeContext({
      baseUrl: 'http://x',
      deviceId: 'd',
      WebSocket: fakeWs,
      fetch: (() => undefined) as never,
      token: jwt({ exp: nowS() + 2, iat: nowS(), n: 0 }),
      getToken: () => jwt({ exp: nowS() + 60, iat: nowS(), n: ++asked }),
    });
    const seen: string[] = [];
    ctx.onNewToken((t) => seen.push(t));
    await sleep(1500); // renewed 1 s before the 2 s token expires: by now once, and only once
    assert.equal(asked, 1);
    assert.equal(seen.length, 1);
    assert.equal(await ctx.token(), seen[0]);
    ctx.stop();
  });

  it('[AU11] a token due for renewal is renewed by token() itself; the same token given back is not asked for again until refused', async () => {
    let asked = 0;
    const stale = jwt({ exp: nowS() + 1, iat: nowS() - 100 });
    const ctx = makeContext({
      baseUrl: 'http://x',
      deviceId: 'd',
      WebSocket: fakeWs,
      fetch: (() => undefined) as never,
      token: stale,
      getToken: () => {
        asked++;
        return stale;
      },
    });
    assert.equal(await ctx.token(), stale);
    assert.equal(await ctx.token(), stale);
    assert.equal(asked, 1, 'not asked again for the same token');
    ctx.tokenRejected();
    assert.equal(await ctx.token(), stale);
    assert.equal(asked, 2, 'a refusal asks again');
    ctx.stop();
  });

  it('[AU11] a 30-day token sets off no renewal (a timer of more than 24.8 days would fire at once)', async () => {
    let asked = 0;
    const ctx = makeContext({
      baseUrl: 'http://x',
      deviceId: 'd',
      WebSocket: fakeWs,
      fetch: (() => undefined) as never,
      token: jwt({ exp: nowS() + 30 * 86400, iat: nowS() }),
      getToken: () => jwt({ exp: nowS() + 30 * 86400, iat: nowS(), n: ++asked }),
    });
    await sleep(50); // no renewal is asked for meanwhile
    await ctx.token();
    assert.equal(asked, 0);
    ctx.stop();
  });
});
