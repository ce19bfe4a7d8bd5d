// Regression tests for what the fuzzer of issue 11 found, on each store: router errors
// in our shape, 426 on plain GETs of socket routes, NUL / lone surrogates in paths and
// query strings, numbers past their column, and presence after sockets that close at once.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

/** A request with the path sent byte for byte (fetch would normalise some escapes). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const u = new URL(base);
  return new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: any = text;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode!, headers: res.headers, body: json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function assertShape(r: { status: number; body: any }, status: number, code?: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body?.error?.code, 'string', `not our error shape: ${JSON.stringify(r.body)}`);
  assert.equal(typeof r.body.error.message, 'string');
  assert.equal(typeof r.body.error.details, 'object');
  if (code) assert.equal(r.body.error.code, code);
}

for (const { kind, skip } of storeKinds) {
  describe(`hardening on ${kind}`, { skip, timeout: 60_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    let alice: string;
    let bob: string;
    let queueId: string;
    const auth = () => ({ authorization: `Bearer ${alice}` });

    before(async () => {
      server = await startServerOn(kind);
      alice = await mintToken(server, 'alice');
      bob = await mintToken(server, 'bob');
      const q = await client(server.url, alice)('POST', '/queues', { name: 'h', tracks: ['a', 'b'] });
      assert.equal(q.status, 201);
      queueId = q.body.queue.id;
    });
    after(async () => server.cleanup());

    it('a path that is not valid percent-encoded UTF-8 is 400 bad_url in our shape', async () => {
      for (const p of ['/queues/%', '/queues/%ZZ', '/queues/%C0%AE', '/queues/%ED%A0%80', '/queues/%FF', '/catalog/tracks/%E2%82']) {
        assertShape(await raw(server.url, 'GET', p, auth()), 400, 'bad_url');
      }
    });

    it('a path parameter over 512 characters is 414 in our shape; 512 is routed', async () => {
      assertShape(await raw(server.url, 'GET', `/catalog/tracks/${'x'.repeat(513)}`, auth()), 414, 'path_parameter_too_long');
      const ok = await raw(server.url, 'GET', `/catalog/tracks/${'x'.repeat(512)}`, auth());
      assert.notEqual(ok.status, 414);
      assert.ok(ok.status < 500, JSON.stringify(ok.body));
    });

    it('headers too large: 431 in our shape with Connection: close, and the server answers the next connection', async () => {
      const u = new URL(server.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const s = netConnect(Number(u.port), u.hostname, () => {
          s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
        });
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('close', () => resolve(got)); // the server closes it
        s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
      });
      assert.match(answer, /^HTTP\/1\.1 431 /);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      assert.equal(body.error.code, 'headers_too_large');
      assert.equal((await raw(server.url, 'GET', '/healthz')).status, 200);
    });

    it('a plain GET on a socket route is 426 in our shape, after the same checks as an upgrade', async () => {
      const api = client(server.url, alice);
      const partyQueue = await api('POST', '/queues', { name: 'party presence', tracks: ['a'] });
      const party = await api('POST', '/parties', { queueId: partyQueue.body.queue.id });
      assert.equal(party.status, 201, JSON.stringify(party.body));
      assert.equal(party.status, 201, JSON.stringify(party.body));
      for (const p of ['/ws/sync/alice', '/ws/sync/me', `/ws/queues/${queueId}`, `/ws/party/${party.body.id}`]) {
        const r = await raw(server.url, 'GET', p, auth());
        assertShape(r, 426, 'upgrade_required');
        assert.equal(r.headers.upgrade, 'websocket');
        assertShape(await raw(server.url, 'GET', p), 401, 'missing_token');
      }
      const asBob = { authorization: `Bearer ${bob}` };
      assertShape(await raw(server.url, 'GET', '/ws/sync/alice', asBob), 403);
      assertShape(await raw(server.url, 'GET', `/ws/queues/${queueId}`, asBob), 404);
      assertShape(await raw(server.url, 'GET', `/ws/party/${party.body.id}`, asBob), 403);
      assertShape(await raw(server.url, 'GET', '/ws/sync/alice?since=-1', auth()), 400);
    });

    it('NUL and lone surrogates in path and query parameters are 400 invalid_string', async () => {
      for (const p of [
        '/catalog/tracks/a%00b',
        '/queues/a%00b',
        `/queues/${queueId}/items/x%00`,
        '/users/alice%00/devices',
        '/catalog/search?q=a%00b',
        `/queues/${queueId}/events?since=0&x=%00`,
        `/queues/${queueId}/extend?count=1%00`,
        '/ws/sync/me?deviceId=d%00',
      ]) {
        assertShape(await raw(server.url, 'GET', p, auth()), 400, 'invalid_string');
      }
      // A surrogate half on its own cannot be percent-encoded as UTF-8 (bad_url above);
      // %uD800-style escapes are not decoded, so they stay plain text.
      const r = await raw(server.url, 'GET', '/catalog/search?q=%uD800', auth());
      assert.ok(r.status < 500, JSON.stringify(r.body));
      // Nothing was stored under a name with a NUL.
      const list = await client(server.url, alice)('GET', '/queues');
      assert.ok(
        list.body.queues.every((q: any) => !q.name.includes('\u0000')),
        JSON.stringify(list.body.queues.map((q: any) => q.name)),
      );
    });

    it('numbers past their column or past 2^53 are 400, and nothing is stored', async () => {
      const admin = client(server.url, server.adminKey);
      const over = await admin('POST', '/catalog/playlists', { playlists: [{ id: 'p-over', name: 'x', followers: 2147483648, tracks: [] }] });
      assertShape(over, 400, 'validation_failed');
      const max = await admin('POST', '/catalog/playlists', { playlists: [{ id: 'p-max', name: 'x', followers: 2147483647, tracks: [] }] });
      assert.ok(max.status < 300, JSON.stringify(max.body));
      for (const text of ['1e400', '-1e400', '9007199254740993', '1e300']) {
        const r = await raw(
          server.url,
          'POST',
          '/catalog/playlists',
          { authorization: `Bearer ${server.adminKey}` },
          `{"playlists":[{"id":"p-big","name":"x","followers":${text},"tracks":[]}]}`,
        );
        assertShape(r, 400, 'number_out_of_range');
      }
      const api = client(server.url, alice);
      const before = await api('GET', `/queues/${queueId}`);
      for (const body of [`{"tracks":["t"],"position":2147483648}`, `{"tracks":["t"],"position":1e400}`, `{"tracks":["t"],"expectedVersion":2147483648}`]) {
        const r = await raw(server.url, 'POST', `/queues/${queueId}/tracks`, auth(), body);
        assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.body)}`);
      }
      for (const q of ['limit=1e400', 'since=9007199254740993', 'since=2147483648', 'limit=Infinity']) {
        assertShape(await raw(server.url, 'GET', `/queues/${queueId}/events?${q}`, auth()), 400);
      }
      assertShape(await raw(server.url, 'GET', '/users/me/sync-events?since=9007199254740993', auth()), 400);
      // In an offline batch too: the whole batch is refused, as for a NUL (docs/OFFLINE.md).
      const batch = `{"changes":[{"clientId":"c1","mutationId":1152921504606846976,"resourceType":"queue","resourceId":"${queueId}","op":"next","args":{},"clientTimestamp":1}]}`;
      assertShape(await raw(server.url, 'POST', '/sync/offline', auth(), batch), 400, 'number_out_of_range');
      const put = await raw(server.url, 'PUT', '/users/me/playback-state', auth(), `{"position":1e400,"isPlaying":false,"deviceId":"d","timestamp":1}`);
      assertShape(put, 400, 'number_out_of_range');
      const afterQ = await api('GET', `/queues/${queueId}`);
      assert.equal(afterQ.body.version, before.body.version, 'a refused write changed the queue');
    });

    it('a socket message past the size limit closes the socket 1009, also while the client goes on sending (issue 20)', async () => {
      const base = server.url.replace(/^http/, 'ws');
      const party = await client(server.url, alice)('POST', '/parties', { queueId });
      assert.equal(party.status, 201, JSON.stringify(party.body));
      const codes: number[] = [];
      for (const path of [`/ws/queues/${queueId}`, '/ws/sync/me', `/ws/party/${party.body.id}`]) {
        for (const twice of [false, true]) {
          const ws = new WebSocket(`${base}${path}`, { headers: auth() });
          await new Promise((resolve, reject) => {
            ws.once('open', resolve);
            ws.once('error', reject);
          });
          const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
          ws.send('x'.repeat(2 * 1024 * 1024));
          // A second large message right behind the first: the server must not reset the
          // connection under it (the client then sees 1006 instead of the close frame).
          if (twice) ws.send('y'.repeat(3 * 1024 * 1024));
          codes.push(await closed);
        }
      }
      assert.deepEqual(codes, [1009, 1009, 1009, 1009, 1009, 1009]);
    });

    it('[RT8] 20 sync and queue sockets closed right after they open, and 10 party sockets, all go offline', async () => {
      const base = server.url.replace(/^http/, 'ws');
      const openAndClose = (path: string) =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(`${base}${path}`, { headers: auth() });
          // Closed as soon as the upgrade is answered, while the server still sets the socket up.
          ws.on('upgrade', () => ws.terminate());
          ws.on('error', () => resolve());
          ws.on('close', () => resolve());
        });
      await Promise.all(Array.from({ length: 20 }, (_, i) => openAndClose(`/ws/sync/alice?deviceId=quick-${i}`)));
      await Promise.all(Array.from({ length: 20 }, (_, i) => openAndClose(`/ws/queues/${queueId}?deviceId=qv-${i}`)));
      const api = client(server.url, alice);
      let online: string[] = [];
      let viewers: unknown[] = [];
      await waitFor(
        async () => {
          const d = await api('GET', '/users/me/devices');
          online = d.body.devices.filter((x: any) => x.online).map((x: any) => x.deviceId);
          viewers = (await api('GET', `/queues/${queueId}/presence`)).body.viewers;
          return online.length === 0 && viewers.length === 0;
        },
        { timeoutMs: 3000, intervalMs: 100 },
      ).catch(() => undefined); // the assertions below say what was left
      const devices = (await api('GET', '/users/me/devices')).body.devices.map((x: any) => x.deviceId);
      assert.ok(devices.filter((d: string) => d.startsWith('quick-')).length > 0, 'no device was registered: the sockets closed too early to test anything');
      assert.deepEqual(online, [], 'devices still online after their sockets closed');
      assert.deepEqual(viewers, [], 'queue viewers still listed after their sockets closed');
      // Party sockets that measured their link (so they were shown online) and then vanished.
      const partyQueue = await api('POST', '/queues', { name: 'party presence', tracks: ['a'] });
      const party = await api('POST', '/parties', { queueId: partyQueue.body.queue.id });
      assert.equal(party.status, 201, JSON.stringify(party.body));
      const measured = (i: number) =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(`${base}/ws/party/${party.body.id}?deviceId=pm-${i}`, { headers: auth() });
          let pings = 0;
          const ping = (prev?: object) => ws.send(JSON.stringify({ type: 'latency_measurement', ping: Date.now(), ...(prev ? { prev } : {}) }));
          ws.on('message', (d) => {
            const m = JSON.parse(String(d));
            if (m.type === 'hello') ping();
            if (m.type === 'latency_measurement' && typeof m.pong === 'number') {
              if (++pings >= 3) ws.terminate();
              else ping({ ping: m.ping, pong: m.pong, received: Date.now() });
            }
          });
          ws.on('error', () => resolve());
          ws.on('close', () => resolve());
        });
      await Promise.all(Array.from({ length: 10 }, (_, i) => measured(i)));
      let members: any[] = [];
      await waitFor(
        async () => {
          members = (await api('GET', `/parties/${party.body.id}`)).body.members.filter((m: any) => m.online);
          return members.length === 0;
        },
        { timeoutMs: 3000, intervalMs: 100 },
      ).catch(() => undefined); // the assertion below says who was left
      assert.deepEqual(members, [], 'party members still online after their sockets closed');
      // A socket that stays open is online.
      const ws = new WebSocket(`${base}/ws/sync/alice?deviceId=stays`, { headers: auth() });
      await new Promise((r) => ws.once('message', r));
      const d = await api('GET', '/users/me/devices');
      assert.deepEqual(
        d.body.devices.filter((x: any) => x.online).map((x: any) => x.deviceId),
        ['stays'],
      );
      ws.terminate();
    });
  });
}
