// The SDK's browser build (client/dist/browser.js) in a real browser (Debian's Chromium via
// playwright-core): a page on its own origin (a small static server of this test, allowed
// by the service's CORS_ORIGINS) loads the bundle, opens a queue, receives a live edit, and
// keeps offline edits in IndexedDB across a reload, then sends them once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { freePort } from '../helpers/redis.ts';
import { client, mintToken, startServerOn, type RunningServer } from '../helpers/server.ts';
import { serverView } from '../helpers/client.ts';
import { browserSkip, launchChromium } from '../helpers/browser.ts';

const skip = browserSkip;

const bundlePath = new URL('../../client/dist/browser.js', import.meta.url).pathname;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>sdk</title></head><body>
<script type="module">
  import * as sdk from '/client.js';
  window.sdk = sdk;
  window.sdkLoaded = true;
</script></body></html>`;

describe('client SDK in a real browser', { skip }, () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let site: Server;
  let origin: string;
  let browser: Browser;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const bundle = readFileSync(bundlePath, 'utf8');
    // Nothing of Node in the browser build: no node: modules, no require().
    assert.doesNotMatch(bundle, /from\s*["']node:|require\(|import\(["']node:/);
    site = createServer((req, res) => {
      if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else if (req.url === '/' || req.url === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => site.listen(port, '127.0.0.1', r));
    server = await startServerOn('sqlite', { env: { CORS_ORIGINS: origin } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
    await new Promise((r) => site?.close(r));
  });

  it('[SDK] the bundle loads, opens a queue, gets a live edit, keeps offline edits in IndexedDB across a reload and sends them once', async () => {
    const token = await mintToken(server, 'webby');
    const api = client(server.url, token);
    const queueId = (await api('POST', '/queues', { name: 'browser', tracks: ['b1', 'b2'] })).body.queue.id as string;
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (globalThis as any).sdkLoaded === true);

    const opened = await page.evaluate(
      async ({ baseUrl, token, queueId }) => {
        const { QueueClient, IndexedDbStorage } = (globalThis as any).sdk;
        const c = new QueueClient({ baseUrl, token, deviceId: 'browser-1', storage: new IndexedDbStorage('qs-test') });
        const q = await c.openQueue(queueId);
        (globalThis as any).c = c;
        (globalThis as any).q = q;
        (globalThis as any).changes = 0;
        q.on('change', () => (globalThis as any).changes++);
        return { status: c.status, tracks: q.state.items.map((i: any) => i.trackId), version: q.version };
      },
      { baseUrl: server.url, token, queueId },
    );
    assert.equal(opened.status, 'online');
    assert.deepEqual(opened.tracks, ['b1', 'b2']);

    // A live edit from elsewhere reaches the page.
    await api('POST', `/queues/${queueId}/tracks`, { tracks: ['live'] });
    await page.waitForFunction(() => (globalThis as any).q.state.items.some((i: any) => i.trackId === 'live'), undefined, { timeout: 15_000 });

    // Offline: edits go to IndexedDB (and show at once).
    const offline = await page.evaluate(async () => {
      const { c, q } = globalThis as any;
      c.goOffline();
      q.addTracks(['off-1'], { position: 0 }).catch(() => undefined);
      q.removeItem(q.state.items.find((i: any) => i.trackId === 'b2').itemId).catch(() => undefined);
      await c.outbox.save();
      return { tracks: q.state.items.map((i: any) => i.trackId), pending: (await c.pendingMutations()).length, status: c.status };
    });
    assert.deepEqual(offline, { tracks: ['off-1', 'b1', 'live'], pending: 2, status: 'offline' });
    assert.equal((await serverView(api, queueId)).items.length, 3, 'nothing sent yet');

    // The page reloads: the edits are still in IndexedDB, and a new client sends them.
    await page.reload();
    await page.waitForFunction(() => (globalThis as any).sdkLoaded === true);
    const kept = await page.evaluate(
      async ({ baseUrl, token }) => {
        const { QueueClient, IndexedDbStorage } = (globalThis as any).sdk;
        const c = new QueueClient({ baseUrl, token, deviceId: 'browser-1', storage: new IndexedDbStorage('qs-test'), autoConnect: false });
        (globalThis as any).c = c;
        return (await c.pendingMutations()).map((e: any) => e.op);
      },
      { baseUrl: server.url, token },
    );
    assert.deepEqual(kept, ['add_tracks', 'remove_item']);
    const after = await page.evaluate(async (queueId) => {
      const { c } = globalThis as any;
      void c.connect();
      const q = await c.openQueue(queueId);
      (globalThis as any).q2 = q;
      for (let i = 0; i < 300 && (await c.pendingMutations()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      return { pending: (await c.pendingMutations()).length, version: q.version };
    }, queueId);
    assert.equal(after.pending, 0);
    const srv = await serverView(api, queueId);
    assert.deepEqual(
      srv.items.map((i) => i.trackId),
      ['off-1', 'b1', 'live'],
    );
    await page.waitForFunction((v) => (globalThis as any).q2.version === v, srv.version, { timeout: 15_000 });
    const tracks = await page.evaluate(() => (globalThis as any).q2.state.items.map((i: any) => i.trackId));
    assert.deepEqual(tracks, ['off-1', 'b1', 'live'], 'the page mirror equals the server');
    const log = (await api('GET', `/queues/${queueId}/events?limit=1000`)).body.events as { type: string; data: { trackId?: string } }[];
    assert.equal(log.filter((e) => e.type === 'item_added' && e.data.trackId === 'off-1').length, 1, 'sent once');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
