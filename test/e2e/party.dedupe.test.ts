// [PA11] Party playback commands with a mutationId are applied at most once per member,
// against real server processes and real WebSocket clients: repeats on one socket, on a new
// socket, after a restart of the server, and a command whose socket was cut before its ack.
// The two-instance case (Postgres + Redis) is in test/e2e/party.cluster.test.ts.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.ts';
import { client, mintToken, startServer, storeKinds, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';

for (const { kind, skip } of storeKinds) {
  describe(`party commands at most once per member (${kind})`, { skip, timeout: 120_000 }, () => {
    let server: RunningServer;
    let db: TempDatabase | null = null;
    let dataDir: string | undefined;
    const tokens: Record<string, string> = {};
    const sockets: TestSocket[] = [];
    const api = (user: string) => client(server.url, tokens[user]);
    const start = async () => {
      server = await startServer({ env: { LOG_LEVEL: 'error' }, databaseUrl: db?.url, dataDir, adminKey: 'party-dedupe-admin' });
      dataDir = server.dataDir;
    };

    before(async () => {
      if (kind === 'postgres') db = await createTempDatabase();
      await start();
      for (const u of ['host', 'm1']) tokens[u] = await mintToken(server, u);
    });
    after(async () => {
      for (const s of sockets) await s.close().catch(() => undefined);
      await server?.stop();
      await db?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    async function open(user: string, partyId: string): Promise<TestSocket> {
      const s = await connect(server.url, `/ws/party/${partyId}`, { token: tokens[user] });
      sockets.push(s);
      await s.waitFor((m) => m.type === 'queue_updated');
      return s;
    }

    /** Sends a playback command and resolves with its ack or error. */
    async function command(s: TestSocket, mutationId: string, body: Record<string, unknown>): Promise<any> {
      const from = s.messages.length;
      s.send({ type: 'playback_sync', mutationId, ...body });
      return s.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.mutationId === mutationId, 8000, from);
    }

    async function newParty() {
      const q = await api('host')('POST', '/queues', { name: 'dedupe', tracks: ['t1', 't2', 't3', 't4'] });
      assert.equal(q.status, 201, JSON.stringify(q.body));
      const p = await api('host')('POST', '/parties', { queueId: q.body.queue.id });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      const j = await api('m1')('POST', `/parties/${p.body.id}/join`, { inviteCode: p.body.inviteCode });
      assert.equal(j.status, 200, JSON.stringify(j.body));
      return { partyId: p.body.id as string, queueId: q.body.queue.id as string };
    }

    /** The party's sequence number, its playback_sync events, and the queue's current track and version. */
    async function observe(partyId: string, queueId: string) {
      const party = (await api('host')('GET', `/parties/${partyId}`)).body;
      const q = (await api('host')('GET', `/queues/${queueId}`)).body;
      return {
        seq: party.sequenceNumber as number,
        trackId: party.playback.trackId as string | null,
        queueTrack: q.items[q.currentIndex]?.trackId as string | undefined,
        queueVersion: q.version as number,
      };
    }

    it('[PA11] the same mutationId on one socket, on a new socket and after a restart: one event, one queue move, the first ack replayed', async () => {
      const { partyId, queueId } = await newParty();
      let s = await open('host', partyId);
      const watcher = await open('m1', partyId);
      const play = await command(s, 'play-1', { action: 'play' });
      assert.equal(play.type, 'ack', JSON.stringify(play));
      const before = await observe(partyId, queueId);
      assert.equal(before.queueTrack, 't1');

      // Twice back to back on one socket.
      const from = s.messages.length;
      s.send({ type: 'playback_sync', mutationId: 'next-1', action: 'next' });
      s.send({ type: 'playback_sync', mutationId: 'next-1', action: 'next' });
      await s.waitFor((m) => m.type === 'ack' && m.mutationId === 'next-1' && m.replayed === true, 8000, from);
      const acks = s.messages.slice(from).filter((m) => (m.type === 'ack' || m.type === 'error') && m.mutationId === 'next-1');
      assert.equal(acks.length, 2, JSON.stringify(acks));
      const [ack, again] = acks;
      assert.equal(ack.replayed, false);
      assert.deepEqual(again, { ...ack, replayed: true }, 'the same ack, replayed');
      assert.equal(ack.sequenceNumbers.length, 1);
      assert.equal(ack.version, ack.sequenceNumbers[0]);
      const afterNext = await observe(partyId, queueId);
      assert.equal(afterNext.seq, before.seq + 1, 'one event');
      assert.equal(afterNext.queueTrack, 't2', 'the queue moved once');
      assert.equal(afterNext.trackId, 't2');
      assert.equal(afterNext.queueVersion, before.queueVersion + 1);

      // On a new socket.
      await s.close();
      s = await open('host', partyId);
      assert.deepEqual(await command(s, 'next-1', { action: 'next' }), { ...ack, replayed: true });

      // After the server restarted (same database).
      await server.stop();
      await start();
      s = await open('host', partyId);
      assert.deepEqual(await command(s, 'next-1', { action: 'next' }), { ...ack, replayed: true });
      assert.deepEqual(await observe(partyId, queueId), afterNext, 'nothing appended, the queue not moved again');

      // The same mutationId on another command is refused, and changes nothing.
      const reused = await command(s, 'next-1', { action: 'previous' });
      assert.equal(reused.type, 'error');
      assert.equal(reused.status, 422);
      assert.equal(reused.error.code, 'idempotency_key_reused');
      assert.deepEqual(await observe(partyId, queueId), afterNext);

      // The watcher saw exactly one playback_sync for it (its socket lived through the first two).
      await sleep(200); // no second playback_sync comes in the next 200 ms
      const syncs = watcher.messages.filter((m) => m.type === 'playback_sync' && m.action === 'next');
      assert.deepEqual(
        syncs.map((m) => m.sequenceNumber),
        [ack.sequenceNumbers[0]],
      );

      // Keys are per member: m1, host now, may use the same mutationId for its own command.
      assert.equal((await api('host')('POST', `/parties/${partyId}/host`, { userId: 'm1' })).status, 200);
      const m1 = await open('m1', partyId);
      const own = await command(m1, 'next-1', { action: 'next' });
      assert.equal(own.type, 'ack', JSON.stringify(own));
      assert.equal(own.replayed, false);
      const end = await observe(partyId, queueId);
      assert.equal(end.queueTrack, 't3');
      assert.equal(end.seq, afterNext.seq + 2, 'host_changed and its next');
      // The old host's repeat is still answered from its record (it is no longer the host).
      assert.deepEqual(await command(s, 'next-1', { action: 'next' }), { ...ack, replayed: true });
    });

    it('[PA11] a refused command is not recorded: its repeat is decided again', async () => {
      const { partyId } = await newParty();
      const m1 = await open('m1', partyId);
      const refused = await command(m1, 'm1-play', { action: 'play' });
      assert.equal(refused.status, 403);
      assert.equal(refused.error.code, 'not_the_host');
      assert.equal((await api('host')('POST', `/parties/${partyId}/host`, { userId: 'm1' })).status, 200);
      const ok = await command(m1, 'm1-play', { action: 'play' });
      assert.equal(ok.type, 'ack', JSON.stringify(ok));
      assert.equal(ok.replayed, false);
    });

    it('[PA11] a next whose socket was cut right after sending it lands exactly once when resent on a new socket', async () => {
      const { partyId, queueId } = await newParty();
      const s = await open('host', partyId);
      assert.equal((await command(s, 'p', { action: 'play' })).type, 'ack');
      const before = await observe(partyId, queueId);
      // Sent, then the connection is gone at once: the client cannot know whether it applied.
      s.send({ type: 'playback_sync', mutationId: 'cut-next', action: 'next' });
      s.ws.terminate();
      await s.closed;
      const again = await open('host', partyId);
      const ack = await command(again, 'cut-next', { action: 'next' });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      // Once more, to be sure the answer is now the recorded one.
      assert.deepEqual(await command(again, 'cut-next', { action: 'next' }), { ...ack, replayed: true });
      const after = await observe(partyId, queueId);
      assert.equal(after.queueTrack, 't2', 'moved by exactly one');
      assert.equal(after.queueVersion, before.queueVersion + 1);
      assert.equal(after.seq, before.seq + 1);
    });

    it('[PA11] REST playback with an Idempotency-Key: a repeat moves nothing and answers the first event, replayed; the socket shares the key', async () => {
      const { partyId, queueId } = await newParty();
      const rest = (key: string, body: Record<string, unknown>) => api('host')('POST', `/parties/${partyId}/playback`, body, { 'idempotency-key': key });
      const played = await rest('rest-play', { action: 'play' });
      assert.equal(played.status, 200, JSON.stringify(played.body));
      const before = await observe(partyId, queueId);
      const next = await rest('rest-next', { action: 'next' });
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assert.equal(next.headers.get('idempotent-replayed'), null);
      const again = await rest('rest-next', { action: 'next' });
      assert.equal(again.status, 200);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(again.body, next.body, 'the first answer, as it was');
      const after = await observe(partyId, queueId);
      assert.equal(after.queueTrack, 't2', 'the queue moved once');
      assert.equal(after.queueVersion, before.queueVersion + 1);
      assert.equal(after.seq, before.seq + 1, 'one party event');
      // The same key for another command: 422, nothing applied.
      const reused = await rest('rest-next', { action: 'seek', position: 5000 });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error.code, 'idempotency_key_reused');
      // A socket command with the key a REST call used is that call's repeat.
      const s = await open('host', partyId);
      const ack = await command(s, 'rest-next', { action: 'next' });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      assert.equal(ack.replayed, true);
      assert.deepEqual(ack.sequenceNumbers, [next.body.sequenceNumber]);
      assert.deepEqual(await observe(partyId, queueId), after);
      // Without a key each call applies.
      assert.equal((await api('host')('POST', `/parties/${partyId}/playback`, { action: 'next' })).body.trackId, 't3');
    });
  });
}
