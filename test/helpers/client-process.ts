// A client app as its own process, for the restart test in test/e2e/client.test.ts:
//   edit <url> <token> <queueId> <dir>: open the queue, go offline, make three edits, stop
//     without a goodbye (process.exit) once they are in the FileStorage under <dir>;
//   cold <dead url> <token> <queueId> <dir>: start with the service unreachable, open the
//     queue from storage, make one more edit, stop;
//   sync <url> <token> <queueId> <dir>: start again on the same storage, wait until the
//     outbox is empty, print {pending, state} as JSON.
import { FileStorage, QueueClient } from '@queue-service/client';
import { mirrorView, until } from './client.ts';

const [step, baseUrl, token, queueId, dir] = process.argv.slice(2) as [string, string, string, string, string];
const c = new QueueClient({ baseUrl, token, deviceId: 'proc-dev', storage: new FileStorage(dir), reconnect: { baseMs: 50, maxMs: 500 } });
const q = await c.openQueue(queueId);
if (step === 'edit') {
  c.goOffline();
  const p2 = q.state.items[1]!.itemId;
  void q.addTracks(['r-new'], { position: 0 }).catch(() => undefined);
  void q.removeItem(p2).catch(() => undefined);
  void q.addTracks(['r-end']).catch(() => undefined);
  await c.persist();
  console.log(`pending ${(await c.pendingMutations()).length}`);
  process.exit(0);
}
if (step === 'cold') {
  // Offline from the start: the queue comes from storage, with the edits still pending on it.
  const tracks = q.state.items.map((i) => i.trackId).join(',');
  void q.moveItem(q.state.items.find((i) => i.trackId === 'r-end')!.itemId, { position: 1 }).catch(() => undefined);
  await c.persist();
  console.log(`${c.status} ${q.fromStorage} ${tracks} pending ${(await c.pendingMutations()).length}`);
  process.exit(0);
}
await until(async () => (await c.pendingMutations()).length === 0 && q.pending.length === 0, 'the outbox empties');
// Own edits come back in the sync answer (not on the socket): the mirror has them already.
const srv = await c.api.getQueue(queueId, { limit: 1000 });
await until(() => q.version >= srv.version, 'the mirror reaches the server version');
console.log(JSON.stringify({ pending: (await c.pendingMutations()).length, state: mirrorView(q) }));
await c.close();
process.exit(0);
