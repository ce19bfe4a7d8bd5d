// The client SDK's listening-party session (client/src/party.ts) against a real server
// process, over real WebSockets: create and join, the clock offset recovered from a
// skewed device clock, a host command reaching every member at its scheduled instant,
// resume after a dropped socket, a command cut off with its socket sent again and applied
// once [PA11], refusals, leaving and ending. Rules: [PA1]-[PA11].
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { QueueClient } from '@queue-service/client';
import { QueueServiceError } from '../../client/src/errors.ts';
import { PartySession, type PartyEventMessage, type PartyEvents, type PlaybackEvent } from '../../client/src/party.ts';
import type WebSocket from 'ws';
import { testContext, type TestContext, type WebSocketLike } from '../helpers/client-context.ts';
import { trueNow } from '../helpers/party-member.ts';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../helpers/pg.ts';
import { freePort, redisSkipReason, startRedis, stopProcess } from '../helpers/redis.ts';
import { client, mintToken, startServer, startServerOn, type RunningServer } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { newQueue as createQueue } from '../helpers/http.ts';

/** Resolves with the first emission of `event` matching `pred` (from now on). */
function next<T>(session: PartySession, event: keyof PartyEvents, pred: (v: any) => boolean = () => true, timeoutMs = 8000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no '${event}' in ${timeoutMs} ms`));
    }, timeoutMs);
    const off = session.on(event as 'event', (v: any) => {
      if (!pred(v)) return;
      clearTimeout(t);
      off();
      resolve(v as T);
    });
  });
}

/**
 * A socket that, while `eat.armed`, drops the first ack it receives and cuts the connection
 * there (the server applied the command; the answer is lost with the network).
 */
class AckEater implements WebSocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly inner: WebSocket;
  constructor(inner: WebSocket, eat: { armed: boolean; eaten: any[] }) {
    this.inner = inner;
    inner.onopen = (ev) => this.onopen?.(ev);
    inner.onerror = (ev) => this.onerror?.(ev);
    inner.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
    inner.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data));
      if (eat.armed && m.type === 'ack') {
        eat.armed = false;
        eat.eaten.push(m);
        inner.terminate();
        return;
      }
      this.onmessage?.({ data: ev.data });
    };
  }
  get readyState(): number {
    return this.inner.readyState;
  }
  send(data: string): void {
    this.inner.send(data);
  }
  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  await waitFor(cond, { timeoutMs, what });
}

describe('client SDK: PartySession (sqlite)', { timeout: 120_000 }, () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  const tokens: Record<string, string> = {};
  const sessions: PartySession[] = [];
  const ctx = (user: string, skewMs = 0): TestContext => testContext(server.url, tokens[user]!, { deviceId: `${user}-device`, skewMs });

  const newQueue = async (user = 'host', tracks = ['t1', 't2', 't3']): Promise<string> =>
    (await createQueue(client(server.url, tokens[user]), tracks, 'client party')).id;

  async function pair(opts: { hostSkew?: number; memberSkew?: number } = {}) {
    const hostCtx = ctx('host', opts.hostSkew);
    const memberCtx = ctx('m1', opts.memberSkew);
    const host = await PartySession.create(hostCtx, await newQueue());
    sessions.push(host);
    const member = await PartySession.join(memberCtx, host.id, host.inviteCode);
    sessions.push(member);
    return { host, member, hostCtx, memberCtx };
  }

  before(async () => {
    server = await startServerOn('sqlite', { env: { LOG_LEVEL: 'error' } });
    for (const u of ['host', 'm1', 'm2', 'stranger']) tokens[u] = await mintToken(server, u);
  });
  after(async () => {
    for (const s of sessions) s.close();
    await server.cleanup();
  });

  it('[PA1][PA2] create answers a hosted session with an invite code; join with it; both see the members and the queue', { timeout: 30_000 }, async () => {
    const hostCtx = ctx('host');
    const host = await PartySession.create(hostCtx, await newQueue(), { allowMemberAdds: true });
    sessions.push(host);
    assert.match(host.inviteCode, /^[A-Z2-9]{10}$/);
    assert.equal(host.status, 'online');
    assert.equal(host.isHost, true);
    assert.equal(host.state.allowMemberAdds, true);
    assert.deepEqual(
      host.members.map((m) => m.userId),
      ['host'],
    );
    await until(() => host.queue !== null, 'the party queue');
    assert.deepEqual(
      host.queue!.tracks.map((t) => t.trackId),
      ['t1', 't2', 't3'],
    );

    const joined = next<unknown>(host, 'members', (ms: { userId: string }[]) => ms.some((m) => m.userId === 'm1'));
    const member = await PartySession.join(ctx('m1'), host.id, host.inviteCode);
    sessions.push(member);
    assert.equal(member.isHost, false);
    assert.equal(member.hostId, 'host');
    assert.deepEqual(
      member.members.map((m) => m.userId),
      ['host', 'm1'],
    );
    await joined;
    assert.deepEqual(
      host.members.map((m) => m.userId),
      ['host', 'm1'],
    );
    assert.equal(host.sequenceNumber, member.sequenceNumber);

    // A wrong code and a stranger's socket are refused with the service's error.
    await assert.rejects(PartySession.join(ctx('m2'), host.id, 'AAAAAAAAAA'), (e: QueueServiceError) => e.status === 403 && e.code === 'invalid_invite_code');
    await assert.rejects(PartySession.resume(ctx('stranger'), host.id), (e: QueueServiceError) => e.status === 403 && e.code === 'not_a_member');

    // [PA5] A member's addTracks goes through; the queue event moves forward only.
    const q = next<{ queueVersion: number; tracks: { trackId: string }[] }>(member, 'queue', (u) =>
      u.tracks.some((t: { trackId: string }) => t.trackId === 'x9'),
    );
    await member.addTracks(['x9']);
    const upd = await q;
    assert.ok(upd.queueVersion > 0);
    assert.equal(member.queue!.queueVersion, upd.queueVersion);
    host.close();
    member.close();
  });

  it('[PA6] the clock offset of a device whose clock is 3.7 s fast is recovered within its round trip, by the client and by the server', {
    timeout: 30_000,
  }, async () => {
    const skew = 3700;
    const { host, member } = await pair({ memberSkew: skew });
    const c = await member.whenSynced(10);
    // offset = server clock - device clock = -skew.
    const err = Math.abs(c.offsetMs + skew);
    assert.ok(err <= Math.max(c.rttMs, 1) + 1, `offset ${c.offsetMs.toFixed(2)} vs truth ${-skew}: off by ${err.toFixed(2)} ms, rtt ${c.rttMs.toFixed(2)}`);
    assert.ok(c.samples >= 10);
    const h = await host.whenSynced(10);
    assert.ok(Math.abs(h.offsetMs) <= Math.max(h.rttMs, 1) + 1, `unskewed host offset ${h.offsetMs}`);
    // The server estimates the same member from the exchanges the client reported back (`prev`).
    let dev: { offsetMs: number; samples: number } | undefined;
    await waitFor(
      async () => {
        const view = await member.fetchView();
        dev = view.members.find((m) => m.userId === 'm1')?.devices.find((d) => d.deviceId === 'm1-device');
        return dev && dev.samples >= 5;
      },
      { timeoutMs: 8000, intervalMs: 200, what: () => `server-side samples: ${JSON.stringify(dev)}` },
    );
    assert.ok(dev && dev.samples >= 5, `server-side samples: ${JSON.stringify(dev)}`);
    assert.ok(Math.abs(dev.offsetMs + skew) <= 25, `server's estimate of the member: ${dev.offsetMs}`);
    host.close();
    member.close();
  });

  it('[PA7] a host play reaches both members as `playback` at its scheduled instant; positionNow agrees across skewed clocks', {
    timeout: 30_000,
  }, async () => {
    const { host, member } = await pair({ hostSkew: -1200, memberSkew: 2500 });
    await Promise.all([host.whenSynced(8), member.whenSynced(8)]);
    const got = Promise.all([
      next<PlaybackEvent>(host, 'playback', (p) => p.action === 'play'),
      next<PlaybackEvent>(member, 'playback', (p) => p.action === 'play'),
    ]);
    const ack = await host.play(10_000);
    assert.ok(ack.leadMs >= 80 && ack.leadMs <= 500, `lead ${ack.leadMs}`);
    const [ph, pm] = await got;
    const firedAt = trueNow();
    assert.equal(ph.sequenceNumber, ack.sequenceNumber);
    assert.equal(pm.sequenceNumber, ack.sequenceNumber);
    assert.equal(pm.at, ack.at);
    // Delivered when it takes effect: not before `at` (on the true clock, within the estimate's error).
    assert.ok(firedAt >= ack.at - 5, `delivered ${(ack.at - firedAt).toFixed(1)} ms early`);
    assert.ok(host.isPlaying() && member.isPlaying());
    // The same instant on both devices: the positions agree within a few tens of ms.
    for (let i = 0; i < 5; i++) {
      const a = host.positionNow();
      const b = member.positionNow();
      const truth = 10_000 + (trueNow() - ack.at);
      assert.ok(Math.abs(a - b) < 30, `host ${a.toFixed(1)} vs member ${b.toFixed(1)}`);
      assert.ok(Math.abs(b - truth) < 30, `member ${b.toFixed(1)} vs true position ${truth.toFixed(1)}`);
      await sleep(50); // sampled over a stretch of time on purpose: they must agree as the clock runs
    }
    // [PA9] A report 1.5 s ahead of the timeline is answered with a seek correction.
    await until(() => member.reportPosition(member.positionNow() + 1500), 'a position report');
    const corr = await next<{ action: string; errorMs: number }>(member, 'correction');
    assert.equal(corr.action, 'seek');
    assert.ok(Math.abs(corr.errorMs - 1500) < 50, `errorMs ${corr.errorMs}`);
    // [PA9]/[PA10] The error the server measured is every member's to read, through fetchView.
    const seen = await host.fetchView();
    const md = seen.members.find((m) => m.userId === 'm1')?.devices[0];
    assert.ok(
      md && md.positionErrorMs !== null && Math.abs(md.positionErrorMs - corr.errorMs) < 50,
      `member's error as the host reads it: ${JSON.stringify(md)}`,
    );
    assert.ok(md.positionErrorAt !== null && md.positionErrorAt > ack.at - 10_000);
    // Pause: positionNow stops advancing once it takes effect.
    await host.pause();
    await next(member, 'playback', (p) => p.action === 'pause');
    const p1 = member.positionNow();
    await sleep(100); // time passes and nothing moves: paused
    assert.ok(Math.abs(member.positionNow() - p1) < 0.001, 'paused');
    host.close();
    member.close();
  });

  it('[PA8] a member on a slow link is told to follow late: playback fires and positionNow runs that much behind', { timeout: 40_000 }, async () => {
    const hostCtx = ctx('host');
    // 480 ms each way: the server-to-member delay plus the 40 ms margin passes the 500 ms cap.
    const slowCtx = testContext(server.url, tokens.m1!, { deviceId: 'm1-slow', skewMs: 900, linkDelayMs: 480 });
    const host = await PartySession.create(hostCtx, await newQueue());
    sessions.push(host);
    const member = await PartySession.join(slowCtx, host.id, host.inviteCode);
    sessions.push(member);
    const d = await next<{ degraded: boolean; followDelayMs: number }>(member, 'degraded', (x) => x.degraded, 25_000);
    assert.ok(d.followDelayMs >= 400, `follow delay ${d.followDelayMs}`);
    assert.equal(member.followDelayMs, d.followDelayMs);
    const c = member.clock;
    // Symmetric delays: the estimate stays good though every round trip takes ~1 s.
    assert.ok(c.rttMs >= 900 && Math.abs(c.offsetMs + 900) <= 30, `offset ${c.offsetMs}, rtt ${c.rttMs}`);
    await host.whenSynced(5);
    const got = next<PlaybackEvent>(member, 'playback', (p) => p.action === 'play', 10_000);
    const ack = await host.play(20_000);
    // The party's lead ignores the degraded member ([PA8]), so the command reaches it after `at`...
    assert.ok(ack.leadMs < 480, `lead ${ack.leadMs}`);
    await got;
    // ...and it plays the timeline followDelayMs late: the playback fires at at + followDelayMs.
    assert.ok(trueNow() >= ack.at + d.followDelayMs - 30, `fired ${(ack.at + d.followDelayMs - trueNow()).toFixed(0)} ms early`);
    for (let i = 0; i < 3; i++) {
      const gap = host.positionNow() - member.positionNow();
      assert.ok(Math.abs(gap - d.followDelayMs) < 40, `member behind the host by ${gap.toFixed(1)} ms, follow delay ${d.followDelayMs}`);
      await sleep(50); // sampled over a stretch of time on purpose: the gap holds as the clock runs
    }
    host.close();
    member.close();
  });

  it('[RT2][PA3] a dropped socket resumes with since: the missed events arrive once each, in order', { timeout: 30_000 }, async () => {
    const { host, member, memberCtx } = await pair();
    const seen: number[] = [];
    member.on('event', (e: PartyEventMessage) => seen.push(e.sequenceNumber));
    const start = member.sequenceNumber;
    // The network goes: the socket dies and new ones cannot connect for a while.
    memberCtx.offline = true;
    memberCtx.sockets.at(-1)!.terminate();
    await until(() => member.status === 'offline', 'the member to notice');
    await host.play(0);
    await host.seek(42_000);
    await host.setAllowMemberAdds(true);
    await until(() => host.sequenceNumber >= start + 3, 'the host to see its own events');
    assert.equal(member.sequenceNumber, start, 'nothing arrives while offline');
    await sleep(300); // the member stays cut off a while longer (its reconnects keep failing)
    memberCtx.offline = false;
    await until(() => member.status === 'online' && member.sequenceNumber >= host.sequenceNumber, 'the member to catch up', 15_000);
    assert.ok(memberCtx.sockets.length >= 2, 'a new socket was opened');
    // Live again: one more event, and nothing twice.
    const paused = await host.pause();
    await until(() => member.sequenceNumber === paused.sequenceNumber, 'the live event');
    assert.deepEqual(
      seen,
      Array.from({ length: paused.sequenceNumber - start }, (_, i) => start + 1 + i),
    );
    assert.equal(member.state.allowMemberAdds, true);
    assert.equal(member.state.playback.position, host.state.playback.position);
    // The pause is scheduled ahead: playing until its instant, paused from then on.
    assert.equal(member.state.playback.isPlaying, false);
    await until(() => member.timeline()?.isPlaying === false, 'the pause to take effect');
    host.close();
    member.close();
  });

  /** The party queue's current track and version, and the member's `next` playback events. */
  async function queueNow(queueId: string) {
    const q = (await client(server.url, tokens.host)('GET', `/queues/${queueId}`)).body;
    return { track: q.items[q.currentIndex]?.trackId as string | undefined, version: q.version as number };
  }

  it('[PA11] a next whose socket is cut right after it was sent is sent again on the next socket and lands exactly once', { timeout: 30_000 }, async () => {
    const { host, member, hostCtx } = await pair();
    await host.play();
    const nexts: number[] = [];
    member.on('playback', (p: PlaybackEvent) => p.action === 'next' && nexts.push(p.sequenceNumber));
    const before = await queueNow(host.state.queueId);
    assert.equal(before.track, 't1');
    const sockets = hostCtx.sockets.length;
    const pending = host.next();
    hostCtx.sockets.at(-1)!.terminate();
    const ack = await pending;
    assert.ok(hostCtx.sockets.length > sockets, 'answered on a new socket');
    await until(() => nexts.length >= 1, 'the member to get the next');
    await sleep(300); // and no second one comes in the next 300 ms
    assert.deepEqual(nexts, [ack.sequenceNumber], 'one playback_sync');
    const after = await queueNow(host.state.queueId);
    assert.deepEqual(after, { track: 't2', version: before.version + 1 }, 'the queue moved by exactly one');
    host.close();
    member.close();
  });

  it('[PA11] a next applied whose ack was lost with the socket: the resend is answered with the first ack, nothing applies twice', {
    timeout: 30_000,
  }, async () => {
    const eat = { armed: false, eaten: [] as any[] };
    const base = ctx('host');
    const Inner = base.WebSocket;
    const hostCtx: TestContext = Object.assign(base, {
      WebSocket: function EatingCtor(url: string) {
        return new AckEater(new Inner(url) as unknown as WebSocket, eat);
      } as unknown as TestContext['WebSocket'],
    });
    const host = await PartySession.create(hostCtx, await newQueue());
    sessions.push(host);
    const member = await PartySession.join(ctx('m1'), host.id, host.inviteCode);
    sessions.push(member);
    await host.play();
    const nexts: number[] = [];
    member.on('playback', (p: PlaybackEvent) => p.action === 'next' && nexts.push(p.sequenceNumber));
    const before = await queueNow(host.state.queueId);
    eat.armed = true;
    const ack = await host.next();
    assert.equal(eat.eaten.length, 1, 'the first ack was lost');
    assert.equal(eat.eaten[0].replayed, false);
    assert.deepEqual(
      ack,
      { sequenceNumber: eat.eaten[0].sequenceNumbers[0], at: eat.eaten[0].result.at, leadMs: eat.eaten[0].result.leadMs },
      'the answer is the first ack',
    );
    await until(() => nexts.length >= 1, 'the member to get the next');
    await sleep(300); // and no second one comes in the next 300 ms
    assert.deepEqual(nexts, [ack.sequenceNumber]);
    assert.deepEqual(await queueNow(host.state.queueId), { track: 't2', version: before.version + 1 });
    host.close();
    member.close();
  });

  it('[PA11] a command still unanswered after commandTimeoutMs rejects with timeout and is not sent again', { timeout: 30_000 }, async () => {
    const hostCtx = ctx('host');
    const host = await PartySession.create(hostCtx, await newQueue(), { commandTimeoutMs: 1200 });
    sessions.push(host);
    await host.play();
    const before = await queueNow(host.state.queueId);
    // The network goes right after the command was sent, for longer than the bound.
    hostCtx.offline = true;
    const pending = host.next();
    hostCtx.sockets.at(-1)!.terminate();
    const t0 = Date.now();
    await assert.rejects(pending, (e: QueueServiceError) => e instanceof QueueServiceError && e.code === 'timeout' && /never twice/.test(e.message));
    assert.ok(Date.now() - t0 < 3000);
    hostCtx.offline = false;
    await until(() => host.status === 'online', 'the host to be back', 15_000);
    await sleep(500); // nothing is resent in the next 500 ms
    // Sent at most once (the cut may have come before it left); never resent after the timeout.
    const after = await queueNow(host.state.queueId);
    assert.ok(after.version - before.version <= 1, `moved ${after.version - before.version}`);
    const paused = await host.pause();
    assert.ok(paused.sequenceNumber > 0, 'the session still works');
    host.close();
  });

  it('[PA2] a token that expired while away: the refused upgrade asks for a fresh token, and the session resumes', { timeout: 30_000 }, async () => {
    const host = await PartySession.create(ctx('host'), await newQueue());
    sessions.push(host);
    const short = await mintToken(server, 'm1', 1);
    const fresh = tokens.m1!;
    const mctx = testContext(server.url, short, { deviceId: 'm1-expiring' });
    let current = short;
    mctx.token = async () => current;
    mctx.tokenRejected = () => {
      mctx.rejected++;
      current = fresh;
    };
    const member = await PartySession.join(mctx, host.id, host.inviteCode);
    sessions.push(member);
    // Wait for the short token to expire, then the network drops.
    await waitFor(async () => (await client(server.url, short)('GET', `/parties/${host.id}`)).status === 401, {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'the short token to expire',
    });
    assert.equal((await client(server.url, short)('GET', `/parties/${host.id}`)).status, 401);
    mctx.sockets.at(-1)!.terminate();
    await until(() => member.status === 'offline', 'the member to notice');
    await until(() => member.status === 'online', 'the member to be back with a fresh token', 15_000);
    assert.ok(mctx.rejected >= 1, 'the refused token was reported');
    const got = next<PlaybackEvent>(member, 'playback', (p) => p.action === 'play');
    await host.play();
    await got;
    host.close();
    member.close();
  });

  it("[PA3][PA7] a member's playback command is refused (not_the_host) until hosting is handed to it", { timeout: 30_000 }, async () => {
    const { host, member } = await pair();
    await assert.rejects(member.play(), (e: QueueServiceError) => e instanceof QueueServiceError && e.status === 403 && e.code === 'not_the_host');
    const moved = Promise.all([next(host, 'host', (h) => h === 'm1'), next(member, 'host', (h) => h === 'm1')]);
    await host.handHostTo('m1');
    await moved;
    assert.equal(member.isHost, true);
    assert.equal(host.isHost, false);
    const ack = await member.next();
    assert.ok(ack.sequenceNumber > 0);
    await assert.rejects(host.pause(), (e: QueueServiceError) => e.code === 'not_the_host');
    host.close();
    member.close();
  });

  it('[SDK][PA1] the package: client.createParty and client.joinParty give live sessions; client.close() closes them', { timeout: 30_000 }, async () => {
    const a = new QueueClient({ baseUrl: server.url, token: tokens.host!, deviceId: 'pkg-host' });
    const b = new QueueClient({ baseUrl: server.url, token: tokens.m2!, deviceId: 'pkg-m2' });
    try {
      const hostParty = await a.createParty(await newQueue(), { allowMemberAdds: true });
      const memberParty = await b.joinParty(hostParty.id, hostParty.inviteCode);
      assert.equal(hostParty.isHost, true);
      assert.deepEqual(
        memberParty.members.map((m) => m.userId),
        ['host', 'm2'],
      );
      await memberParty.whenSynced(3);
      const got = new Promise<{ sequenceNumber: number }>((resolve) => memberParty.once('playback', resolve));
      const ack = await hostParty.play(1000);
      assert.equal((await got).sequenceNumber, ack.sequenceNumber);
      assert.ok(Math.abs(memberParty.positionNow() - hostParty.positionNow()) < 30);
      await b.close();
      assert.equal(memberParty.status, 'closed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("[PA3] leave ends the leaver's session and the others see it; end closes every session with `ended`", { timeout: 30_000 }, async () => {
    const { host, member } = await pair();
    const m2 = await PartySession.join(ctx('m2'), host.id, host.inviteCode);
    sessions.push(m2);
    const left = next<{ userId: string }[]>(host, 'members', (ms) => !ms.some((m: { userId: string }) => m.userId === 'm2'));
    const m2Ended = next<{ reason: string }>(m2, 'ended');
    await m2.leave();
    assert.equal((await m2Ended).reason, 'left');
    await left;
    assert.equal(m2.status, 'ended');

    const ends = Promise.all([next<{ reason: string }>(host, 'ended'), next<{ reason: string }>(member, 'ended')]);
    await host.end();
    const [eh, em] = await ends;
    assert.equal(eh.reason, 'ended_by_host');
    assert.equal(em.reason, 'ended_by_host');
    assert.equal(member.status, 'ended');
    assert.equal(member.state.status, 'ended');
    await until(() => Reflect.get(member, 'socket').active === false, 'the socket to be dropped');
    assert.equal(member.reportPosition(0), false);
    await assert.rejects(member.play(), (e: QueueServiceError) => e instanceof QueueServiceError && e.code === 'party_ended');
    await assert.rejects(PartySession.join(ctx('m2'), host.id, host.inviteCode), (e: QueueServiceError) => e.code === 'party_ended');
  });
});

describe('client SDK: PartySession on two instances (Postgres + Redis)', { skip: pgSkipReason || redisSkipReason, timeout: 120_000 }, () => {
  let db: TempDatabase;
  let redis: ChildProcess;
  let a: RunningServer;
  let b: RunningServer;
  const tokens: Record<string, string> = {};

  before(async () => {
    db = await createTempDatabase();
    const redisPort = await freePort();
    redis = await startRedis(redisPort);
    const adminKey = randomBytes(16).toString('hex');
    const env = { LOG_LEVEL: 'error', REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: `qs-cparty-${randomBytes(4).toString('hex')}:` };
    // One at a time: both would apply the migrations.
    a = await startServer({ databaseUrl: db.url, adminKey, env });
    b = await startServer({ databaseUrl: db.url, adminKey, env });
    for (const u of ['host', 'm1']) tokens[u] = await mintToken(a, u);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    if (redis) await stopProcess(redis);
    await db?.drop();
  });

  it('[PA10][PA7] host on one instance, member on the other: the play reaches both, positions agree, end reaches both', { timeout: 60_000 }, async () => {
    const q = await client(a.url, tokens.host)('POST', '/queues', { name: 'two instances', tracks: ['x', 'y'] });
    assert.equal(q.status, 201);
    const host = await PartySession.create(testContext(a.url, tokens.host!, { deviceId: 'host-a' }), q.body.queue.id);
    const member = await PartySession.join(testContext(b.url, tokens.m1!, { deviceId: 'm1-b', skewMs: -2300 }), host.id, host.inviteCode);
    try {
      await until(() => host.members.length === 2, 'the host to see the member joined on the other instance');
      const c = await member.whenSynced(8);
      assert.ok(Math.abs(c.offsetMs - 2300) <= Math.max(c.rttMs, 1) + 1, `offset ${c.offsetMs}`);
      await host.whenSynced(8);
      // Each device applies the play when its own copy arrives, at the play's instant: wait for
      // both before comparing (on a busy host the member's instance delivered first and the
      // host's position was still 0).
      const got = Promise.all([
        next<PlaybackEvent>(host, 'playback', (p) => p.action === 'play'),
        next<PlaybackEvent>(member, 'playback', (p) => p.action === 'play'),
      ]);
      const ack = await host.play(5000);
      const [ph, pb] = await got;
      assert.equal(ph.sequenceNumber, ack.sequenceNumber);
      assert.equal(pb.sequenceNumber, ack.sequenceNumber);
      assert.ok(trueNow() >= ack.at - 5, 'delivered at its instant, not before');
      assert.ok(Math.abs(host.positionNow() - member.positionNow()) < 30, `host ${host.positionNow()} vs member ${member.positionNow()}`);
      const ended = new Promise<{ reason: string }>((resolve) => member.once('ended', resolve));
      await host.end();
      assert.equal((await ended).reason, 'ended_by_host');
    } finally {
      host.close();
      member.close();
    }
  });
});
