// Listening parties against a real server process, with real WebSocket clients. The
// sync test simulates members whose clocks are seconds off and whose links are slow and
// jittery (applied in the test client, see test/helpers/party-member.ts). Rules: [PA1]-[PA9].
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CORRECTION, DEFAULT_SCHEDULE } from '../../src/party/clock.ts';
import { pct, seeded, SimMember, spreadStats, trueNow, upgradeStatus } from '../helpers/party-member.ts';
import { client, mintToken, startServerOn, type RunningServer } from '../helpers/server.ts';
import { connect, type TestSocket } from '../helpers/ws.ts';
import { sleep } from '../helpers/wait.ts';

describe('listening parties (sqlite)', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  const tokens: Record<string, string> = {};
  const sockets: TestSocket[] = [];
  const members: SimMember[] = [];
  const api = (user: string) => client(server.url, tokens[user]);
  const open = async (user: string, partyId: string, query: Record<string, string | number> = {}) => {
    const s = await connect(server.url, `/ws/party/${partyId}`, { token: tokens[user], query });
    sockets.push(s);
    return s;
  };

  before(async () => {
    server = await startServerOn('sqlite', { env: { LOG_LEVEL: 'error' } });
    const users = ['host', 'stranger', ...Array.from({ length: 12 }, (_, i) => `m${i}`)];
    await Promise.all(users.map(async (u) => (tokens[u] = await mintToken(server, u))));
  });
  after(async () => {
    for (const m of members) await m.close().catch(() => undefined);
    for (const s of sockets) await s.close().catch(() => undefined);
    await server.cleanup();
  });

  async function newParty(others: string[] = [], body: Record<string, unknown> = {}) {
    const q = await api('host')('POST', '/queues', { name: 'party', tracks: ['t1', 't2', 't3'] });
    assert.equal(q.status, 201);
    const p = await api('host')('POST', '/parties', { queueId: q.body.queue.id, ...body });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    for (const u of others) {
      const j = await api(u)('POST', `/parties/${p.body.id}/join`, { inviteCode: p.body.inviteCode });
      assert.equal(j.status, 200, JSON.stringify(j.body));
    }
    return { party: p.body, queue: q.body.queue };
  }

  it('[PA1] a party has an id and an invite code; joining needs the code; GET shows members and state', async () => {
    const { party, queue } = await newParty();
    assert.match(party.id, /^[0-9a-f-]{36}$/);
    assert.match(party.inviteCode, /^[A-Z2-9]{10}$/);
    assert.equal(party.hostId, 'host');
    assert.equal(party.queueId, queue.id);
    const wrong = await api('m0')('POST', `/parties/${party.id}/join`, { inviteCode: 'AAAAAAAAAA' });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.error.code, 'invalid_invite_code');
    const ok = await api('m0')('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode });
    assert.equal(ok.status, 200);
    const again = await api('m0')('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode });
    assert.equal(again.body.sequenceNumber, ok.body.sequenceNumber, 'joining twice changes nothing');
    const got = await api('m0')('GET', `/parties/${party.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(
      got.body.members.map((m: any) => [m.userId, m.isHost, m.online]),
      [
        ['host', true, false],
        ['m0', false, false],
      ],
    );
    assert.equal(got.body.status, 'active');
    assert.equal(got.body.playback.isPlaying, false);
    // One active party per queue; a queue the caller cannot see is a 404.
    const dup = await api('host')('POST', '/parties', { queueId: queue.id });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, 'party_exists');
    assert.equal((await api('m0')('POST', '/parties', { queueId: queue.id })).status, 404);
  });

  it('[PA2] non-members are refused at the upgrade and on GET; members get hello, snapshot and the queue', async () => {
    const { party, queue } = await newParty(['m0']);
    assert.equal(await upgradeStatus(server.url, `/ws/party/${party.id}`, tokens.stranger), 403);
    assert.equal(await upgradeStatus(server.url, '/ws/party/no-such-party', tokens.stranger), 404);
    assert.equal(await upgradeStatus(server.url, `/ws/party/${party.id}`), 401);
    assert.equal((await api('stranger')('GET', `/parties/${party.id}`)).status, 403);
    const s = await open('m0', party.id);
    const hello = await s.waitFor((m) => m.type === 'hello');
    assert.equal(s.messages[0].type, 'hello');
    assert.equal(hello.stream, 'party');
    assert.equal(hello.sequenceNumber, party.sequenceNumber + 1);
    const snap = await s.waitFor((m) => m.type === 'snapshot');
    assert.deepEqual(
      snap.data.members.map((m: any) => m.userId),
      ['host', 'm0'],
    );
    const qu = await s.waitFor((m) => m.type === 'queue_updated');
    assert.equal(qu.queueId, queue.id);
    assert.deepEqual(
      qu.tracks.map((t: any) => t.trackId),
      ['t1', 't2', 't3'],
    );
  });

  it('[PA6] a latency_measurement ping is answered at once with the server clock', async () => {
    const { party } = await newParty();
    const s = await open('host', party.id);
    await s.waitFor((m) => m.type === 'hello');
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const from = s.messages.length;
      const before = Date.now();
      s.send({ type: 'latency_measurement', ping: 123_456 + i });
      const pong = await s.waitFor((m) => m.type === 'latency_measurement' && m.ping === 123_456 + i, 2000, from);
      const afterT = Date.now();
      assert.deepEqual(Object.keys(pong).sort(), ['ping', 'pong', 'type']);
      assert.ok(pong.pong >= before && pong.pong <= afterT, `pong ${pong.pong} not in [${before}, ${afterT}]`);
      rtts.push(afterT - before);
    }
    assert.ok(Math.min(...rtts) < 50, `round trips ${rtts}`);
    const bad = s.messages.length;
    s.send({ type: 'latency_measurement', ping: 'x' });
    const refused = await s.waitFor((m) => m.type === 'error', 2000, bad);
    assert.equal(refused.error.code, 'invalid_message');
    assert.equal(refused.status, 400);
  });

  it('[PA6][PA7][PA8][PA9] skewed clocks, slow jittery links: members play the same position at the same instant', async () => {
    const normal = ['host', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
    const { party } = await newParty([...normal.slice(1), 'm8']);
    const rng = seeded(2024);
    const sims: SimMember[] = [];
    for (const u of normal) {
      const m = await SimMember.connect(server.url, party.id, {
        token: tokens[u]!,
        skewMs: (rng() * 2 - 1) * 4000,
        link: { baseMs: 20 + rng() * 130, jitterMs: 30, rng },
        deviceId: `${u}-phone`,
      });
      sims.push(m);
      members.push(m);
    }
    // m8 is on a link too slow for the party's 500 ms cap.
    const slow = await SimMember.connect(server.url, party.id, {
      token: tokens.m8!,
      skewMs: 2500,
      link: { baseMs: 560, jitterMs: 20, rng },
      deviceId: 'm8-phone',
    });
    members.push(slow);
    for (const m of [...sims, slow]) m.startPinging(40);
    const degraded = await slow.waitFor((m) => m.type === 'sync_degraded', 8000);
    await sleep(Math.max(0, 2600 - (trueNow() - sims[0]!.openedAt))); // the members have pinged for 2.6 s: a fixed span of exchanges

    // The server's per-member estimate matches each member's real clock offset.
    const view = (await api('host')('GET', `/parties/${party.id}`)).body;
    for (const [i, m] of sims.entries()) {
      const dev = view.members.find((x: any) => x.userId === normal[i]).devices[0];
      assert.ok(Math.abs(dev.offsetMs + m.opts.skewMs) < 10, `${normal[i]}: server thinks ${dev.offsetMs}, skew ${m.opts.skewMs}`);
      assert.equal(dev.degraded, false);
    }
    assert.equal(degraded.degraded, true);
    assert.ok(degraded.followDelayMs >= 560 + DEFAULT_SCHEDULE.marginMs - DEFAULT_SCHEDULE.minLeadMs, JSON.stringify(degraded));

    // The host plays, over its socket.
    const host = sims[0]!;
    host.send({ type: 'playback_sync', action: 'play', mutationId: 'play-1' });
    const ack = await host.waitFor((m) => m.type === 'ack' && m.mutationId === 'play-1');
    const slowestNormal = Math.max(...view.members.filter((x: any) => x.userId !== 'm8').map((x: any) => x.devices[0].oneWayMs));
    // Scheduled for the slowest member that keeps up, not for the degraded one.
    assert.ok(ack.result.leadMs >= slowestNormal + DEFAULT_SCHEDULE.marginMs - 1, `lead ${ack.result.leadMs} vs slowest ${slowestNormal}`);
    assert.ok(ack.result.leadMs <= DEFAULT_SCHEDULE.maxLeadMs);
    for (const m of [...sims, slow]) await m.waitFor((x) => x.type === 'playback_sync' && x.sequenceNumber === ack.sequenceNumbers[0], 5000);
    // Everyone had it before its instant came (on its own clock, follow delay included).
    for (const m of [...sims, slow]) assert.ok(m.arrivals.at(-1)! > 0, `arrived ${m.arrivals.at(-1)} ms before at`);
    await sleep(Math.max(0, ack.result.at - Date.now()) + 700); // until 700 ms past the scheduled instant: what is measured is the clock

    const instants: number[][] = [];
    const slowLag: number[] = [];
    for (let k = 0; k < 25; k++) {
      const t = trueNow();
      const ps = sims.map((m) => m.positionAt(t)!);
      instants.push(ps);
      slowLag.push(ps[0]! - slow.positionAt(t)!);
      await sleep(20); // sampled over a stretch of time on purpose
    }
    const { pairs, ranges } = spreadStats(instants);
    const p99 = pct(pairs, 0.99);
    const max = Math.max(...pairs);
    console.log(
      `# party sync (8 members): pairwise p50 ${pct(pairs, 0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms; range max ${Math.max(...ranges).toFixed(2)} ms; lead ${ack.result.leadMs} ms`,
    );
    assert.ok(
      instants.every((ps) => ps.every((p) => p > 500)),
      'playing',
    );
    assert.ok(p99 < 10, `p99 ${p99}`);
    assert.ok(max < 25, `max ${max}`);
    // The degraded member plays the same timeline, exactly its follow delay late.
    for (const lag of slowLag) assert.ok(Math.abs(lag - slow.followDelayMs) < 25, `lag ${lag} vs ${slow.followDelayMs}`);

    // [PA9] Position reports: within the threshold nothing; off by 120 ms a speed change; by 400 ms a seek.
    const [, a, b, c] = sims as [SimMember, SimMember, SimMember, SimMember];
    a.playerErrorMs = 10;
    b.playerErrorMs = 120;
    c.playerErrorMs = -400;
    const from = [a, b, c].map((m) => m.messages.length);
    for (const m of [a, b, c]) m.reportPosition();
    const rate = await b.waitFor((m) => m.type === 'sync_correction', 3000, from[1]);
    assert.equal(rate.action, 'rate');
    assert.ok(Math.abs(rate.errorMs - 120) < 10, `error ${rate.errorMs}`);
    assert.ok(rate.adjustRate < 1 && rate.adjustRate >= 1 - DEFAULT_CORRECTION.maxRateAdjust);
    const seek = await c.waitFor((m) => m.type === 'sync_correction', 3000, from[2]);
    assert.equal(seek.action, 'seek');
    assert.ok(Math.abs(seek.errorMs + 400) < 10, `error ${seek.errorMs}`);
    assert.equal(seek.at, ack.result.at, 'the timeline in force');
    await sleep(600); // no correction comes in the next 600 ms
    assert.equal(a.messages.slice(from[0]).filter((m) => m.type === 'sync_correction').length, 0, 'a 10 ms error is left alone');
  });

  it('[PA3] hand-over: the new host steers, the old one is refused', async () => {
    const { party } = await newParty(['m9']);
    const watcher = await open('m9', party.id);
    await watcher.waitFor((m) => m.type === 'queue_updated');
    const r = await api('host')('POST', `/parties/${party.id}/host`, { userId: 'm9' });
    assert.equal(r.status, 200);
    assert.equal(r.body.hostId, 'm9');
    const changed = await watcher.waitFor((m) => m.type === 'host_changed');
    assert.deepEqual([changed.hostId, changed.previousHostId, changed.reason], ['m9', 'host', 'handed_over']);
    const refused = await api('host')('POST', `/parties/${party.id}/playback`, { action: 'play' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'not_the_host');
    const played = await api('m9')('POST', `/parties/${party.id}/playback`, { action: 'play' });
    assert.equal(played.status, 200, JSON.stringify(played.body));
    assert.equal(played.body.type, 'playback_sync');
    assert.equal(played.body.isPlaying, true);
    assert.equal(played.body.trackId, 't1', 'play with nothing current starts the queue');
    assert.ok(played.body.at > played.body.timestamp);
    const next = await api('m9')('POST', `/parties/${party.id}/playback`, { action: 'next' });
    assert.equal(next.body.trackId, 't2');
    assert.equal(next.body.position, 0);
    await watcher.waitFor((m) => m.type === 'playback_sync' && m.sequenceNumber === next.body.sequenceNumber);
    // The queue moved too, through the queue service.
    const q = await api('host')('GET', `/queues/${(await api('host')('GET', `/parties/${party.id}`)).body.queueId}`);
    assert.equal(q.body.items[q.body.currentIndex].trackId, 't2');
    assert.equal((await api('m9')('POST', `/parties/${party.id}/host`, { userId: 'stranger' })).status, 409);
  });

  it('[PA3][PA4] a member who leaves is closed; after rejoining it resumes with since and gets the exact position', async () => {
    const { party } = await newParty(['m10', 'm11']);
    const other = await open('m11', party.id);
    const s = await open('m10', party.id);
    const hello = await s.waitFor((m) => m.type === 'hello');
    await s.waitFor((m) => m.type === 'queue_updated');
    const left = await api('m10')('POST', `/parties/${party.id}/leave`);
    assert.equal(left.status, 204);
    const gone = await other.waitFor((m) => m.type === 'member_left' && m.userId === 'm10');
    await s.waitFor((m) => m.type === 'member_left');
    assert.equal((await s.closed).code, 1000);
    assert.equal(await upgradeStatus(server.url, `/ws/party/${party.id}`, tokens.m10), 403);
    // Meanwhile the party plays on.
    const play = await api('host')('POST', `/parties/${party.id}/playback`, { action: 'seek', position: 60_000, isPlaying: true });
    assert.equal(play.status, 200);
    const rejoin = await api('m10')('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode });
    assert.equal(rejoin.status, 200);
    const back = await open('m10', party.id, { since: hello.sequenceNumber });
    const replay = await back.waitFor((m) => m.type === 'member_joined' && m.userId === 'm10');
    const seqs = back.messages.filter((m) => m.stream === 'party' && m.type !== 'hello' && typeof m.sequenceNumber === 'number').map((m) => m.sequenceNumber);
    assert.deepEqual(
      seqs,
      Array.from({ length: replay.sequenceNumber - hello.sequenceNumber }, (_, i) => hello.sequenceNumber + 1 + i),
      'the missed events, in order',
    );
    assert.equal(
      back.messages.some((m) => m.type === 'snapshot'),
      false,
    );
    const sync = back.messages.find((m) => m.type === 'playback_sync');
    assert.equal(sync.position, 60_000);
    assert.ok(gone.sequenceNumber < sync.sequenceNumber);
    // A late joiner's snapshot has the position for now.
    const late = await open('m11', party.id);
    const snap = await late.waitFor((m) => m.type === 'snapshot');
    const expected = 60_000 + Math.max(0, snap.data.playback.serverTime - sync.at);
    assert.ok(Math.abs(snap.data.playback.positionNow - expected) < 1, `${snap.data.playback.positionNow} vs ${expected}`);
  });

  it('[PA3] the host leaving hands over; ending closes every socket and refuses joins and upgrades', async () => {
    const { party } = await newParty(['m0', 'm1']);
    const s0 = await open('m0', party.id);
    const s1 = await open('m1', party.id);
    await s1.waitFor((m) => m.type === 'queue_updated');
    assert.equal((await api('host')('POST', `/parties/${party.id}/leave`)).status, 204);
    const hc = await s1.waitFor((m) => m.type === 'host_changed');
    assert.deepEqual([hc.hostId, hc.reason], ['m0', 'host_left']);
    assert.equal((await api('m1')('POST', `/parties/${party.id}/end`)).status, 403);
    const ended = await api('m0')('POST', `/parties/${party.id}/end`);
    assert.equal(ended.status, 200);
    assert.equal(ended.body.status, 'ended');
    for (const s of [s0, s1]) {
      await s.waitFor((m) => m.type === 'party_ended');
      assert.equal((await s.closed).code, 4404);
    }
    assert.equal(await upgradeStatus(server.url, `/ws/party/${party.id}`, tokens.m1), 404);
    const join = await api('m2')('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode });
    assert.equal(join.status, 409);
    assert.equal(join.body.error.code, 'party_ended');
    // The queue is free for a new party.
    assert.equal((await api('host')('POST', '/parties', { queueId: party.queueId })).status, 201);
  });

  it('[PA5] members add tracks only when the host allows it; every member gets queue_updated', async () => {
    const { party } = await newParty(['m2']);
    const s = await open('host', party.id);
    await s.waitFor((m) => m.type === 'queue_updated');
    const no = await api('m2')('POST', `/parties/${party.id}/tracks`, { tracks: ['mine'] });
    assert.equal(no.status, 403);
    assert.equal(no.body.error.code, 'member_adds_not_allowed');
    assert.equal((await api('m2')('PATCH', `/parties/${party.id}`, { allowMemberAdds: true })).status, 403);
    const allow = await api('host')('PATCH', `/parties/${party.id}`, { allowMemberAdds: true });
    assert.equal(allow.body.allowMemberAdds, true);
    await s.waitFor((m) => m.type === 'settings_changed' && m.allowMemberAdds === true);
    const from = s.messages.length;
    const yes = await api('m2')('POST', `/parties/${party.id}/tracks`, { tracks: ['mine', 'also-mine'] });
    assert.equal(yes.status, 200, JSON.stringify(yes.body));
    assert.equal(yes.body.events[0].deviceId, `party:${party.id}:m2`);
    const qu = await s.waitFor((m) => m.type === 'queue_updated' && m.tracks.length === 5, 3000, from);
    assert.deepEqual(
      qu.tracks.slice(3).map((t: any) => t.trackId),
      ['mine', 'also-mine'],
    );
    assert.equal(qu.queueVersion, yes.body.queue.version);
    // One message for the burst of two events.
    assert.equal(s.messages.slice(from).filter((m) => m.type === 'queue_updated').length, 1);
  });
});

describe('party socket heartbeat', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  before(async () => {
    server = await startServerOn('sqlite', { env: { LOG_LEVEL: 'error', WS_HEARTBEAT_MS: '300' } });
  });
  after(async () => {
    await server?.cleanup();
  });

  it('[RT9] a party member whose token expires while connected is closed with 4401 at the next heartbeat', async () => {
    const host = await mintToken(server, 'host');
    const member = await mintToken(server, 'member');
    const q = await client(server.url, host)('POST', '/queues', { name: 'party', tracks: ['t1'] });
    const p = await client(server.url, host)('POST', '/parties', { queueId: q.body.queue.id });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const j = await client(server.url, member)('POST', `/parties/${p.body.id}/join`, { inviteCode: p.body.inviteCode });
    assert.equal(j.status, 200, JSON.stringify(j.body));
    const short = await mintToken(server, 'member', 2);
    const expiring = await connect(server.url, `/ws/party/${p.body.id}`, { token: short });
    const live = await connect(server.url, `/ws/party/${p.body.id}`, { token: host });
    for (const s of [expiring, live]) await s.waitFor((m) => m.type === 'hello');
    const exp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp * 1000;
    const closed = await Promise.race([expiring.closed, sleep(8000).then(() => null)]);
    assert.ok(closed, 'the party socket with an expired token was not closed');
    assert.equal(closed.code, 4401);
    assert.ok(Date.now() >= exp, 'closed before the token expired');
    // The member is still in the party (an expired token is no leave), and the host's socket stays open.
    await sleep(700); // the valid socket stays open through more heartbeats
    assert.equal(live.ws.readyState, live.ws.OPEN, 'a socket with a valid token was closed');
    const got = await client(server.url, host)('GET', `/parties/${p.body.id}`);
    assert.ok(
      got.body.members.some((m: { userId: string }) => m.userId === 'member'),
      'the member left the party',
    );
    await live.close();
  });
});
