// [PA9]/[PA10] Each member's position error, as the server measures it from the member's
// position_report, is shown to every member by GET /parties/{id}, on SQLite and on Postgres.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SimMember } from '../helpers/party-member.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

for (const { kind, skip } of storeKinds) {
  describe(`party position errors (${kind})`, { skip }, () => {
    let server: RunningServer & { cleanup(): Promise<void> };
    const tokens: Record<string, string> = {};
    const sims: SimMember[] = [];
    before(async () => {
      server = await startServerOn(kind, { env: { LOG_LEVEL: 'error' } });
      for (const u of ['host', 'm1']) tokens[u] = await mintToken(server, u);
    });
    after(async () => {
      for (const m of sims) await m.close().catch(() => undefined);
      await server?.cleanup();
    });

    /** m1's device as the host reads it, once `pred` holds (polled). */
    async function memberDevice(partyId: string, pred: (d: any) => boolean): Promise<any> {
      let d: any;
      return waitFor(
        async () => {
          const r = await client(server.url, tokens.host)('GET', `/parties/${partyId}`);
          assert.equal(r.status, 200);
          d = r.body.members.find((m: any) => m.userId === 'm1')?.devices.find((x: any) => x.deviceId === 'm1-phone');
          return d && pred(d) ? d : null;
        },
        { timeoutMs: 8000, intervalMs: 100, what: () => `m1's device to match: ${JSON.stringify(d)}` },
      );
    }

    it('[PA9][PA10] a member off the timeline by a known amount shows that error (ms, with its time) to every member', { timeout: 30_000 }, async () => {
      const api = client(server.url, tokens.host);
      const q = await api('POST', '/queues', { name: 'errors', tracks: ['t1', 't2'] });
      const p = await api('POST', '/parties', { queueId: q.body.queue.id });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      const j = await client(server.url, tokens.m1)('POST', `/parties/${p.body.id}/join`, { inviteCode: p.body.inviteCode });
      assert.equal(j.status, 200);
      const host = await SimMember.connect(server.url, p.body.id, {
        token: tokens.host!,
        skewMs: -900,
        link: { baseMs: 10, jitterMs: 3 },
        deviceId: 'host-phone',
      });
      const m1 = await SimMember.connect(server.url, p.body.id, { token: tokens.m1!, skewMs: 2300, link: { baseMs: 25, jitterMs: 5 }, deviceId: 'm1-phone' });
      sims.push(host, m1);
      for (const m of sims) m.startPinging(40);
      // Before any report: a measured link, no error.
      const before = await memberDevice(p.body.id, (d) => d.samples >= 5);
      assert.equal(before.positionErrorMs, null);
      assert.equal(before.positionErrorAt, null);

      host.send({ type: 'playback_sync', action: 'play', mutationId: 'play-1' });
      const ack = await host.waitFor((m) => m.type === 'ack' && m.mutationId === 'play-1');
      await m1.waitFor((m) => m.type === 'playback_sync' && m.sequenceNumber === ack.sequenceNumbers[0], 5000);
      await sleep(Math.max(0, ack.result.at - Date.now()) + 300); // until past the scheduled instant: what is measured is the clock

      // m1's player runs 180 ms ahead of the timeline (its clock is 2.3 s off; the server corrects for that).
      m1.playerErrorMs = 180;
      const t0 = Date.now();
      m1.reportPosition();
      const ahead = await memberDevice(p.body.id, (d) => d.positionErrorMs !== null);
      assert.ok(Math.abs(ahead.positionErrorMs - 180) < 15, `server measured ${ahead.positionErrorMs} ms, truth 180`);
      assert.ok(ahead.positionErrorAt >= t0 - 50 && ahead.positionErrorAt <= Date.now() + 50, `measured at ${ahead.positionErrorAt}`);
      // The host has reported nothing: its own device still shows no error.
      const view = (await api('GET', `/parties/${p.body.id}`)).body;
      assert.equal(view.members.find((m: any) => m.userId === 'host').devices[0].positionErrorMs, null);

      // A later report replaces it: now 60 ms behind.
      await sleep(600); // the later report is made later on the clock
      m1.playerErrorMs = -60;
      m1.reportPosition();
      const behind = await memberDevice(p.body.id, (d) => d.positionErrorMs !== null && d.positionErrorMs < 0);
      assert.ok(Math.abs(behind.positionErrorMs + 60) < 15, `server measured ${behind.positionErrorMs} ms, truth -60`);
      assert.ok(behind.positionErrorAt > ahead.positionErrorAt);
    });
  });
}
