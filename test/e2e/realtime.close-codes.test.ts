// Who ends a socket when its stream ends: the feature, not the plumbing. A deleted queue
// closes its queue socket with 4404 (docs/SPEC.md, close codes); a sync socket subscribed to
// the same queue only hears the queue_deleted event and stays open for the user's stream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';

for (const { kind, skip } of storeKinds) {
  describe(`close codes on ${kind}`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    let alice: string;
    let api: ReturnType<typeof client>;
    const sockets: TestSocket[] = [];

    before(async () => {
      server = await startServerOn(kind);
      alice = await mintToken(server, 'alice');
      api = client(server.url, alice);
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      await server.cleanup();
    });

    it('[RT1] a deleted queue ends its queue socket with 4404; a sync socket subscribed to it hears queue_deleted and stays open', async () => {
      const q = (await api('POST', '/queues', { name: 'doomed', tracks: ['a'] })).body.queue;
      const queueSocket = await connect(server.url, `/ws/queues/${q.id}`, { token: alice, query: { deviceId: 'q-dev' } });
      const sync = await connect(server.url, '/ws/sync/alice', { token: alice, query: { deviceId: 's-dev' } });
      sockets.push(queueSocket, sync);
      await queueSocket.waitFor((m) => m.type === 'snapshot');
      await sync.waitFor((m) => m.type === 'snapshot' && m.stream === 'user');
      sync.send({ type: 'subscribe', queueId: q.id, since: q.version });
      await sync.waitFor((m) => m.type === 'subscribed' && m.queueId === q.id);

      const del = await api('DELETE', `/queues/${q.id}`);
      assert.ok(del.status < 300, JSON.stringify(del.body));

      const deleted = await queueSocket.waitFor((m) => m.type === 'queue_deleted');
      assert.equal(deleted.queueId, q.id);
      assert.deepEqual(await queueSocket.closed, { code: 4404, reason: 'the queue was deleted' });
      await sync.waitFor((m) => m.type === 'queue_deleted' && m.queueId === q.id);
      // Still open and still served: a playback write reaches it on the user stream.
      const put = await api(
        'PUT',
        '/users/alice/playback-state',
        { position: 1, isPlaying: true, deviceId: 'other', timestamp: Date.now() },
        { 'x-device-id': 'other' },
      );
      assert.equal(put.status, 200, JSON.stringify(put.body));
      await sync.waitFor((m) => m.stream === 'user' && m.deviceId === 'other');
      assert.equal(sync.ws.readyState, sync.ws.OPEN);
    });
  });
}
