// A simulated listening-party member over a REAL WebSocket: its clock is skewed (an
// offset applied here, in the client) and its link is slow and jittery (each message
// is held back here before it is sent and after it is received, in order, as TCP
// would deliver it). It syncs its clock with the party's latency_measurement
// exchanges, using the same estimator as the server (src/party/clock.ts), and computes
// the playback position it would play at any true instant.
import WebSocket from 'ws';
import { ClockEstimator, positionAt, timelineAt, type ClockSample, type Timeline } from '../../src/party/clock.ts';
import { mulberry32 } from './random.ts';

/** A seeded PRNG (mulberry32), so runs can be repeated. */
export const seeded = mulberry32;

/**
 * The performance clock lined up with the system clock (which the server reads with
 * Date.now(), in whole ms): the mean of many readings of the difference, plus 0.5 for
 * Date.now() rounding down.
 */
function calibrate(): number {
  let sum = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) sum += Date.now() - (performance.timeOrigin + performance.now());
  return sum / n + 0.5;
}
const calibration = calibrate();

/** True time, as the server's clock counts it, with sub-millisecond resolution (epoch ms). */
export const trueNow = (): number => performance.timeOrigin + performance.now() + calibration;

export interface LinkModel {
  /** One-way base delay, ms (each direction). */
  baseMs: number;
  /** Uniform jitter +/- this, ms, drawn per message and direction. */
  jitterMs: number;
  rng?: () => number;
}

export interface TimedTimeline extends Timeline {
  sequenceNumber: number;
}

export interface MemberOptions {
  token: string;
  /** member clock = true time + skewMs */
  skewMs: number;
  link: LinkModel;
  deviceId?: string;
  since?: number;
}

export class SimMember {
  readonly messages: any[] = [];
  readonly estimator = new ClockEstimator();
  /** Timelines received, in sequence order. */
  readonly timelines: TimedTimeline[] = [];
  followDelayMs = 0;
  /** Error of the simulated player against the timeline (what position reports carry). */
  playerErrorMs = 0;
  /** [trueTime, |clock error|] after each estimate update: for the time-to-sync figures. */
  readonly errorLog: [number, number][] = [];
  /** For each playback_sync: how long before its `at` it arrived (negative: late), true ms. */
  readonly arrivals: number[] = [];
  openedAt = 0;
  private completed: { ping: number; pong: number; received: number }[] = [];
  private upTail = 0;
  private downTail = 0;
  private pinger: NodeJS.Timeout | null = null;
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly rng: () => number;

  readonly ws: WebSocket;
  readonly opts: MemberOptions;
  private constructor(ws: WebSocket, opts: MemberOptions) {
    this.ws = ws;
    this.opts = opts;
    this.rng = opts.link.rng ?? Math.random;
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      this.later('down', (due) => this.receive(m, due));
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static connect(baseUrl: string, partyId: string, opts: MemberOptions): Promise<SimMember> {
    const u = new URL(`/ws/party/${partyId}`, baseUrl.replace(/^http/, 'ws'));
    u.searchParams.set('token', opts.token);
    if (opts.deviceId) u.searchParams.set('deviceId', opts.deviceId);
    if (opts.since !== undefined) u.searchParams.set('since', String(opts.since));
    const ws = new WebSocket(u);
    const m = new SimMember(ws, opts);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        m.openedAt = trueNow();
        resolve(m);
      });
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
      ws.once('error', reject);
    });
  }

  /** This member's (skewed) clock. */
  clock(): number {
    return trueNow() + this.opts.skewMs;
  }

  private delay(): number {
    const { baseMs, jitterMs } = this.opts.link;
    return Math.max(0, baseMs + (this.rng() * 2 - 1) * jitterMs);
  }

  /**
   * Runs fn after the link's delay, never before an earlier message of the same direction.
   * fn gets the true time the message was due: when this process's timers run late (a busy
   * host), that lateness is the harness's, not the link's or the server's.
   */
  private later(dir: 'up' | 'down', fn: (due: number) => void): void {
    const now = trueNow();
    const due = Math.max(now + this.delay(), dir === 'up' ? this.upTail : this.downTail);
    if (dir === 'up') this.upTail = due;
    else this.downTail = due;
    setTimeout(() => fn(due), Math.max(0, due - now));
  }

  send(msg: Record<string, unknown>): void {
    // The clock fields are read when the message is handed to the link, as a real client would.
    this.later('up', () => {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
    });
  }

  /** A ping now (with the previous exchange for the server), then every intervalMs. */
  startPinging(intervalMs: number): void {
    this.stopPinging();
    const tick = () => this.ping();
    tick();
    this.pinger = setInterval(tick, intervalMs);
  }

  stopPinging(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
  }

  ping(): void {
    const prev = this.completed.shift();
    const msg: Record<string, unknown> = { type: 'latency_measurement', ping: 0 };
    if (prev) msg.prev = prev;
    // Stamped when handed to the (simulated) link: the link delay is part of the up leg.
    msg.ping = this.clock();
    this.send(msg);
  }

  private receive(m: any, due: number = trueNow()): void {
    this.messages.push(m);
    if (m.type === 'latency_measurement' && typeof m.pong === 'number') {
      const s: ClockSample = { t0: m.ping, t1: m.pong, t3: due + this.opts.skewMs };
      this.completed.push({ ping: m.ping, pong: m.pong, received: s.t3 });
      this.estimator.add(s);
      const off = this.offset();
      if (off !== null) this.errorLog.push([trueNow(), Math.abs(off + this.opts.skewMs)]);
    } else if (m.type === 'playback_sync' || m.type === 'sync_correction') {
      if (m.type === 'playback_sync') {
        const off = this.offset();
        // Measured at the instant the link delivered it (its timer may have fired late).
        if (off !== null) this.arrivals.push(m.at - (due + this.opts.skewMs + off - this.followDelayMs));
      }
      this.addTimeline({ position: m.position, at: m.at, isPlaying: m.isPlaying, rate: m.rate, itemId: m.itemId, sequenceNumber: m.sequenceNumber });
      if (m.type === 'sync_correction' && m.action === 'seek') this.playerErrorMs = 0;
    } else if (m.type === 'snapshot' && m.data?.playback) {
      const p = m.data.playback;
      this.addTimeline({ position: p.position, at: p.at, isPlaying: p.isPlaying, rate: p.rate, itemId: p.itemId, sequenceNumber: p.sequenceNumber });
    } else if (m.type === 'sync_degraded') {
      this.followDelayMs = m.followDelayMs;
    }
    for (const w of [...this.waiters]) {
      if (w.pred(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  private addTimeline(tl: TimedTimeline): void {
    if (this.timelines.some((t) => t.sequenceNumber === tl.sequenceNumber)) return;
    this.timelines.push(tl);
    this.timelines.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  }

  /** server clock - member clock, as this member estimates it; null before the first exchange. */
  offset(): number | null {
    return this.estimator.stats()?.offsetMs ?? null;
  }

  /** The server time this member believes it is at true time t. */
  serverTimeAt(t: number): number | null {
    const off = this.offset();
    return off === null ? null : t + this.opts.skewMs + off;
  }

  /** The position this member plays at true time t (ms), from what it has received; null if it cannot tell. */
  positionAt(t: number): number | null {
    const st = this.serverTimeAt(t);
    if (st === null) return null;
    const at = st - this.followDelayMs;
    const tl = timelineAt(this.timelines, at);
    return tl ? positionAt(tl, at) : null;
  }

  /** Reports its player's position now (the timeline's, plus playerErrorMs). */
  reportPosition(itemId?: string | null): void {
    const now = trueNow();
    const pos = this.positionAt(now);
    if (pos === null) return;
    this.send({ type: 'position_report', position: pos + this.playerErrorMs, timestamp: now + this.opts.skewMs, ...(itemId !== undefined ? { itemId } : {}) });
  }

  waitFor(pred: (m: any) => boolean, timeoutMs = 5000, fromIndex = 0): Promise<any> {
    const found = this.messages.slice(fromIndex).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: any) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const recent = this.messages
          .filter((m) => m.type !== 'latency_measurement')
          .slice(-3)
          .map((m) => (m.type === 'snapshot' ? 'snapshot' : m));
        reject(
          new Error(
            `${this.opts.deviceId ?? 'member'} timed out; messages but pongs: ${this.messages.filter((m) => m.type !== 'latency_measurement').map((m) => m.type)}; last: ${JSON.stringify(recent).slice(0, 800)}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async close(): Promise<void> {
    this.stopPinging();
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

/** Pairwise |difference| of members' positions at each instant, plus each instant's full range. */
export function spreadStats(positionsByInstant: number[][]): { pairs: number[]; ranges: number[] } {
  const pairs: number[] = [];
  const ranges: number[] = [];
  for (const ps of positionsByInstant) {
    for (let i = 0; i < ps.length; i++) for (let j = i + 1; j < ps.length; j++) pairs.push(Math.abs(ps[i]! - ps[j]!));
    ranges.push(Math.max(...ps) - Math.min(...ps));
  }
  return { pairs, ranges };
}

export function pct(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/**
 * The status an upgrade to `path` is answered with (101 when a socket opens, then closed).
 * The refused request's connection is destroyed, so it cannot hold the server's shutdown.
 */
export function upgradeStatus(baseUrl: string, path: string, token?: string): Promise<number> {
  const u = new URL(path, baseUrl.replace(/^http/, 'ws'));
  if (token) u.searchParams.set('token', token);
  const ws = new WebSocket(u);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (err) => {
      if (!/aborted|socket hang up/i.test(String(err))) reject(err);
    });
  });
}
