// The SDK's flush of offline edits on reconnect, in the orderings that a loaded machine or a
// flaky network makes likely (one real server on SQLite, real sockets): an online edit whose
// socket dropped before its ack, ahead of edits made offline; and a POST /sync/offline that
// fails while the socket stays up.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueueClient, type QueueServiceError } from '@queue-service/client';
import { client, mintToken, startServerOn, type RunningServer } from '../helpers/server.ts';
import { serverView, until } from '../helpers/client.ts';

const fast = { reconnect: { baseMs: 50, maxMs: 500 } };

describe('client SDK: offline flush orderings', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let token: string;
  let api: ReturnType<typeof client>;
  const clients: QueueClient[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await startServerOn('sqlite');
    token = await mintToken(server, 'alice');
    api = client(server.url, token);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    for (const c of clients) await c.close();
    await server?.cleanup();
  });

  it('[SDK] an unacknowledged online edit ahead of offline edits: it goes first, then the offline ones, on reconnect', async () => {
    const a = new QueueClient({ baseUrl: server.url, token, deviceId: 'race-cmd', ...fast });
    clients.push(a);
    const created = await a.api.createQueue({ name: 'race', tracks: ['r1', 'r2', 'r3'] });
    const qa = await a.openQueue(created.queue.id);
    const [i1, , i3] = qa.state.items.map((i) => i.itemId);
    // Made online (a socket command), and the socket drops before it is sent or acknowledged.
    const moved = qa.moveItem(i3!, { position: 0 });
    a.goOffline();
    const removed = qa.removeItem(i1!);
    assert.deepEqual(
      (await a.pendingMutations()).map((e) => e.kind),
      ['command', 'offline'],
    );
    a.goOnline();
    await until(
      async () => (await a.pendingMutations()).length === 0,
      () => `outbox still holds ${JSON.stringify(a.outbox.entries.map((e) => [e.kind, e.op]))}`,
      10_000,
    );
    await Promise.all([moved, removed]);
    const srv = await serverView(api, created.queue.id);
    assert.deepEqual(
      srv.items.map((i) => i.trackId),
      ['r3', 'r2'],
      'the command, then the offline edit',
    );
    await until(() => qa.version === srv.version, 'the mirror at the server version', 10_000);
    assert.deepEqual(
      qa.state.items.map((i) => i.trackId),
      ['r3', 'r2'],
    );
    assert.deepEqual(unhandled.map(String), [], 'no unhandled rejection (e.g. a flush recursing without end)');
  });

  it('[SDK] a failed POST /sync/offline is reported and tried again while the socket stays up', async () => {
    let failures = 0;
    // The network loses the first POST /sync/offline (the request never reaches the server).
    const flaky: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.includes('/sync/offline') && failures++ === 0) return Promise.reject(new TypeError('fetch failed'));
      return fetch(input, init);
    };
    const a = new QueueClient({ baseUrl: server.url, token, deviceId: 'race-post', fetch: flaky, ...fast });
    clients.push(a);
    const errors: QueueServiceError[] = [];
    a.on('error', (e) => errors.push(e));
    const synced: { edits: number; conflicts: number; refused: number }[] = [];
    a.on('synced', (s) => synced.push(s));
    const created = await a.api.createQueue({ name: 'flaky', tracks: ['f1', 'f2'] });
    const qa = await a.openQueue(created.queue.id);
    a.goOffline();
    const added = qa.addTracks(['f3']);
    a.goOnline();
    await until(() => errors.length > 0, 'the failed sync is reported', 10_000);
    assert.equal(errors[0]!.code, 'network_error');
    await until(async () => (await a.pendingMutations()).length === 0, 'the offline edit is sent again without a reconnect', 10_000);
    await added;
    assert.equal(failures, 2, 'one failed POST, one that went through');
    assert.deepEqual(synced, [{ edits: 1, conflicts: 0, refused: 0 }], 'the sync that went through is reported once');
    assert.equal(a.status, 'online');
    const srv = await serverView(api, created.queue.id);
    assert.deepEqual(
      srv.items.map((i) => i.trackId),
      ['f1', 'f2', 'f3'],
    );
  });
});
