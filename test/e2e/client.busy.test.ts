// [AD9] The SDK retries what the server refused as overloaded (nothing was applied): REST
// requests and socket commands, after Retry-After with jitter, telling the app through
// `busy` events. Real servers that cannot queue (one request at a time, no waiting room);
// the one place is held by a request whose body has not finished arriving.
import assert from 'node:assert/strict';
import { connect as tcp, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { QueueClient, type BusyRetry } from '@queue-service/client';
import { until } from '../helpers/client.ts';
import { sleep } from '../helpers/wait.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';

/** A write that takes the server's one place and keeps it until `finish()` sends the rest of its body. */
async function holdThePlace(base: string, token: string, queueId: string): Promise<{ finish(): Promise<number> }> {
  const u = new URL(base);
  const body = JSON.stringify({ tracks: ['held'] });
  for (let attempt = 0; ; attempt++) {
    const sock: Socket = tcp({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    let answer = '';
    sock.on('data', (d) => (answer += d));
    sock.write(
      `POST /queues/${queueId}/tracks HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    // It holds the place once the server counts one request in flight (/metrics is never
    // refused) and it has no answer: another request (a client's own) may have had the
    // place, and then this one was refused and is sent again.
    await until(async () => answer !== '' || /^requests_in_flight 1$/m.test(await (await fetch(`${base}/metrics`)).text()), 'a request in flight');
    await sleep(100); // and no answer comes in the next 100 ms
    if (answer === '') {
      return {
        async finish() {
          sock.write(body.slice(5));
          await until(() => /\r\n\r\n/.test(answer), 'the held request is answered');
          sock.destroy();
          return Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
        },
      };
    }
    sock.destroy();
    if (attempt >= 20) throw new Error(`could not hold the place: ${answer.slice(0, 200)}`);
    await sleep(50); // a paced retry
  }
}

for (const { kind, skip } of storeKinds) {
  describe(`[AD9] the SDK retries busy refusals (${kind})`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    let token: string;
    const clients: QueueClient[] = [];

    before(async () => {
      server = await startServerOn(kind, { env: { OVERLOAD_CONCURRENCY: '1', OVERLOAD_MAX_QUEUED: '0', OVERLOAD_RETRY_AFTER_SECONDS: '1' } });
      token = await mintToken(server, 'busy');
    });
    after(async () => {
      for (const c of clients) await c.close();
      await server?.cleanup();
    });

    it('a REST write refused 503 overloaded is sent again after Retry-After and applied once; `busy` tells the app', async () => {
      const api = client(server.url, token);
      const q = (await api('POST', '/queues', { name: 'rest', tracks: ['a'] })).body.queue.id;
      const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'busy-rest' });
      clients.push(c);
      const busy: BusyRetry[] = [];
      c.on('busy', (b) => busy.push(b));
      const held = await holdThePlace(server.url, token, q);
      const t0 = Date.now();
      const write = c.api.addTracks(q, { tracks: ['retried'] });
      await until(() => busy.length >= 1, 'a busy retry');
      assert.equal(busy[0]!.source, 'rest');
      assert.equal(busy[0]!.code, 'overloaded');
      assert.equal(busy[0]!.reason, 'queue_full');
      assert.ok(busy[0]!.retryInMs >= 500 && busy[0]!.retryInMs < 1500, `jittered around Retry-After: ${busy[0]!.retryInMs} ms`);
      assert.equal(await held.finish(), 200);
      const answer = await write;
      assert.ok(Date.now() - t0 >= 450, 'it waited before it retried');
      assert.ok(answer.events.some((e) => e.type === 'item_added'));
      const view = (await api('GET', `/queues/${q}`)).body;
      assert.deepEqual(view.items.map((i: { trackId: string }) => i.trackId).sort(), ['a', 'held', 'retried'], 'each write once');
    });

    it('busyRetries: 0 throws the refusal instead', async () => {
      const api = client(server.url, token);
      const q = (await api('POST', '/queues', { name: 'no-retry', tracks: ['a'] })).body.queue.id;
      const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'busy-none' });
      clients.push(c);
      const held = await holdThePlace(server.url, token, q);
      await assert.rejects(
        c.api.request('POST', `/queues/${q}/tracks`, { tracks: ['x'] }, { busyRetries: 0 }),
        (e: { status: number; code: string }) => e.status === 503 && e.code === 'overloaded',
      );
      await held.finish();
    });

    it('a socket command refused `overloaded` is sent again (same mutationId) and lands once', async () => {
      const api = client(server.url, token);
      const q = (await api('POST', '/queues', { name: 'socket', tracks: ['a'] })).body.queue.id;
      const c = new QueueClient({ baseUrl: server.url, token, deviceId: 'busy-ws' });
      clients.push(c);
      const busy: BusyRetry[] = [];
      c.on('busy', (b) => busy.push(b));
      const mirror = await c.openQueue(q);
      const held = await holdThePlace(server.url, token, q);
      const edit = mirror.addTracks(['by-socket']);
      await until(() => busy.some((b) => b.source === 'socket'), 'a busy retry on the socket');
      await held.finish();
      await edit;
      await until(async () => (await api('GET', `/queues/${q}`)).body.itemCount === 3, 'the edit and the held write land');
      const tracks = (await api('GET', `/queues/${q}`)).body.items.map((i: { trackId: string }) => i.trackId);
      assert.equal(tracks.filter((t: string) => t === 'by-socket').length, 1);
    });
  });
}
