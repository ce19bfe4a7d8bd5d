// bench:party — listening-party sync with 100 simulated members over real WebSockets:
// clock offsets up to +/-5 s, one-way delays 20-150 ms with +/-30 ms jitter (injected in the
// client, test/helpers/party-member.ts). Measures the spread of members' playback positions
// at the same true instant (pairwise, p50/p99/max ms), their deviation from the party
// timeline, and how long clock sync takes after joining; then runs the seed's "average
// latency" approach (bench/party-baseline.ts) with the same members and links, and prints ratios.
// Run by hand: `npm run bench:party` (BENCH_MEMBERS, BENCH_SEED, BENCH_WINDOW_MS; BENCH_DEBUG=1 lists
// members that took over 2 s to sync).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { positionAt, type Timeline } from '../src/party/clock.ts';
import { pct, seeded, SimMember, spreadStats, trueNow, type LinkModel } from '../test/helpers/party-member.ts';
import { client, mintToken, startServerOn } from '../test/helpers/server.ts';

const N = Number(process.env.BENCH_MEMBERS ?? 100);
const LATE = Math.max(1, Math.round(N / 10));
const SEED = Number(process.env.BENCH_SEED ?? 1);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 2000);
const JITTER = 30;
const SYNC_MS = 3000; // clock exchanges before the first command
const SYNCED_WITHIN = 5; // ms of clock error that counts as synced

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const profileRng = seeded(SEED);
const profiles = Array.from({ length: N }, () => ({ skewMs: (profileRng() * 2 - 1) * 5000, baseMs: 20 + profileRng() * 130 }));
const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x));

interface Result {
  pairs: number[];
  ranges: number[];
  deviations: number[];
  syncMs: number[];
  lateArrivals: number;
  arrivals: number;
  leads: number[];
}

/** Positions of all members at `count` true instants, `every` ms apart; with the truth at each instant. */
async function sample(positionOf: ((t: number) => number | null)[], truth: (t: number) => number, durationMs: number) {
  const instants: number[][] = [];
  const deviations: number[] = [];
  const end = trueNow() + durationMs;
  while (trueNow() < end) {
    const t = trueNow();
    const ps = positionOf.map((f) => f(t));
    if (ps.every((p) => p !== null)) {
      instants.push(ps as number[]);
      const tr = truth(t);
      for (const p of ps as number[]) deviations.push(Math.abs(p - tr));
    }
    await sleep(40);
  }
  return { instants, deviations };
}

// ---------------------------------------------------------------- ours

async function ours(): Promise<Result> {
  const server = await startServerOn('sqlite', { env: { LOG_LEVEL: 'error' } });
  const members: SimMember[] = [];
  try {
    const tokens: string[] = [];
    for (let i = 0; i < N; i += 20) tokens.push(...(await Promise.all(profiles.slice(i, i + 20).map((_, k) => mintToken(server, `bench-${i + k}`)))));
    const host = client(server.url, tokens[0]);
    const q = await host('POST', '/queues', { name: 'bench party', tracks: ['a', 'b', 'c'] });
    const party = (await host('POST', '/parties', { queueId: q.body.queue.id })).body;
    for (let i = 1; i < N; i += 20) {
      await Promise.all(tokens.slice(i, i + 20).map((t) => client(server.url, t)('POST', `/parties/${party.id}/join`, { inviteCode: party.inviteCode })));
    }
    const linkRng = seeded(SEED + 1000);
    const open = async (i: number) => {
      const link: LinkModel = { baseMs: profiles[i]!.baseMs, jitterMs: JITTER, rng: linkRng };
      const m = await SimMember.connect(server.url, party.id, { token: tokens[i]!, skewMs: profiles[i]!.skewMs, link, deviceId: `dev-${i}` });
      members[i] = m;
      m.startPinging(40);
      setTimeout(() => m.ws.readyState === m.ws.OPEN && m.startPinging(250), SYNC_MS).unref();
    };
    const early = N - LATE;
    await Promise.all(Array.from({ length: early }, (_, i) => open(i)));
    await sleep(SYNC_MS);

    const leads: number[] = [];
    const hostM = members[0]!;
    const command = async (msg: Record<string, unknown>, id: string): Promise<Timeline> => {
      hostM.send({ type: 'playback_sync', ...msg, mutationId: id });
      const ack = await hostM.waitFor((m) => m.type === 'ack' && m.mutationId === id, 10_000);
      const sync = await hostM.waitFor((m) => m.type === 'playback_sync' && m.sequenceNumber === ack.sequenceNumbers[0], 10_000);
      leads.push(ack.result.leadMs);
      return { position: sync.position, at: sync.at, isPlaying: sync.isPlaying, rate: sync.rate, itemId: sync.itemId };
    };

    // Window A: the early members, after play.
    const play = await command({ action: 'play' }, 'play');
    await Promise.all(members.slice(0, early).map((m) => m.waitFor((x) => x.type === 'playback_sync' && x.at === play.at, 10_000)));
    await sleep(Math.max(0, play.at - trueNow()) + 300);
    const a = await sample(
      members.slice(0, early).map((m) => (t: number) => m.positionAt(t)),
      (t) => positionAt(play, t),
      WINDOW_MS,
    );

    // Late joiners connect while the party plays; then a seek; window B: everyone.
    await Promise.all(Array.from({ length: LATE }, (_, k) => open(early + k)));
    await sleep(SYNC_MS);
    const seek = await command({ action: 'seek', position: 60_000 }, 'seek');
    await Promise.all(members.map((m) => m.waitFor((x) => x.type === 'playback_sync' && x.at === seek.at, 10_000)));
    await sleep(Math.max(0, seek.at - trueNow()) + 300);
    const b = await sample(
      members.map((m) => (t: number) => m.positionAt(t)),
      (t) => positionAt(seek, t),
      WINDOW_MS,
    );

    const { pairs, ranges } = spreadStats([...a.instants, ...b.instants]);
    // Time to sync: from the socket opening until the clock error is within SYNCED_WITHIN ms for good.
    const syncMs = members.map((m) => {
      let last = m.openedAt;
      for (const [t, err] of m.errorLog) if (err > SYNCED_WITHIN) last = t;
      const final = m.errorLog.at(-1);
      return final && final[1] <= SYNCED_WITHIN ? m.errorLog.find(([t]) => t > last)![0] - m.openedAt : Infinity;
    });
    if (process.env.BENCH_DEBUG) {
      members.forEach((m, i) => {
        if (syncMs[i]! > 2000) {
          const st = m.estimator.stats()!;
          console.log(
            i,
            'base',
            profiles[i]!.baseMs.toFixed(1),
            'sync',
            syncMs[i],
            'err',
            m.errorLog.slice(-3).map(([t, e]) => [(t - m.openedAt).toFixed(0), e.toFixed(2)]),
            'samples',
            st.samples,
            'used',
            st.used,
            'rtt',
            st.rttMs.toFixed(1),
            'unc',
            st.uncertaintyMs.toFixed(1),
            'bound',
            st.boundMs.toFixed(1),
            'maxErrAfter3s',
            Math.max(...m.errorLog.filter(([t]) => t - m.openedAt > 3000).map(([, e]) => e)).toFixed(2),
          );
        }
      });
    }
    const arrivals = members.flatMap((m) => m.arrivals);
    return {
      pairs,
      ranges,
      deviations: [...a.deviations, ...b.deviations],
      syncMs,
      lateArrivals: arrivals.filter((x) => x < 0).length,
      arrivals: arrivals.length,
      leads,
    };
  } finally {
    await Promise.all(members.map((m) => m?.close().catch(() => undefined)));
    await server.cleanup();
  }
}

// ---------------------------------------------------------------- baseline

/** A member of the seed's approach: measures its latency, reports it, adds the party average to positions it receives. */
class BaselineMember {
  private upTail = 0;
  private downTail = 0;
  private rtts: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The position at true time recvTrue, and whether playing. */
  anchor: { position: number; recvTrue: number; isPlaying: boolean; serverTs: number } | null = null;
  private waiters: ((m: any) => void)[] = [];

  readonly ws: WebSocket;
  readonly skewMs: number;
  readonly link: LinkModel;
  constructor(ws: WebSocket, skewMs: number, link: LinkModel) {
    this.ws = ws;
    this.skewMs = skewMs;
    this.link = link;
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      this.later('down', () => this.receive(m));
    });
  }

  static open(url: string, skewMs: number, link: LinkModel): Promise<BaselineMember> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new BaselineMember(ws, skewMs, link)));
      ws.once('error', reject);
    });
  }

  clock(): number {
    return trueNow() + this.skewMs;
  }

  private later(dir: 'up' | 'down', fn: () => void): void {
    const now = trueNow();
    const d = Math.max(0, this.link.baseMs + ((this.link.rng ?? Math.random)() * 2 - 1) * this.link.jitterMs);
    const due = Math.max(now + d, dir === 'up' ? this.upTail : this.downTail);
    if (dir === 'up') this.upTail = due;
    else this.downTail = due;
    setTimeout(fn, Math.max(0, due - now));
  }

  send(msg: object): void {
    this.later('up', () => this.ws.readyState === this.ws.OPEN && this.ws.send(JSON.stringify(msg)));
  }

  startPinging(ms: number): void {
    this.stop();
    this.timer = setInterval(() => this.send({ type: 'latency_measurement', ping: this.clock() }), ms);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private receive(m: any): void {
    if (m.type === 'latency_measurement') {
      this.rtts.push(this.clock() - m.ping);
      // The seed's memberLatencies: this member's latency, reported now and then.
      if (this.rtts.length % 5 === 0) this.send({ type: 'latency_report', latency: this.rtts.reduce((a, b) => a + b, 0) / this.rtts.length / 2 });
    } else if (m.type === 'playback_sync') {
      this.anchor = { position: m.data.position + m.averageLatency, recvTrue: trueNow(), isPlaying: m.data.isPlaying, serverTs: m.timestamp };
      for (const w of this.waiters.splice(0)) w(m);
    }
  }

  next(): Promise<any> {
    return new Promise((r) => this.waiters.push(r));
  }

  positionAt(t: number): number | null {
    const a = this.anchor;
    if (!a) return null;
    // Elapsed time by its own clock: the offset cancels.
    return a.isPlaying ? a.position + (t - a.recvTrue) : a.position;
  }
}

async function baseline(): Promise<Result> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'party-baseline.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) =>
    proc.stdout!.on('data', (d) => {
      const m = /listening on (\S+)/.exec(String(d));
      if (m) resolve(m[1]!);
    }),
  );
  const members: BaselineMember[] = [];
  try {
    const linkRng = seeded(SEED + 1000);
    const open = async (i: number) => {
      const m = await BaselineMember.open(url, profiles[i]!.skewMs, { baseMs: profiles[i]!.baseMs, jitterMs: JITTER, rng: linkRng });
      members[i] = m;
      m.startPinging(40);
      setTimeout(() => m.startPinging(250), SYNC_MS).unref();
    };
    const early = N - LATE;
    await Promise.all(Array.from({ length: early }, (_, i) => open(i)));
    await sleep(SYNC_MS);
    const command = async (position: number, group: BaselineMember[]) => {
      const got = Promise.all(group.map((m) => m.next()));
      members[0]!.send({ type: 'playback_sync', position, isPlaying: true });
      const msgs = await got;
      return msgs[0].timestamp as number; // server time of the broadcast = when the truth starts
    };
    const ts1 = await command(0, members.slice(0, early));
    const a = await sample(
      members.slice(0, early).map((m) => (t: number) => m.positionAt(t)),
      (t) => t - ts1,
      WINDOW_MS,
    );
    await Promise.all(Array.from({ length: LATE }, (_, k) => open(early + k)));
    await sleep(SYNC_MS);
    const ts2 = await command(60_000, members);
    const b = await sample(
      members.map((m) => (t: number) => m.positionAt(t)),
      (t) => 60_000 + (t - ts2),
      WINDOW_MS,
    );
    const { pairs, ranges } = spreadStats([...a.instants, ...b.instants]);
    return { pairs, ranges, deviations: [...a.deviations, ...b.deviations], syncMs: [], lateArrivals: 0, arrivals: 0, leads: [] };
  } finally {
    for (const m of members) {
      m?.stop();
      m?.ws.close();
    }
    proc.kill('SIGTERM');
  }
}

// ---------------------------------------------------------------- report

console.log(
  `bench:party — ${N} members (${LATE} join while the party plays), clock offsets up to +/-5 s, one-way 20-150 ms +/- ${JITTER} ms jitter, seed ${SEED}`,
);
const t0 = Date.now();
const o = await ours();
console.log(`ours done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const t1 = Date.now();
const s = await baseline();
console.log(`baseline done in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`);

const row = (name: string, ov: number, bv: number) =>
  console.log(`${name.padEnd(44)} ${f2(ov).padStart(10)} ${f2(bv).padStart(12)} ${(bv / ov).toFixed(1).padStart(8)}x`);
console.log(`${'(ms)'.padEnd(44)} ${'ours'.padStart(10)} ${'baseline'.padStart(12)} ${'ratio'.padStart(9)}`);
row('pairwise position spread, p50', pct(o.pairs, 0.5), pct(s.pairs, 0.5));
row('pairwise position spread, p99', pct(o.pairs, 0.99), pct(s.pairs, 0.99));
row('pairwise position spread, max', maxOf(o.pairs), maxOf(s.pairs));
row('range (max - min) at an instant, p50', pct(o.ranges, 0.5), pct(s.ranges, 0.5));
row('range (max - min) at an instant, max', maxOf(o.ranges), maxOf(s.ranges));
row('|position - party timeline|, p99', pct(o.deviations, 0.99), pct(s.deviations, 0.99));
row('|position - party timeline|, max', maxOf(o.deviations), maxOf(s.deviations));
console.log('');
console.log(
  `ours: time to sync after join (clock error <= ${SYNCED_WITHIN} ms for good): p50 ${f1(pct(o.syncMs, 0.5))} ms, p99 ${f1(pct(o.syncMs, 0.99))} ms, max ${f1(maxOf(o.syncMs))} ms; never synced: ${o.syncMs.filter((x) => !Number.isFinite(x)).length}`,
);
console.log(`ours: playback_sync arriving after its instant: ${o.lateArrivals} of ${o.arrivals}; leads ${o.leads.join(', ')} ms`);
console.log(
  `samples: ${o.pairs.length} pairs (ours), ${s.pairs.length} pairs (baseline); baseline has no clock sync: a member's position is set when the message arrives`,
);
process.exit(0);
