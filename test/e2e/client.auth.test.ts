// The SDK with an identity provider's short-lived tokens (issue 23): getToken is asked ahead
// of each expiry and the open socket takes the new token in place ([AU11]), so the socket is
// never closed for an expired token; and with a getToken that only renews once the old
// token has expired (a provider SDK's cache), the socket closes 4401 and the client comes
// back with a fresh one. Either way the mirror follows the queue and every edit lands once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueueClient, type QueueMirror } from '@queue-service/client';
import { mirrorView, serverView, sleep, until } from '../helpers/client.ts';
import { idpEnv, startIdp, type Idp } from '../helpers/idp.ts';
import { client, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';

const LIFETIME_S = 2;

for (const { kind, skip } of storeKinds) {
  describe(`client SDK with short-lived provider tokens (${kind})`, { skip, timeout: 120_000 }, () => {
    let idp: Idp;
    let server: RunningServer & { cleanup(): Promise<void> };
    const clients: QueueClient[] = [];

    before(async () => {
      idp = await startIdp();
      // No clock skew, and a heartbeat that closes an expired socket within 300 ms of its expiry.
      server = await startServerOn(kind, { env: idpEnv(idp, { AUTH_CLOCK_SKEW_SECONDS: '0', WS_HEARTBEAT_MS: '300' }) });
    });
    after(async () => {
      for (const c of clients) await c.close();
      await server?.cleanup();
      await idp?.stop();
    });

    /** Edits a mirror every `everyMs` for `forMs`, and another device by REST meanwhile; answers the tracks each added. */
    async function editFor(q: QueueMirror, rest: ReturnType<typeof client>, prefix: string, forMs: number, everyMs: number) {
      const mine: string[] = [];
      const theirs: string[] = [];
      const pending: Promise<unknown>[] = [];
      const end = Date.now() + forMs;
      for (let i = 0; Date.now() < end; i++) {
        const t = `${prefix}-${i}`;
        mine.push(t);
        pending.push(q.addTracks([t]));
        if (i % 4 === 0) {
          const other = `${prefix}-rest-${i}`;
          theirs.push(other);
          pending.push(rest('POST', `/queues/${q.id}/tracks`, { tracks: [other] }).then((r) => assert.equal(r.status, 200, JSON.stringify(r.body))));
        }
        await sleep(everyMs); // edits paced over the token's lifetimes, on purpose
      }
      await Promise.all(pending);
      return [...mine, ...theirs];
    }

    it('[AU11] renewed ahead of expiry and handed to the open socket: no 4401, the mirror follows, every edit lands once', async () => {
      let asked = 0;
      const getToken = async () => {
        asked++;
        return idp.token({ sub: 'auth0|renew', expiresIn: LIFETIME_S });
      };
      const rest = client(server.url, await idp.token({ sub: 'auth0|renew', expiresIn: 120 }));
      const created = (await rest('POST', '/queues', { name: 'renew', tracks: ['seed'] })).body.queue;
      const statuses: string[] = [];
      const c = new QueueClient({ baseUrl: server.url, getToken, deviceId: 'renew-phone', heartbeatMs: 300, reconnect: { baseMs: 50, maxMs: 300 } });
      clients.push(c);
      c.on('status', (s) => statuses.push(s));
      const q = await c.openQueue(created.id);
      const added = await editFor(q, rest, 'r', 2.5 * LIFETIME_S * 1000, 150);
      const final = await serverView(rest, created.id);
      await until(
        () => q.state.version === final.version,
        () => `mirror at ${q.state.version}, server at ${final.version}`,
      );
      assert.deepEqual(mirrorView(q), final);
      const tracks = final.items.map((i) => i.trackId);
      assert.deepEqual([...tracks].sort(), ['seed', ...added].sort(), 'each edit once');
      assert.ok(asked >= 3, `getToken asked ${asked} times over 2.5 lifetimes`);
      assert.deepEqual(
        statuses.filter((s) => s !== 'online'),
        [],
        `the socket stayed up: ${statuses.join(' ')}`,
      );
    });

    it('[AU11] a getToken that renews only once the old token expired: closed 4401, back with the fresh token; mirror and outbox survive', async () => {
      let cached = '';
      let issued = 0;
      // As a provider SDK's cache would: the same token until it has expired.
      const getToken = async () => {
        const exp = cached ? JSON.parse(Buffer.from(cached.split('.')[1]!, 'base64url').toString()).exp : 0;
        if (exp * 1000 <= Date.now()) {
          cached = await idp.token({ sub: 'auth0|lazy', expiresIn: LIFETIME_S });
          issued++;
        }
        return cached;
      };
      const rest = client(server.url, await idp.token({ sub: 'auth0|lazy', expiresIn: 120 }));
      const created = (await rest('POST', '/queues', { name: 'lazy', tracks: ['seed'] })).body.queue;
      const statuses: string[] = [];
      const c = new QueueClient({ baseUrl: server.url, getToken, deviceId: 'lazy-phone', heartbeatMs: 300, reconnect: { baseMs: 50, maxMs: 300 } });
      clients.push(c);
      c.on('status', (s) => statuses.push(s));
      const q = await c.openQueue(created.id);
      const added = await editFor(q, rest, 'l', 2 * LIFETIME_S * 1000, 150);
      const final = await serverView(rest, created.id);
      await until(
        () => q.state.version === final.version && c.status === 'online',
        () => `mirror at ${q.state.version}, server at ${final.version}, ${c.status}`,
      );
      assert.deepEqual(mirrorView(q), final);
      assert.deepEqual(final.items.map((i) => i.trackId).sort(), ['seed', ...added].sort(), 'each edit once');
      assert.ok(issued >= 2, `${issued} tokens issued`);
      assert.ok(statuses.includes('offline'), `the expired socket was closed and reopened: ${statuses.join(' ')}`);
      assert.equal(c.outbox.entries.length, 0, 'the outbox is empty: every edit was sent');
    });
  });
}
