// A party member's clock sync ([PA6]): `latency_measurement` exchanges on the party socket,
// one at a time, fast at first (a burst) then every `pingIntervalMs`, each reporting the
// previous exchange back so the server measures this member's link too; the offset is
// estimated with the server's own estimator (src/party/clock.ts). Until the first exchange
// completes, the offset is a rough one-way guess from `hello`. PartySession owns the socket
// and hands this the messages of the clock.
import { ClockEstimator, type ClockSample, type LinkStats } from '../../src/party/clock.ts';
import type { LatencyPingMessage } from '../../src/party/protocol.ts';
import type { Static } from '@sinclair/typebox';
import type { LatencyPong } from './messages.ts';

type Ping = Static<typeof LatencyPingMessage>;

export interface ClockView {
  /** Server clock - this device's clock (ms): `ctx.now() + offsetMs` is server time. */
  offsetMs: number;
  /** Lowest round trip seen among the samples used (ms). */
  rttMs: number;
  /** Expected error of offsetMs (ms). */
  uncertaintyMs: number;
  /** Exchanges in the estimate (0: offsetMs is a rough first guess from `hello`). */
  samples: number;
}

export interface PartyClockOptions {
  /** This device's clock (epoch ms). */
  now: () => number;
  /** Sends a ping on the party socket. */
  send: (msg: Ping) => void;
  /** Whether the party socket is open. */
  isOpen: () => boolean;
  /** Told after each completed exchange. */
  updated: (view: ClockView) => void;
  pingIntervalMs: number;
  burstPings: number;
  burstIntervalMs: number;
}

export class PartyClock {
  private readonly estimator = new ClockEstimator();
  private stats: LinkStats | null = null;
  /** Offset guessed from `hello` (one way only) until the first exchange completes. */
  private roughOffset = 0;
  private pingTimer: ReturnType<typeof setTimeout> | null = null;
  /** The exchange to report back with the next ping (on this socket only). */
  private prev: Ping['prev'] | undefined;
  private outstandingPing: number | null = null;
  private outstandingSince = 0;
  private pingsThisSocket = 0;

  private readonly o: PartyClockOptions;
  constructor(o: PartyClockOptions) {
    this.o = o;
  }

  /** The estimate: offset (server - this device) and round trip. */
  get view(): ClockView {
    const st = this.stats;
    return st
      ? { offsetMs: st.offsetMs, rttMs: st.rttMs, uncertaintyMs: st.uncertaintyMs, samples: st.samples }
      : { offsetMs: this.roughOffset, rttMs: Number.NaN, uncertaintyMs: Number.POSITIVE_INFINITY, samples: 0 };
  }

  /** Exchanges in the estimate. */
  get count(): number {
    return this.estimator.count;
  }

  /** Server time now, as this device estimates it. */
  serverNow(): number {
    return this.o.now() + this.view.offsetMs;
  }

  /** Whether this socket has done enough exchanges for a position report to mean something. */
  get settled(): boolean {
    return this.pingsThisSocket >= 2;
  }

  /** A new socket said hello: a first guess if there is no estimate yet, and the exchanges start. */
  hello(serverTime: number): void {
    // One way only (no round trip yet): a first guess, replaced by the first exchange.
    if (!this.stats) this.roughOffset = serverTime - this.o.now();
    this.ping();
  }

  /** The socket is gone: what was tied to it goes too (the estimate stays). */
  socketGone(): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = null;
    this.prev = undefined;
    this.outstandingPing = null;
    this.pingsThisSocket = 0;
  }

  private ping(): void {
    if (!this.o.isOpen()) return;
    // One exchange at a time; a pong that never came is given up after a few intervals.
    if (this.outstandingPing !== null && this.o.now() - this.outstandingSince < 3 * this.o.pingIntervalMs) return;
    const msg: Ping = { type: 'latency_measurement', ping: 0 };
    if (this.prev) msg.prev = this.prev;
    this.prev = undefined;
    msg.ping = this.o.now();
    this.outstandingPing = msg.ping;
    this.outstandingSince = msg.ping;
    this.o.send(msg);
    // Keep the loop going even if this pong is lost.
    this.schedule(3 * this.o.pingIntervalMs + 10);
  }

  /** The server's answer to a ping. */
  pong(m: LatencyPong): void {
    const t3 = this.o.now();
    if (m.ping !== this.outstandingPing) return; // not ours on this socket
    this.outstandingPing = null;
    const sample: ClockSample = { t0: m.ping, t1: m.pong, t3 };
    this.estimator.add(sample);
    this.stats = this.estimator.stats();
    // Reported with the next ping, so the server estimates this member's link too.
    this.prev = { ping: m.ping, pong: m.pong, received: t3 };
    this.pingsThisSocket++;
    this.o.updated(this.view);
    this.schedule(this.pingsThisSocket < this.o.burstPings ? this.o.burstIntervalMs : this.o.pingIntervalMs);
  }

  private schedule(wait: number): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      this.pingTimer = null;
      this.ping();
    }, wait);
  }
}
