// One party socket (PartyConn): the bounded sender plus this member's clock, link and
// timelines. It answers clock exchanges [PA6] and position reports [PA9] itself, writes its
// measured link for whichever instance schedules a command [PA10], and keeps the party's
// rules on its stream: party_ended ends the socket (4404), the member's own member_left
// checks whether it still belongs.
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { BusMessage } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';
import { CloseCode, errorMessage } from '../realtime/protocol.ts';
import type { Sink } from '../realtime/subscription.ts';
import { ClockEstimator, decideCorrection, followPolicy, positionAt, timelineAt, type FollowState } from './clock.ts';
import type { PartyEvent, PartyPlayback } from './party.ts';
import type { PartyOptions, PartyService } from './service.ts';
import type { LinkRecord } from './store.ts';

/** A party event as sent on the socket (and by the REST twin): the seed's flat messages plus the envelope. */
export function partyMessage(partyId: string, e: PartyEvent): Record<string, unknown> {
  const data = e.data;
  return {
    ...data,
    type: e.type,
    partyId,
    sequenceNumber: e.sequenceNumber,
    stream: 'party',
    timestamp: Date.parse(e.timestamp),
    userId: 'userId' in data ? data.userId : e.userId,
    deviceId: e.deviceId,
  };
}

/** Pongs a member may report back: those sent on its socket in the last minute (at most this many). */
const PONGS_KEPT = 1024;
const PONG_TTL_MS = 60_000;
/** Samples before a member's link may be judged too slow. */
const MIN_SAMPLES_FOR_POLICY = 5;
/** Link rows are rewritten at most this often unless something important changed. */
const LINK_WRITE_INTERVAL_MS = 1000;
/** A new position error is written with the link row at most this often ([PA9]: reports come about once a second). */
const ERROR_WRITE_INTERVAL_MS = 500;

export interface Ctx {
  options: PartyOptions;
  now: () => number;
  service: PartyService;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** The member's own member_left arrived: close its socket unless it has rejoined since. */
  checkMembership(pc: PartyConn): void;
}

/** One party socket: the bounded sender plus this member's clock, link and timelines. */
export class PartyConn implements Sink<'party'> {
  readonly estimator: ClockEstimator;
  /** Pongs sent and not yet reported back: `${ping}/${pong}` -> pong. */
  private readonly pongs = new Map<string, number>();
  follow: FollowState = { degraded: false, followDelayMs: 0 };
  /** The timelines this member was sent, in sequence order (the last few). */
  private timelines: PartyPlayback[] = [];
  /** The link row as last written. */
  link: LinkRecord | null = null;
  private lastLinkWrite = 0;
  private writing = false;
  private writeAgain = false;
  private correctionUntil = 0;
  /** [PA9] The latest position error measured from this member's reports, with its server time. */
  private positionError: { ms: number; at: number } | null = null;

  readonly c: Connection;
  readonly partyId: string;
  private readonly ctx: Ctx;
  constructor(c: Connection, partyId: string, ctx: Ctx) {
    this.c = c;
    this.partyId = partyId;
    this.ctx = ctx;
    this.estimator = new ClockEstimator(ctx.options.estimator);
  }

  setTimeline(tl: PartyPlayback): void {
    if (this.timelines.some((t) => t.sequenceNumber === tl.sequenceNumber)) return;
    this.timelines.push(tl);
    this.timelines.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    if (this.timelines.length > 4) this.timelines.splice(0, this.timelines.length - 4);
  }

  // ---- Sink: the party stream ----

  event(_stream: 'party', id: string, e: PartyEvent): boolean {
    const msg = partyMessage(id, e);
    if (e.type === 'playback_sync') {
      const d = e.data;
      this.setTimeline({
        position: d.position,
        at: d.at,
        isPlaying: d.isPlaying,
        rate: d.rate,
        itemId: d.itemId,
        trackId: d.trackId,
        sequenceNumber: e.sequenceNumber,
      });
    }
    const ok = this.c.send(msg);
    if (e.type === 'party_ended') this.c.close(CloseCode.notFound, 'the party ended');
    else if (e.type === 'member_left' && msg.userId === this.c.userId) this.ctx.checkMembership(this);
    return ok;
  }

  snapshot(_stream: 'party', id: string, s: { sequenceNumber: number; data: object }, reason: string): boolean {
    const pb = (s.data as { playback?: PartyPlayback }).playback;
    if (pb)
      this.setTimeline({
        position: pb.position,
        at: pb.at,
        isPlaying: pb.isPlaying,
        rate: pb.rate,
        itemId: pb.itemId,
        trackId: pb.trackId,
        sequenceNumber: pb.sequenceNumber,
      });
    return this.c.send({ type: 'snapshot', stream: 'party', partyId: id, sequenceNumber: s.sequenceNumber, data: s.data, reason });
  }

  note(msg: BusMessage<'party'>): void {
    if (msg.note) this.c.send(msg.note);
  }

  failed(err: unknown): void {
    this.c.failed(err);
  }

  catchup(reason: 'gap' | 'reconnect'): void {
    this.ctx.metrics.catchups.inc({ reason });
  }

  // ---- clock exchanges [PA6] ----

  /** Answers at once; the previous exchange, when reported, becomes a sample of this member's clock. */
  onPing(ping: number, prev: { ping: number; pong: number; received: number } | undefined): void {
    const pong = this.ctx.now();
    this.c.send({ type: 'latency_measurement', ping, pong });
    this.pongs.set(`${ping}/${pong}`, pong);
    // Insertion order is age order: drop the oldest past the bound or the age limit.
    for (const [k, t] of this.pongs) {
      if (this.pongs.size <= PONGS_KEPT && t >= pong - PONG_TTL_MS) break;
      this.pongs.delete(k);
    }
    if (!prev) return;
    const key = `${prev.ping}/${prev.pong}`;
    // Only exchanges this socket really answered count, each once.
    if (!this.pongs.has(key) || !(prev.received >= prev.ping) || prev.received - prev.ping > PONG_TTL_MS) return;
    this.pongs.delete(key);
    this.estimator.add({ t0: prev.ping, t1: prev.pong, t3: prev.received });
    this.onSample();
  }

  private onSample(): void {
    const st = this.estimator.stats();
    if (!st) return;
    let important = this.link === null;
    if (this.estimator.count >= MIN_SAMPLES_FOR_POLICY) {
      const f = followPolicy(st.downP90Ms, this.follow, this.ctx.options.schedule);
      if (f.degraded !== this.follow.degraded || f.followDelayMs !== this.follow.followDelayMs) {
        this.follow = f;
        important = true;
        // [PA8] Told at once; it follows the timeline this much late from now on.
        this.c.send({
          type: 'sync_degraded',
          partyId: this.partyId,
          degraded: f.degraded,
          followDelayMs: f.followDelayMs,
          oneWayMs: round(st.downP90Ms),
          maxLeadMs: this.ctx.options.schedule.maxLeadMs,
        });
      }
    }
    const l = this.link;
    const now = this.ctx.now();
    const moved =
      l !== null && (Math.abs(l.oneWayMs - st.downP90Ms) > 5 || Math.abs(l.offsetMs - st.offsetMs) > 1 || Math.abs(l.rttMs - st.rttMs) > 5 || l.samples < 8);
    if (important || (moved && now - this.lastLinkWrite >= LINK_WRITE_INTERVAL_MS)) this.writeLink();
  }

  /** Writes this socket's link row (or refreshes it); one write at a time, the latest wins. */
  writeLink(): void {
    const st = this.estimator.stats();
    if (!st || !this.c.isOpen) return;
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    const now = this.ctx.now();
    this.lastLinkWrite = now;
    const rec: LinkRecord = {
      connectionId: this.c.id,
      partyId: this.partyId,
      userId: this.c.userId,
      deviceId: this.c.deviceId,
      offsetMs: round(st.offsetMs),
      rttMs: round(st.rttMs),
      oneWayMs: round(st.downP90Ms),
      degraded: this.follow.degraded,
      followDelayMs: this.follow.followDelayMs,
      samples: st.samples,
      updatedAt: now,
      positionErrorMs: this.positionError?.ms ?? null,
      positionErrorAt: this.positionError?.at ?? null,
    };
    this.link = rec;
    this.writing = true;
    this.ctx.service
      .putLink(rec)
      .then(async () => {
        // Closed while writing: the delete may have run first.
        if (!this.c.isOpen) await this.ctx.service.deleteLink(this.c.id);
      })
      .catch((err) => this.ctx.log.warn({ err, connection: this.c.id }, 'party link write failed'))
      .finally(() => {
        this.writing = false;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.writeLink();
        }
      });
  }

  // ---- position reports [PA9] ----

  onPosition(position: number, timestamp: number, itemId: string | null | undefined): void {
    const st = this.estimator.stats();
    if (!st) {
      this.c.send(errorMessage(null, new AppError('conflict', 'clock_not_synced', 'send latency_measurement exchanges (with prev) before position reports')));
      return;
    }
    const now = this.ctx.now();
    const t = timestamp + st.offsetMs - this.follow.followDelayMs;
    const tl = timelineAt(this.timelines, t);
    if (!tl) return;
    const errorMs = position - positionAt(tl, t);
    // [PA9]/[PA10] Kept with the link row, so every member (GET /parties/{id}) sees each member's
    // error (not when the member is on another item: a position there is no error in ms).
    if (itemId === undefined || itemId === tl.itemId) {
      const first = this.positionError === null;
      this.positionError = { ms: round(errorMs), at: now };
      if (first || now - this.lastLinkWrite >= ERROR_WRITE_INTERVAL_MS) this.writeLink();
    }
    if (now < this.correctionUntil) return; // a correction is still being applied
    let corr = decideCorrection(errorMs, st.uncertaintyMs, this.ctx.options.correction);
    if (itemId !== undefined && itemId !== tl.itemId) corr = { action: 'seek' };
    if (corr.action === 'none') return;
    this.correctionUntil = now + (corr.action === 'rate' ? corr.durationMs : 1000);
    this.c.send({
      type: 'sync_correction',
      partyId: this.partyId,
      action: corr.action,
      errorMs: round(errorMs),
      ...(corr.action === 'rate' ? { adjustRate: corr.adjustRate, durationMs: corr.durationMs } : {}),
      position: tl.position,
      isPlaying: tl.isPlaying,
      at: tl.at,
      rate: tl.rate,
      itemId: tl.itemId,
      trackId: tl.trackId,
      sequenceNumber: tl.sequenceNumber,
      followDelayMs: this.follow.followDelayMs,
      serverTime: now,
    });
  }
}

export const round = (x: number) => Math.round(x * 1000) / 1000;
