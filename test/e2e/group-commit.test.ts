// Group commit through the service (issue 21), both stores, real server processes:
// concurrent writers on many queues and on one queue; every acknowledged write is there
// exactly once, every log gapless, and writes of different queues shared transactions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allEvents } from '../helpers/offline.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';

for (const { kind, skip } of storeKinds) {
  describe(`group commit under concurrent writers (${kind})`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    before(async () => {
      server = await startServerOn(kind);
    });
    after(async () => server?.cleanup());

    const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? NaN);

    async function check(api: ReturnType<typeof client>, queues: string[], acked: string[]) {
      const seen = new Map<string, number>();
      for (const q of queues) {
        const log = await allEvents(api, q);
        assert.deepEqual(
          log.map((e) => e.sequenceNumber),
          log.map((_, i) => i + 1),
          `${q}: gapless`,
        );
        for (const e of log) if (e.type === 'item_added') seen.set(e.data.trackId, (seen.get(e.data.trackId) ?? 0) + 1);
        const view = (await api('GET', `/queues/${q}`)).body;
        assert.equal(view.version, log.length);
      }
      for (const t of acked) assert.equal(seen.get(t), 1, `${t} is there ${seen.get(t) ?? 0} times`);
    }

    it('30 writers on 10 queues and 20 writers on one queue: every write once, gapless; the queues shared transactions', async () => {
      const token = await mintToken(server, 'gc');
      const api = client(server.url, token);
      const many: string[] = [];
      for (let i = 0; i < 10; i++) many.push((await api('POST', '/queues', { name: `m${i}` })).body.queue.id);
      const one = (await api('POST', '/queues', { name: 'one' })).body.queue.id;
      const [tx0, w0, j0] = [await metric('store_commits_total'), await metric('store_commit_writes_total'), await metric('queue_writes_joined_total')];
      const acked: string[] = [];
      const writer = async (queue: string, name: string, n: number) => {
        for (let k = 0; k < n; k++) {
          const track = `${name}-${k}`;
          const r = await api('POST', `/queues/${queue}/tracks`, { tracks: [track] });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          acked.push(track);
        }
      };
      await Promise.all([
        ...Array.from({ length: 30 }, (_, w) => writer(many[w % 10]!, `m${w}`, 12)),
        ...Array.from({ length: 20 }, (_, w) => writer(one, `o${w}`, 10)),
      ]);
      assert.equal(acked.length, 30 * 12 + 20 * 10);
      await check(api, [...many, one], acked);
      const [tx, w] = [(await metric('store_commits_total')) - tx0, (await metric('store_commit_writes_total')) - w0];
      // Writes that met one under way on their queue were appended together (QueueService.joinNext):
      // at most one append per write, and on the one busy queue fewer.
      assert.ok(w > 0 && w <= acked.length, `${w} appends counted for ${acked.length} writes`);
      assert.ok(w > tx * 1.2, `${w} appends in ${tx} transactions`);
      // 20 writers on one queue: most of their writes met one under way and were joined.
      const joined = (await metric('queue_writes_joined_total')) - j0;
      assert.ok(joined >= 50, `${joined} writes joined`);
    });
  });
}
