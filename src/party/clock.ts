// Clock sync and scheduling for listening parties, as pure functions: no I/O, no
// timers, every time passed in. The server and clients (and the tests and the bench,
// which simulate clients) share this file. Rules: docs/SPEC.md, Parties ([PA6]-[PA9]).
//
// Offsets follow NTP's convention: offset = server clock - member clock, so
// `memberTime + offset` is server time.
import type { Timeline } from '../model/party.ts';

/** One NTP-style exchange: a `latency_measurement` ping and its pong. */
export interface ClockSample {
  /** Member clock when the ping was sent (the ping's `ping`). */
  t0: number;
  /** Server clock when the ping was answered (the pong's `pong`). */
  t1: number;
  /** Member clock when the pong arrived. */
  t3: number;
}

export interface EstimatorOptions {
  /** Most recent samples considered. */
  window: number;
  /** Samples older than this (member clock, relative to the newest) are dropped: clocks drift. */
  maxAgeMs: number;
  /** Fraction of the window, lowest RTT first, used for the estimate... */
  keepFraction: number;
  /** ...but at least this many. */
  minKeep: number;
  /** The server clock's resolution: a pong of N means the server clock read in [N, N + resolution). */
  resolutionMs: number;
}

export const DEFAULT_ESTIMATOR: EstimatorOptions = { window: 128, maxAgeMs: 120_000, keepFraction: 0.5, minKeep: 4, resolutionMs: 1 };

export interface OffsetEstimate {
  /** server clock - member clock, ms. */
  offsetMs: number;
  /**
   * Expected error: half the spread of the NTP offsets of the best (lowest-RTT) samples, at
   * most the bound. Under symmetric base delays the estimate is at least this good.
   */
  uncertaintyMs: number;
  /** Worst case, whatever the links' asymmetry: half the width of the interval the offset is known to lie in. */
  boundMs: number;
  /** Lowest round trip among the samples kept. */
  rttMs: number;
  /** Samples in the window / samples used. */
  samples: number;
  used: number;
}

export interface LinkStats extends OffsetEstimate {
  /** Server-to-member delay of recent pongs, median and 90th percentile (ms). */
  downP50Ms: number;
  downP90Ms: number;
  /** Member-to-server delay, 90th percentile (ms). */
  upP90Ms: number;
}

export const rttOf = (s: ClockSample): number => s.t3 - s.t0;

/** Samples that take part in the estimate whatever their RTT (the most recent). */
const NEWEST_ALWAYS = 3;

/** The classic single-exchange NTP offset: assumes both legs took the same time. */
export const ntpOffset = (s: ClockSample, resolutionMs = 0): number => s.t1 + resolutionMs / 2 - (s.t0 + s.t3) / 2;

/**
 * The offsets one sample allows: neither leg can take negative time, so
 * t1 - t3 <= offset <= t1 + resolution - t0. Its width is the round trip.
 */
export function offsetBounds(s: ClockSample, resolutionMs = 0): [number, number] {
  return [s.t1 - s.t3, s.t1 + resolutionMs - s.t0];
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The samples the estimate may use: the last `window`, none older than `maxAgeMs` before the newest. */
export function recentSamples(samples: readonly ClockSample[], opts: EstimatorOptions = DEFAULT_ESTIMATOR): ClockSample[] {
  const last = samples.slice(-opts.window);
  if (last.length === 0) return [];
  const newest = Math.max(...last.map((s) => s.t3));
  return last.filter((s) => s.t3 >= newest - opts.maxAgeMs && s.t3 >= s.t0);
}

/**
 * Offset from the lowest-RTT recent samples ([PA6]): each low-RTT sample bounds the offset
 * to an interval as wide as its round trip; the estimate is the middle of their intersection.
 * One sample's error is at most half its RTT, and a jittery leg only widens that sample's
 * interval, so delayed samples cannot drag the estimate the way an average would. Samples
 * are intersected newest first and one that contradicts newer ones (drift, a clock step)
 * is skipped; the newest few always take part, so a step is followed at once.
 */
export function estimateOffset(samples: readonly ClockSample[], opts: EstimatorOptions = DEFAULT_ESTIMATOR): OffsetEstimate | null {
  const recent = recentSamples(samples, opts);
  if (recent.length === 0) return null;
  const keep = Math.min(recent.length, Math.max(opts.minKeep, Math.ceil(recent.length * opts.keepFraction)));
  const best = [...recent].sort((a, b) => rttOf(a) - rttOf(b)).slice(0, keep);
  // The newest few always take part (first), so a clock step is followed at once.
  const candidates = new Set([...recent.slice(-NEWEST_ALWAYS), ...best]);
  let lo = -Infinity;
  let hi = Infinity;
  let used = 0;
  for (const s of [...candidates].sort((a, b) => b.t3 - a.t3)) {
    const [l, h] = offsetBounds(s, opts.resolutionMs);
    const nl = Math.max(lo, l);
    const nh = Math.min(hi, h);
    if (nl > nh) continue;
    lo = nl;
    hi = nh;
    used++;
  }
  const top = best.slice(0, Math.max(3, Math.ceil(best.length / 4))).map((s) => ntpOffset(s, opts.resolutionMs));
  return {
    offsetMs: (lo + hi) / 2,
    uncertaintyMs: Math.min((Math.max(...top) - Math.min(...top)) / 2, (hi - lo) / 2),
    boundMs: (hi - lo) / 2,
    rttMs: rttOf(best[0]!),
    samples: recent.length,
    used,
  };
}

/** The estimate plus how long messages take each way, measured with the estimated offset. */
export function linkStats(samples: readonly ClockSample[], opts: EstimatorOptions = DEFAULT_ESTIMATOR): LinkStats | null {
  const est = estimateOffset(samples, opts);
  if (!est) return null;
  const recent = recentSamples(samples, opts);
  const down = recent.map((s) => Math.max(0, s.t3 + est.offsetMs - s.t1));
  const up = recent.map((s) => Math.max(0, s.t1 - (s.t0 + est.offsetMs)));
  return { ...est, downP50Ms: quantile(down, 0.5), downP90Ms: quantile(down, 0.9), upP90Ms: quantile(up, 0.9) };
}

/** Keeps one member's recent samples. */
export class ClockEstimator {
  private readonly samples: ClockSample[] = [];
  private cached: LinkStats | null | undefined;

  readonly options: EstimatorOptions;
  constructor(options: EstimatorOptions = DEFAULT_ESTIMATOR) {
    this.options = options;
  }

  add(s: ClockSample): void {
    this.samples.push(s);
    if (this.samples.length > this.options.window) this.samples.splice(0, this.samples.length - this.options.window);
    this.cached = undefined;
  }

  get count(): number {
    return this.samples.length;
  }

  stats(): LinkStats | null {
    if (this.cached === undefined) this.cached = linkStats(this.samples, this.options);
    return this.cached;
  }
}

// ---- scheduling ----

export interface ScheduleOptions {
  /** Added to the slowest member's one-way delay: processing, the bus, jitter beyond the p90. */
  marginMs: number;
  /** Commands never take effect sooner than this after the server accepts them... */
  minLeadMs: number;
  /** ...nor later: members slower than this follow with a delay of their own ([PA8]). */
  maxLeadMs: number;
  /** Lead when no member has a measured link yet. */
  defaultLeadMs: number;
  /** A degraded member recovers when its need falls below this fraction of maxLeadMs. */
  recoverFraction: number;
  /** Follow delays are rounded up to this step so they do not change on every sample. */
  followStepMs: number;
}

export const DEFAULT_SCHEDULE: ScheduleOptions = {
  marginMs: 40,
  minLeadMs: 80,
  maxLeadMs: 500,
  defaultLeadMs: 250,
  recoverFraction: 0.8,
  followStepMs: 50,
};

export interface MemberLink {
  id: string;
  /** Server-to-member delay to plan for (the p90 of recent pongs). */
  oneWayMs: number;
  degraded: boolean;
}

/**
 * How far ahead of now a playback command is scheduled ([PA7]): far enough for the
 * slowest member that is not degraded to receive it, plus the margin, within
 * [minLeadMs, maxLeadMs]. Degraded members do not count: they follow with their own delay.
 */
export function scheduleLead(links: readonly MemberLink[], opts: ScheduleOptions = DEFAULT_SCHEDULE): { leadMs: number; slowest: MemberLink | null } {
  let slowest: MemberLink | null = null;
  for (const l of links) if (!l.degraded && Number.isFinite(l.oneWayMs) && (!slowest || l.oneWayMs > slowest.oneWayMs)) slowest = l;
  const want = slowest ? slowest.oneWayMs + opts.marginMs : opts.defaultLeadMs;
  return { leadMs: Math.ceil(Math.min(opts.maxLeadMs, Math.max(opts.minLeadMs, want))), slowest };
}

export interface FollowState {
  degraded: boolean;
  /** Extra delay the member plays behind the party timeline; 0 when not degraded. */
  followDelayMs: number;
}

/**
 * Whether a member's link is too slow for the party's schedule ([PA8]). A member whose
 * one-way delay plus margin passes maxLeadMs is degraded and follows the party timeline
 * `followDelayMs` late: enough that a command scheduled with the smallest lead still
 * reaches it in time. With hysteresis, so a link near the limit does not flap.
 */
export function followPolicy(oneWayMs: number, prev: FollowState, opts: ScheduleOptions = DEFAULT_SCHEDULE): FollowState {
  const need = oneWayMs + opts.marginMs;
  const required = Math.ceil(Math.max(0, need - opts.minLeadMs) / opts.followStepMs) * opts.followStepMs;
  if (!prev.degraded) return need > opts.maxLeadMs ? { degraded: true, followDelayMs: required } : prev;
  if (need < opts.maxLeadMs * opts.recoverFraction) return { degraded: false, followDelayMs: 0 };
  // Grow at once; shrink only by a clear margin (each change makes the member jump).
  if (required > prev.followDelayMs || required < prev.followDelayMs - 2 * opts.followStepMs) return { degraded: true, followDelayMs: required };
  return prev;
}

// ---- the party timeline ----

export type { Timeline };

/** Position (ms) on a timeline at server time t; before `at` the timeline has not started and holds `position`. */
export function positionAt(tl: Timeline, serverTime: number): number {
  if (!tl.isPlaying) return tl.position;
  return tl.position + Math.max(0, serverTime - tl.at) * tl.rate;
}

/**
 * The timeline in force at server time t: the last one (in sequence order) whose `at` has
 * come. Before all of them, the first. `timelines` are in sequence order.
 */
export function timelineAt<T extends Timeline>(timelines: readonly T[], serverTime: number): T | null {
  let found: T | null = null;
  for (const tl of timelines) if (tl.at <= serverTime) found = tl;
  return found ?? timelines[0] ?? null;
}

// ---- drift correction ----

export interface CorrectionOptions {
  /** Errors up to this (beyond the estimate's uncertainty) are left alone ([PA9]). */
  thresholdMs: number;
  /** From this error on the member seeks instead of changing speed. */
  seekThresholdMs: number;
  /** Largest speed change used to catch up (0.05 = 5 %). */
  maxRateAdjust: number;
  minDurationMs: number;
  maxDurationMs: number;
}

export const DEFAULT_CORRECTION: CorrectionOptions = { thresholdMs: 25, seekThresholdMs: 250, maxRateAdjust: 0.05, minDurationMs: 1000, maxDurationMs: 5000 };

export type Correction =
  | { action: 'none' }
  /** Play at rate * adjustRate for durationMs, then at rate again: closes the gap smoothly. */
  | { action: 'rate'; adjustRate: number; durationMs: number }
  /** Jump to the timeline's position for now. */
  | { action: 'seek' };

/**
 * What to tell a member whose reported position is `errorMs` off the timeline (positive:
 * ahead). Only what exceeds the uncertainty of the member's clock estimate counts.
 */
export function decideCorrection(errorMs: number, uncertaintyMs = 0, opts: CorrectionOptions = DEFAULT_CORRECTION): Correction {
  const size = Math.abs(errorMs);
  if (!Number.isFinite(size)) return { action: 'seek' };
  if (size - Math.max(0, uncertaintyMs) <= opts.thresholdMs) return { action: 'none' };
  if (size >= opts.seekThresholdMs) return { action: 'seek' };
  const durationMs = Math.ceil(Math.min(opts.maxDurationMs, Math.max(opts.minDurationMs, size / opts.maxRateAdjust)));
  if (size / durationMs > opts.maxRateAdjust) return { action: 'seek' };
  return { action: 'rate', adjustRate: 1 - errorMs / durationMs, durationMs };
}
