// [QW1]-[QW9] over HTTP and WebSocket against real server processes, on each store: a
// 10,000-item queue read in windows, cursors while others edit, minimal answers, and a
// resume from before a trimmed log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, runCli, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect } from '../helpers/ws.ts';

for (const { kind, skip } of storeKinds) {
  describe(`windows on ${kind}`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void>; db: { url: string } | null };
    let api: ReturnType<typeof client>;
    let token: string;
    let big: { id: string };
    const N = 9_500; // room for one more under the 10,000-item limit

    before(async () => {
      server = await startServerOn(kind);
      token = await mintToken(server, 'wendy');
      api = client(server.url, token);
      big = (await api('POST', '/queues', { name: 'big', tracks: Array.from({ length: 500 }, (_, i) => `t${i}`) })).body.queue;
      for (let k = 1; k < N / 500; k++) {
        const r = await api(
          'POST',
          `/queues/${big.id}/tracks`,
          { tracks: Array.from({ length: 500 }, (_, i) => `t${k * 500 + i}`) },
          { prefer: 'return=minimal' },
        );
        assert.equal(r.status, 200);
      }
    });
    after(() => server.cleanup());

    it('[QW1] GET answers the header and the first 200 items; itemCount is the whole queue', async () => {
      const r = await api('GET', `/queues/${big.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.itemCount, N);
      assert.equal(r.body.items.length, 200);
      assert.deepEqual(
        r.body.items.map((i: { trackId: string }) => i.trackId),
        Array.from({ length: 200 }, (_, i) => `t${i}`),
      );
      assert.equal(r.body.window.offset, 0);
      assert.equal(typeof r.body.window.nextCursor, 'string');
      // A small queue looks as it always did: every item, no cursor.
      const small = (await api('POST', '/queues', { name: 's', tracks: ['a', 'b'] })).body.queue;
      const s = (await api('GET', `/queues/${small.id}`)).body;
      assert.deepEqual(
        s.items.map((i: { trackId: string }) => i.trackId),
        ['a', 'b'],
      );
      assert.deepEqual(s.window, { offset: 0, limit: 200, nextCursor: null });
    });

    it('[QW2] offset, after, around=current and limit; bad combinations are 400', async () => {
      const off = (await api('GET', `/queues/${big.id}?offset=${N - 10}&limit=50`)).body;
      assert.deepEqual(
        off.items.map((i: { trackId: string }) => i.trackId),
        Array.from({ length: 10 }, (_, i) => `t${N - 10 + i}`),
      );
      assert.equal(off.window.nextCursor, null);
      const anchor = off.items[0].itemId;
      const aft = (await api('GET', `/queues/${big.id}?after=${anchor}&limit=3`)).body;
      assert.deepEqual(
        aft.items.map((i: { trackId: string }) => i.trackId),
        [`t${N - 9}`, `t${N - 8}`, `t${N - 7}`],
      );
      // Make an item deep in the queue current, then read around it.
      const target = (await api('GET', `/queues/${big.id}?offset=5000&limit=1`)).body.items[0];
      assert.equal((await api('PUT', `/queues/${big.id}/current`, { itemId: target.itemId })).status, 200);
      const around = (await api('GET', `/queues/${big.id}?around=current&limit=11`)).body;
      assert.equal(around.currentIndex, 5000);
      assert.equal(around.window.offset, 4995);
      assert.equal(around.items[5].itemId, target.itemId);
      const both = await api('GET', `/queues/${big.id}?offset=1&around=current`);
      assert.equal(both.status, 400);
      assert.equal(both.body.error.code, 'ambiguous_window');
      assert.equal((await api('GET', `/queues/${big.id}?limit=1001`)).status, 400);
      const unknown = await api('GET', `/queues/${big.id}?after=nope`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'item_not_found');
      const forged = await api('GET', `/queues/${big.id}?cursor=bm9wZQ`);
      assert.equal(forged.status, 400);
      assert.equal(forged.body.error.code, 'invalid_cursor');
    });

    it('[QW3] cursor paging while another client adds and removes returns each remaining item once, in order', async () => {
      const q = (await api('POST', '/queues', { name: 'paged', tracks: Array.from({ length: 300 }, (_, i) => `p${i}`) })).body.queue;
      const first = (await api('GET', `/queues/${q.id}?limit=40`)).body;
      const original = (await api('GET', `/queues/${q.id}?limit=1000`)).body.items.map((i: { itemId: string }) => i.itemId);
      const seen: string[] = first.items.map((i: { itemId: string }) => i.itemId);
      const removed = new Set<string>();
      let cursor = first.window.nextCursor;
      let k = 0;
      while (cursor) {
        // Another client: an add before the cursor, and a removal of the last item seen.
        await api('POST', `/queues/${q.id}/tracks`, { tracks: [`x${k++}`], position: 0 });
        const last = seen[seen.length - 1]!;
        if (!removed.has(last)) {
          removed.add(last);
          assert.equal((await api('DELETE', `/queues/${q.id}/items/${last}`)).status, 200);
        }
        const page = (await api('GET', `/queues/${q.id}?cursor=${cursor}&limit=40`)).body;
        seen.push(...page.items.map((i: { itemId: string }) => i.itemId));
        cursor = page.window.nextCursor;
      }
      assert.equal(new Set(seen).size, seen.length);
      assert.deepEqual(
        seen.filter((id) => original.includes(id)),
        original,
      );
      // A shuffle switch makes an older cursor stale.
      const c = (await api('GET', `/queues/${q.id}?limit=10`)).body.window.nextCursor;
      await api('PUT', `/queues/${q.id}/shuffle`, { shuffle: true });
      const stale = await api('GET', `/queues/${q.id}?cursor=${c}`);
      assert.equal(stale.status, 409);
      assert.equal(stale.body.error.code, 'cursor_stale');
    });

    it('[QW5] writes answer the header and the default window; Prefer: return=minimal only the version and events', async () => {
      const full = await api('POST', `/queues/${big.id}/tracks`, { tracks: ['one-more'] });
      assert.equal(full.status, 200);
      assert.equal(full.headers.get('preference-applied'), 'return=representation');
      assert.equal(full.body.queue.itemCount, N + 1);
      assert.equal(full.body.queue.items.length, 200);
      assert.equal(full.body.version, full.body.queue.version);
      const min = await api('POST', `/queues/${big.id}/items/remove`, { itemIds: [full.body.events[0].data.itemId] }, { prefer: 'return=minimal' });
      assert.equal(min.status, 200);
      assert.equal(min.headers.get('preference-applied'), 'return=minimal');
      assert.deepEqual(Object.keys(min.body).sort(), ['events', 'version']);
      assert.equal(min.body.version, full.body.version + 1);
      assert.equal(min.headers.get('etag'), `"${min.body.version}"`);
      // A minimal answer is replayed as it was given.
      const key = { prefer: 'return=minimal', 'idempotency-key': `k-${kind}` };
      const a = await api('PUT', `/queues/${big.id}/repeat`, { repeat: 'all' }, key);
      const b = await api('PUT', `/queues/${big.id}/repeat`, { repeat: 'all' }, key);
      assert.deepEqual(b.body, a.body);
      assert.equal(b.headers.get('idempotent-replayed'), 'true');
    });

    it('[QW7] a socket snapshot of a long queue carries the header, a window and its order keys', async () => {
      const s = await connect(server.url, `/ws/queues/${big.id}`, { token });
      try {
        const snap = await s.waitFor((m) => m.type === 'snapshot');
        assert.equal(snap.data.itemCount, N);
        assert.equal(snap.data.items.length, 200);
        assert.equal(Object.keys(snap.data.itemKeys).length, 200);
        const next = (await api('GET', `/queues/${big.id}?cursor=${snap.data.window.nextCursor}&limit=5`)).body;
        assert.equal(next.window.offset, 200);
      } finally {
        await s.close();
      }
    });

    it('[QW8][QW9] after a trim, a resume from before it gets a snapshot and the log says where it begins', async () => {
      const q = (await api('POST', '/queues', { name: 'trim', tracks: ['a'] })).body.queue;
      for (let i = 0; i < 80; i++) await api('PUT', `/queues/${q.id}/repeat`, { repeat: i % 2 ? 'off' : 'all' }, { prefer: 'return=minimal' });
      const swept = await runCli(['sweep', '--events-older-than-days', '0'], { DATA_DIR: server.dataDir, DATABASE_URL: server.db?.url });
      assert.equal(swept.code, 0, swept.stderr);
      const log = (await api('GET', `/queues/${q.id}/events?since=0&limit=5`)).body;
      assert.ok(log.logStart > 1, `the log was trimmed (logStart ${log.logStart})`);
      assert.equal(log.events[0]?.sequenceNumber ?? log.version + 1, log.logStart);
      const hist = (await api('GET', `/queues/${q.id}/history?limit=200`)).body;
      assert.equal(hist.logStart, log.logStart);
      assert.equal(hist.nextBefore, null);
      assert.equal(hist.entries.at(-1).sequenceNumber, log.logStart);
      const s = await connect(server.url, `/ws/queues/${q.id}`, { token, query: { since: 1 } });
      try {
        const snap = await s.waitFor((m) => m.type === 'snapshot');
        assert.equal(snap.reason, 'log_trimmed');
        assert.equal(snap.sequenceNumber, log.version);
        await api('POST', `/queues/${q.id}/tracks`, { tracks: ['after-trim'] });
        const live = await s.waitFor((m) => m.type === 'item_added');
        assert.equal(live.sequenceNumber, log.version + 1);
      } finally {
        await s.close();
      }
    });
  });
}
