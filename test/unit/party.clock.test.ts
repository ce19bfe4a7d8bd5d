// Clock sync, scheduling and drift correction of listening parties (src/party/clock.ts):
// pure functions, checked on constructed and random samples. Rules: docs/SPEC.md [PA6]-[PA9].
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClockEstimator,
  decideCorrection,
  DEFAULT_CORRECTION,
  DEFAULT_SCHEDULE,
  estimateOffset,
  followPolicy,
  linkStats,
  ntpOffset,
  offsetBounds,
  positionAt,
  scheduleLead,
  timelineAt,
  type ClockSample,
  type Timeline,
} from '../../src/party/clock.ts';
import { seeded } from '../helpers/party-member.ts';

/**
 * A sample of a member whose clock is `theta` behind the server (offset = theta), with the given
 * leg delays; the pong is whole milliseconds, as the server's Date.now().
 */
function sample(theta: number, sendServerTime: number, up: number, down: number): ClockSample {
  const arrival = sendServerTime + up;
  return { t0: sendServerTime - theta, t1: Math.floor(arrival), t3: arrival + down - theta };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('clock offset estimation [PA6]', () => {
  it('[PA6] one sample bounds the offset to an interval as wide as its round trip; NTP takes the middle', () => {
    const s = sample(1000, 50_000, 30, 10);
    const [lo, hi] = offsetBounds(s);
    assert.equal(hi - lo, 40);
    assert.ok(lo <= 1000 && 1000 <= hi);
    // The single-exchange NTP formula is off by half the asymmetry.
    assert.equal(ntpOffset(s), 1010);
  });

  it('[PA6] under asymmetric jitter the estimate comes from the low-RTT samples, not an average', () => {
    const theta = 1234.5;
    const rng = seeded(7);
    const lowRtt: ClockSample[] = [];
    const highRtt: ClockSample[] = [];
    for (let i = 0; i < 20; i++) {
      // Base 40 ms each way; a quiet link now and then...
      lowRtt.push(sample(theta, 10_000 + i * 100, 40 + rng() * 6, 40 + rng() * 6));
      // ...and mostly a congested uplink: 100-300 ms extra one way only.
      highRtt.push(sample(theta, 10_050 + i * 100, 140 + rng() * 200, 40 + rng() * 6));
    }
    const all = [...lowRtt, ...highRtt].sort((a, b) => a.t0 - b.t0);
    const est = estimateOffset(all)!;
    assert.ok(Math.abs(est.offsetMs - theta) < 2, `estimate ${est.offsetMs} vs ${theta}`);
    // The average of per-sample NTP offsets is dragged by the congested samples.
    const avg = mean(all.map((s) => ntpOffset(s)));
    assert.ok(Math.abs(avg - theta) > 30, `average ${avg}`);
    // The high-RTT samples play no part: the estimate is the same without them.
    const quiet = estimateOffset(lowRtt)!;
    assert.ok(Math.abs(quiet.offsetMs - est.offsetMs) < 1e-9, `${quiet.offsetMs} vs ${est.offsetMs}`);
    assert.ok(est.rttMs < 95, `best rtt ${est.rttMs}`);
  });

  it('[PA6] on random links (base 20-150 ms, +/-30 ms jitter each way) 40 samples give the offset within a few ms', () => {
    const rng = seeded(42);
    const errors: number[] = [];
    const ntpMinRttErrors: number[] = [];
    const uncertainties: number[] = [];
    const bounds: number[] = [];
    for (let m = 0; m < 300; m++) {
      const theta = (rng() * 2 - 1) * 5000;
      const base = 20 + rng() * 130;
      const e = new ClockEstimator();
      const samples: ClockSample[] = [];
      for (let i = 0; i < 40; i++) {
        const leg = () => Math.max(0, base + (rng() * 2 - 1) * 30);
        const s = sample(theta, 1_000_000 + i * 50, leg(), leg());
        e.add(s);
        samples.push(s);
      }
      const st = e.stats()!;
      errors.push(Math.abs(st.offsetMs - theta));
      // The estimate always lies where every kept sample allows it (half the best RTT, plus the pong's resolution).
      assert.ok(Math.abs(st.offsetMs - theta) <= (st.rttMs + 1) / 2 + 1e-9, `error ${st.offsetMs - theta} rtt ${st.rttMs}`);
      assert.ok(Math.abs(st.offsetMs - theta) <= st.boundMs + 1e-9, `error ${st.offsetMs - theta} bound ${st.boundMs}`);
      // The expected error stays small however long the link; the worst-case bound does not.
      assert.ok(st.uncertaintyMs < 25, `uncertainty ${st.uncertaintyMs} on a ${base} ms link`);
      uncertainties.push(st.uncertaintyMs);
      bounds.push(st.boundMs);
      const best = samples.reduce((a, b) => (b.t3 - b.t0 < a.t3 - a.t0 ? b : a));
      ntpMinRttErrors.push(Math.abs(ntpOffset(best) - theta));
    }
    errors.sort((a, b) => a - b);
    const p99 = errors[Math.floor(errors.length * 0.99)]!;
    assert.ok(p99 < 5, `p99 error ${p99}`);
    // Better than trusting the single lowest-RTT sample.
    assert.ok(mean(errors) < mean(ntpMinRttErrors), `${mean(errors)} vs ${mean(ntpMinRttErrors)}`);
    assert.ok(mean(bounds) > 4 * mean(uncertainties), `bound ${mean(bounds)} uncertainty ${mean(uncertainties)}`);
  });

  it('[PA6] a clock step is followed: samples contradicting newer ones are dropped', () => {
    const e = new ClockEstimator();
    for (let i = 0; i < 20; i++) e.add(sample(100, 1000 + i * 50, 20, 20));
    assert.ok(Math.abs(e.stats()!.offsetMs - 100) < 1);
    // The member's clock jumps 500 ms back: the offset grows by 500.
    for (let i = 0; i < 5; i++) e.add(sample(600, 3000 + i * 50, 25, 25));
    assert.ok(Math.abs(e.stats()!.offsetMs - 600) < 1, `after the step: ${e.stats()!.offsetMs}`);
  });

  it('[PA6] the estimator keeps a bounded window and measures the downlink', () => {
    const e = new ClockEstimator({ ...new ClockEstimator().options, window: 10 });
    for (let i = 0; i < 30; i++) e.add(sample(0, i * 100, 10, i < 20 ? 10 : 90));
    assert.equal(e.count, 10);
    const st = linkStats(Array.from({ length: 10 }, (_, i) => sample(0, i * 100, 10, 10 + i * 10)))!;
    assert.ok(st.downP90Ms >= 90 && st.downP90Ms <= 100, `down p90 ${st.downP90Ms}`);
    assert.equal(estimateOffset([]), null);
  });
});

describe('schedule ahead [PA7][PA8]', () => {
  it('[PA7] the lead covers the slowest member that is not degraded, plus the margin', () => {
    const links = [
      { id: 'a', oneWayMs: 30, degraded: false },
      { id: 'b', oneWayMs: 170, degraded: false },
      { id: 'c', oneWayMs: 90, degraded: false },
    ];
    const { leadMs, slowest } = scheduleLead(links);
    assert.equal(slowest?.id, 'b');
    assert.equal(leadMs, 170 + DEFAULT_SCHEDULE.marginMs);
    // A degraded member does not drag everyone.
    const withSlow = scheduleLead([...links, { id: 'd', oneWayMs: 900, degraded: true }]);
    assert.equal(withSlow.leadMs, 170 + DEFAULT_SCHEDULE.marginMs);
    // Bounds.
    assert.equal(scheduleLead([{ id: 'a', oneWayMs: 1, degraded: false }]).leadMs, DEFAULT_SCHEDULE.minLeadMs);
    assert.equal(scheduleLead([{ id: 'a', oneWayMs: 10_000, degraded: false }]).leadMs, DEFAULT_SCHEDULE.maxLeadMs);
    assert.equal(scheduleLead([]).leadMs, DEFAULT_SCHEDULE.defaultLeadMs);
  });

  it('[PA7] property: every member under the cap receives a command before it takes effect', () => {
    const rng = seeded(3);
    for (let trial = 0; trial < 500; trial++) {
      const links = Array.from({ length: 1 + Math.floor(rng() * 20) }, (_, i) => ({ id: String(i), oneWayMs: rng() * 400, degraded: false }));
      const { leadMs } = scheduleLead(links);
      for (const l of links)
        if (l.oneWayMs + DEFAULT_SCHEDULE.marginMs <= DEFAULT_SCHEDULE.maxLeadMs) assert.ok(leadMs >= l.oneWayMs + DEFAULT_SCHEDULE.marginMs);
    }
  });

  it('[PA8] a member too slow for the cap is degraded with a follow delay that covers it, with hysteresis', () => {
    const { marginMs, minLeadMs, maxLeadMs } = DEFAULT_SCHEDULE;
    const ok = { degraded: false, followDelayMs: 0 };
    assert.deepEqual(followPolicy(maxLeadMs - marginMs, ok), ok);
    const slow = followPolicy(700, ok);
    assert.equal(slow.degraded, true);
    // Even a command scheduled with the smallest lead reaches it before its own (delayed) instant.
    assert.ok(minLeadMs + slow.followDelayMs >= 700 + marginMs, JSON.stringify(slow));
    assert.equal(slow.followDelayMs % DEFAULT_SCHEDULE.followStepMs, 0);
    // Near the cap it stays degraded; well below it recovers.
    assert.equal(followPolicy(maxLeadMs * 0.9 - marginMs, slow).degraded, true);
    assert.deepEqual(followPolicy(maxLeadMs * 0.7 - marginMs, slow), ok);
    // Small changes do not move the delay; a slower link grows it at once.
    assert.equal(followPolicy(690, slow), slow);
    assert.ok(followPolicy(900, slow).followDelayMs > slow.followDelayMs);
  });
});

describe('timeline and drift correction [PA4][PA9]', () => {
  const tl = (over: Partial<Timeline> = {}): Timeline => ({ position: 10_000, at: 5000, isPlaying: true, rate: 1, itemId: 'i1', ...over });

  it('[PA4] the position at any server time follows the timeline in force', () => {
    assert.equal(positionAt(tl(), 6000), 11_000);
    assert.equal(positionAt(tl({ rate: 1.5 }), 6000), 11_500);
    assert.equal(positionAt(tl({ isPlaying: false }), 9000), 10_000);
    assert.equal(positionAt(tl(), 4000), 10_000); // not started yet
    const a = { ...tl({ position: 0, at: 1000 }), n: 1 };
    const b = { ...tl({ position: 50_000, at: 8000, isPlaying: false }), n: 2 };
    assert.equal(timelineAt([a, b], 7999), a); // scheduled, not yet in force
    assert.equal(timelineAt([a, b], 8000), b);
    assert.equal(timelineAt([a, b], 500), a);
    assert.equal(timelineAt([], 500), null);
  });

  it('[PA9] within the threshold nothing is corrected; beyond it speed, far beyond it a seek', () => {
    const { thresholdMs, seekThresholdMs, maxRateAdjust } = DEFAULT_CORRECTION;
    assert.deepEqual(decideCorrection(thresholdMs), { action: 'none' });
    assert.deepEqual(decideCorrection(-thresholdMs), { action: 'none' });
    const ahead = decideCorrection(thresholdMs + 1);
    assert.equal(ahead.action, 'rate');
    if (ahead.action !== 'rate') return;
    assert.ok(ahead.adjustRate < 1, 'a member ahead slows down');
    // Playing at adjustRate for durationMs closes exactly the gap, within the allowed speed change.
    assert.ok(Math.abs((1 - ahead.adjustRate) * ahead.durationMs - (thresholdMs + 1)) < 1e-9);
    assert.ok(Math.abs(1 - ahead.adjustRate) <= maxRateAdjust + 1e-12);
    const behind = decideCorrection(-200);
    assert.ok(behind.action === 'rate' && behind.adjustRate > 1 && behind.adjustRate - 1 <= maxRateAdjust + 1e-12, JSON.stringify(behind));
    assert.deepEqual(decideCorrection(seekThresholdMs), { action: 'seek' });
    assert.deepEqual(decideCorrection(-5000), { action: 'seek' });
    // What the clock estimate cannot vouch for is not corrected.
    assert.deepEqual(decideCorrection(thresholdMs + 10, 12), { action: 'none' });
    assert.equal(decideCorrection(thresholdMs + 10, 8).action, 'rate');
  });
});
