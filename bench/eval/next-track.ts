// Next-track tuning harness (issue 24 round 5): the user station's path in process
// (resolveStation + stationBatch on a server-like recommender, as `--only stations`),
// on one seeded prefix per held-out session, with and without skip flags, against
// session co-occurrence; several engine variants on the same listeners in one run.
//   node bench/eval/next-track.ts [--split tune] [--sessions N] [--variants a,b]
// Variants are partial session blends (see VARIANTS below). For tuning only: the
// figures to report come from `npm run eval` through the API.
import { parseArgs } from 'node:util';
import { BLENDS, type Blend } from '../../src/reco/engine.ts';
import type { TasteOptions } from '../../src/reco/profile.ts';
import { USER_SKIPS, USER_TASTE } from '../../src/reco/stations.ts';
import { JITTER } from '../../src/radio/batch.ts';
import type { Recommender } from '../../src/reco/recommender.ts';
import type { Stat } from './api.ts';
import { cooccurrence } from './baselines.ts';
import { bucket, loadMpd, loadSessions, splitOf, type SplitName } from './data.ts';
import { prepareSessions } from './sessions.ts';
import { buildServerLike, hitTally, ingestPrefix, nextTrackCase, userStation } from './stations.ts';

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'tune' },
    sessions: { type: 'string', default: '5000' },
    variants: { type: 'string' },
  },
});
const split = values.split as SplitName;
if (split !== 'tune' && split !== 'dev') throw new Error('--split is tune or dev');

/** A variant: a partial session blend, taste-seed options for the user station, the session jitter. */
export interface Variant {
  blend?: Partial<Blend>;
  taste?: Partial<TasteOptions>;
  jitter?: number;
  skips?: Partial<typeof USER_SKIPS>;
}
/** Named variants; 'current' is the station as it stands. */
export const VARIANTS: Record<string, Variant> = {
  current: {},
  'round 4': { blend: { seq: 0, knn: 0.6, contextMismatch: 1 } },
  // The current blend with another weight for a seed's occurrences of the other outcome (MISMATCH).
  'outcomes 0.6': {},
  'outcomes 1': {},
  'no jitter': { jitter: 0 },
  'complete 0': { taste: { completeBonus: 0 } },
  'decay 0.5': { taste: { decay: 0.5 } },
  'decay 0.85': { taste: { decay: 0.85 } },
  'window 5': { taste: { window: 5 } },
  'window 10': { taste: { window: 10 } },
  'skips as kept': { skips: { matchOutcome: false } },
  'skips as kept w.5': { skips: { matchOutcome: false, seedWeight: 0.5 } },
  'skips w.5': { skips: { seedWeight: 0.5 } },
  'skips w.25': { skips: { seedWeight: 0.25 } },
  'skips w2': { skips: { seedWeight: 2 } },
  'skips as kept w.5 c0': { skips: { matchOutcome: false, seedWeight: 0.5 }, taste: { completeBonus: 0 } },
  'skips w1.5': { skips: { seedWeight: 1.5 } },
  'skips w3': { skips: { seedWeight: 3 } },
  'skips w4': { skips: { seedWeight: 4 } },
  'skips as kept w2': { skips: { matchOutcome: false, seedWeight: 2 } },
  'skips w2 c0': { skips: { seedWeight: 2 }, taste: { completeBonus: 0 } },
  'skips w3 c0': { skips: { seedWeight: 3 }, taste: { completeBonus: 0 } },
};

const log = (s: string) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const [mpd, sessions] = await Promise.all([loadMpd(), loadSessions()]);
const reco = buildServerLike(mpd, sessions, split);
const prepS = prepareSessions(sessions, split, log);
log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// Tuning only: the weight of a seed's occurrences with the other outcome (OUTCOME_MISMATCH)
// per variant. CPU per batch: a listener's first variant pays for cold caches (~0.2 ms), so
// compare two runs in both orders (--variants 'round 4,current').
const MISMATCH: Record<string, number | undefined> = { 'outcomes 0.6': 0.6, 'outcomes 1': 1 };
let mismatch: number | undefined;
{
  const score = reco.engine.score.bind(reco.engine);
  reco.engine.score = (seeds, o) => score(seeds, mismatch === undefined ? o : { ...o, outcomeMismatch: mismatch });
}
const names = values.variants ? values.variants.split(',') : Object.keys(VARIANTS);
const base: Blend = { ...BLENDS.session };
const baseJitter = JITTER.session;
const baseSkips = { ...USER_SKIPS };
const K = 10;

/** STAN-style session neighbours, standalone (the reference the engine should reach). */
interface VoteParams {
  decay: number;
  neighbours: number;
  postings: number;
  lambda: number;
  back: number;
  window: number;
  skipMatch: number;
}
const VOTE: VoteParams = { decay: 0.7, neighbours: 200, postings: 400, lambda: 0.5, back: 0.2, window: 20, skipMatch: 1 };
function stanVote(r: Recommender, history: { track: number; skipped: boolean }[], exclude: Set<number>, o: VoteParams): number[] {
  const { baskets } = r.engine;
  const { data, wdata, start, count, weighted } = baskets;
  const recent = history.slice(-o.window);
  const n = recent.length;
  const sim = new Map<number, number>();
  const anchor = new Map<number, number>();
  const own = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    const s = recent[i]!.track;
    const w = o.decay ** (n - 1 - i);
    if (own.has(s)) continue;
    own.set(s, i);
    const post = baskets.of(s);
    const walk = Math.min(post.length, o.postings);
    for (let k = 0; k < walk; k++) {
      const b = post[post.length - 1 - k]!;
      if (baskets.dead[b] || baskets.kind[b] !== 1) continue;
      let ps = 0;
      const st = start[b]!;
      while (ps < count[b]! && data[st + ps] !== s) ps++;
      const occSkipped = weighted[b] === 1 && wdata[st + ps]! < 1;
      const m = occSkipped === recent[i]!.skipped ? 1 : o.skipMatch;
      sim.set(b, (sim.get(b) ?? 0) + w * m);
      if (!anchor.has(b)) anchor.set(b, ps);
    }
  }
  const nb = [...sim].sort((a, b) => b[1] - a[1]).slice(0, o.neighbours);
  const score = new Map<number, number>();
  for (const [b, sb] of nb) {
    const st = start[b]!;
    const L = count[b]!;
    const pa = anchor.get(b)!;
    for (let q = 0; q < L; q++) {
      const j = data[st + q]!;
      if (exclude.has(j)) continue;
      const d = q - pa;
      if (d === 0) continue;
      const f = d > 0 ? o.lambda ** (d - 1) : o.back * o.lambda ** (-d - 1);
      const wj = weighted[b] === 1 ? wdata[st + q]! : 1;
      score.set(j, (score.get(j) ?? 0) + sb * f * wj);
    }
  }
  return [...score]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, K)
    .map(([t]) => t);
}
const VOTES: Record<string, Partial<VoteParams>> = {
  vote: {},
  'vote l.8': { lambda: 0.8 },
  'vote l.3': { lambda: 0.3 },
  'vote b0': { back: 0 },
  'vote b.5': { back: 0.5 },
  'vote n50': { neighbours: 50 },
  'vote n1000': { neighbours: 1000 },
  'vote d.5': { decay: 0.5 },
  'vote d.9': { decay: 0.9 },
  'vote sm.3': { skipMatch: 0.3 },
};

/** What followed the last `order` plays in training sessions (order 2: the last two in a row), by count of kept plays. */
function successors(r: Recommender, hist: number[], exclude: Set<number>, order: number): number[] {
  const counts = suffixScores(r, hist, exclude, { base: 1, minOrder: order, maxOrder: order, forward: 1, gamma: 1 });
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([t]) => t);
}

interface SuffixParams {
  base: number;
  /** Occurrences matching fewer of the last plays in a row are left out (default 1: none). */
  minOrder?: number;
  maxOrder: number;
  forward: number;
  gamma: number;
}
const SUFFIX: Record<string, SuffixParams> = {
  b4: { base: 4, maxOrder: 5, forward: 1, gamma: 0.5 },
  'b4 f3': { base: 4, maxOrder: 5, forward: 3, gamma: 0.5 },
  b8: { base: 8, maxOrder: 6, forward: 1, gamma: 0.5 },
  b2: { base: 2, maxOrder: 5, forward: 1, gamma: 0.5 },
};
/** Variable-order transitions: what followed the longest run of the listener's last plays in training sessions. */
function suffixScores(r: Recommender, hist: number[], exclude: Set<number>, o: SuffixParams): Map<number, number> {
  const { baskets } = r.engine;
  const { data, wdata, start, count, weighted } = baskets;
  const n = hist.length;
  const last = hist[n - 1]!;
  const score = new Map<number, number>();
  for (const b of baskets.of(last)) {
    if (baskets.dead[b] || baskets.kind[b] !== 1) continue;
    const st = start[b]!;
    const L = count[b]!;
    for (let q = 0; q < L - 1; q++) {
      if (data[st + q] !== last) continue;
      let m = 1;
      while (m < o.maxOrder && m < n && q - m >= 0 && data[st + q - m] === hist[n - 1 - m]) m++;
      if (m < (o.minOrder ?? 1)) continue;
      const w = o.base ** (m - 1);
      for (let d = 1; d <= o.forward && q + d < L; d++) {
        const j = data[st + q + d]!;
        if (exclude.has(j)) continue;
        score.set(j, (score.get(j) ?? 0) + w * o.gamma ** (d - 1) * (weighted[b] === 1 ? wdata[st + q + d]! : 1));
      }
    }
  }
  return score;
}

const { test } = splitOf(split);
const held = sessions.filter((s) => test(bucket(`session:${s.id}`))).slice(0, Number(values.sessions));
const stats = new Map<string, Stat>();
const put = hitTally(stats, K);
/** CPU ms of the user station's batch of 20, summed per variant. */
const cpu = new Map<string, number>();
const cat = prepS.engine.catalog;
const start = Date.parse('2026-01-01T12:00:00Z');
const t1 = performance.now();
for (const s of held) {
  const c = nextTrackCase(s);
  if (!c) continue;
  const { prefix, target } = c;
  for (const flags of [true, false]) {
    const userId = `eval-s-${s.id}-${flags ? 'skips' : 'plays'}`;
    ingestPrefix(reco, userId, s, prefix, flags, start);
    {
      const rc = reco.engine.catalog;
      const hist = prefix.map((id, i) => ({ track: rc.lookup(id)!, skipped: flags && s.skipped[i]! }));
      const ex = new Set(hist.map((h) => h.track));
      if (process.env.VOTES)
        for (const [vn, vp] of Object.entries(VOTES))
          put(
            `${vn} ${flags ? 'skips' : 'plays'}`,
            stanVote(reco, hist, ex, { ...VOTE, ...vp }).map((x) => rc.id(x)),
            target,
          );
    }
    for (const name of names) {
      const v = VARIANTS[name];
      if (!v) throw new Error(`no variant ${name}`);
      Object.assign(BLENDS.session, base, v.blend);
      for (const k of Object.keys(USER_TASTE)) delete USER_TASTE[k as keyof TasteOptions];
      Object.assign(USER_TASTE, v.taste);
      JITTER.session = v.jitter ?? baseJitter;
      Object.assign(USER_SKIPS, baseSkips, v.skips);
      mismatch = MISMATCH[name];
      const c0 = process.cpuUsage();
      const cur = userStation(reco, userId, prefix);
      const c1 = process.cpuUsage(c0);
      cpu.set(name, (cpu.get(name) ?? 0) + (c1.user + c1.system) / 1000);
      put(`${name} ${flags ? 'skips' : 'plays'}`, cur, target);
      if (name === 'current' && !values.variants) {
        const rc = reco.engine.catalog;
        const hist = prefix.map((id) => rc.lookup(id)!);
        const ex = new Set(hist);
        for (const [sn, so] of Object.entries(SUFFIX)) {
          const sc = suffixScores(reco, hist, ex, so);
          for (const th of [2, 4, 16]) {
            const top = [...sc]
              .filter(([, v]) => v >= th)
              .sort((a, b) => b[1] - a[1] || a[0] - b[0])
              .slice(0, 5)
              .map(([t]) => rc.id(t));
            put(`suffix ${sn} >=${th} then ${name} ${flags ? 'skips' : 'plays'}`, [...new Set([...top, ...cur])], target);
          }
        }
        for (const order of [2]) {
          const succ = successors(reco, hist, ex, order);
          for (const m of [2, 3, 5, 10]) {
            const mixed = [...new Set([...succ.slice(0, m).map((x) => rc.id(x)), ...cur])];
            put(`succ${order} ${m} then ${name} ${flags ? 'skips' : 'plays'}`, mixed, target);
          }
        }
      }
    }
    Object.assign(BLENDS.session, base);
    JITTER.session = baseJitter;
    Object.assign(USER_SKIPS, baseSkips);
    for (const k of Object.keys(USER_TASTE)) delete USER_TASTE[k as keyof TasteOptions];
  }
  const idx = prefix.map((id) => cat.ensure(id));
  put(
    'co-occurrence',
    cooccurrence(prepS.engine, idx, K, new Set(idx)).map((x) => cat.id(x)),
    target,
  );
}
const co = stats.get('co-occurrence')!;
for (const [name, ms] of cpu) log(`${name}: ${(ms / (2 * co.xs.length)).toFixed(2)} ms CPU per batch of 20 (mean)`);
const f4 = (x: number) => x.toFixed(4);
console.log(`split ${split}, ${co.xs.length} sessions, ${((performance.now() - t1) / 1000).toFixed(0)} s`);
for (const [m, s] of stats) {
  const d = s.minus(co);
  // Paired with 'current' on the same listeners (same skip flags), when both ran.
  const flags = m.endsWith(' skips') ? 'skips' : m.endsWith(' plays') ? 'plays' : null;
  const cur = flags ? stats.get(`current ${flags}`) : undefined;
  const vc = cur && cur !== s ? s.minus(cur) : null;
  const vsCur = vc ? `  vs current ${vc.mean >= 0 ? '+' : ''}${f4(vc.mean)} ± ${f4(vc.se)}` : '';
  console.log(`${m.padEnd(40)} ${f4(s.mean)} ± ${f4(s.se)}  x${(s.mean / co.mean).toFixed(3)}  diff ${f4(d.mean)} ± ${f4(d.se)}${vsCur}`);
}
