// Next track in a session: after prefixes of a held-out session, rank 10 tracks; the
// target is the next track the listener did not skip. Hit rate@10 and NDCG@10 of the
// engine without and with the session's earlier skips as feedback, against popularity
// and plain co-occurrence baselines computed in the same run.
import { Engine, type Blend } from '../../src/reco/engine.ts';
import { outcomes, sequenceSeeds } from '../../src/reco/sequence.ts';
import { cooccurrence, fill, popularity } from './baselines.ts';
import { bucket, splitOf, type Session, type SplitName } from './data.ts';
import { heapUsedMb, Mean } from './metrics.ts';

export interface SessionPrep {
  engine: Engine;
  held: { tracks: number[]; skipped: boolean[] }[];
  buildMs: number;
  heapMb: number;
  trainSessions: number;
}

export function prepareSessions(sessions: Session[], split: SplitName, log = console.error): SessionPrep {
  const { test, train } = splitOf(split);
  const heap0 = heapUsedMb();
  const t0 = performance.now();
  const engine = new Engine();
  const held: SessionPrep['held'] = [];
  let trainSessions = 0;
  for (const s of sessions) {
    const b = bucket(`session:${s.id}`);
    if (train(b)) {
      trainSessions++;
      for (let i = 0; i < s.tracks.length; i++) engine.addSessionPlay(s.id, s.tracks[i]!, s.skipped[i]!);
    } else if (test(b)) held.push({ tracks: s.tracks.map((x) => engine.catalog.ensure(x)), skipped: s.skipped });
  }
  engine.catalog.popular(1);
  const buildMs = performance.now() - t0;
  const heapMb = heapUsedMb() - heap0;
  log(
    `sessions: ${trainSessions} training sessions, engine built in ${(buildMs / 1000).toFixed(2)} s (+${heapMb.toFixed(0)} MB heap); ${held.length} held-out sessions`,
  );
  return { engine, held, buildMs, heapMb, trainSessions };
}

export interface Variant {
  name: string;
  /** Pass the prefix's skips as feedback (outcomes to match). */
  feedback: boolean;
  blend?: Partial<Blend>;
  mismatch?: number;
}

export const VARIANTS: Variant[] = [
  { name: 'engine, no feedback', feedback: false },
  { name: 'engine, skips as feedback', feedback: true },
];

const K = 10;

/** Prefix lengths 1, 1 + step, 1 + 2 step, ... of each held-out session are evaluated. */
export function runSessions(prep: SessionPrep, variants = VARIANTS, baselines = true, step = 2) {
  const { engine, held } = prep;
  const acc = new Map<string, { hit: Mean; ndcg: Mean; hits: number[]; ndcgs: number[] }>();
  const add = (name: string, ranked: number[], target: number) => {
    let m = acc.get(name);
    if (!m) acc.set(name, (m = { hit: new Mean(), ndcg: new Mean(), hits: [], ndcgs: [] }));
    const i = ranked.indexOf(target);
    const hit = i >= 0 && i < K ? 1 : 0;
    const n = hit ? 1 / Math.log2(i + 2) : 0;
    m.hit.add(hit);
    m.ndcg.add(n);
    m.hits.push(hit);
    m.ndcgs.push(n);
  };
  let queries = 0;
  let repeats = 0;
  for (const s of held) {
    for (let t = 1; t < s.tracks.length; t += step) {
      let j = t;
      while (j < s.tracks.length && s.skipped[j]) j++;
      if (j >= s.tracks.length) break;
      const target = s.tracks[j]!;
      const prefix = s.tracks.slice(0, t);
      // Like a radio, nothing just played is suggested again (a repeat counts as a miss).
      const exclude = new Set(prefix);
      if (exclude.has(target)) repeats++;
      queries++;
      if (baselines) {
        add('popularity', popularity(engine, K, exclude), target);
        add('co-occurrence', cooccurrence(engine, prefix, K, exclude), target);
      }
      const history = prefix.map((track, i) => ({ track, skipped: s.skipped[i]! }));
      for (const v of variants) {
        const seeds = { tracks: sequenceSeeds(history), skipped: v.feedback ? outcomes(history) : undefined, sequence: prefix.slice(-8) };
        const ranked = engine.score(seeds, { mode: 'session', limit: K, exclude, blend: v.blend, outcomeMismatch: v.mismatch }).map((x) => x.track);
        add(v.name, fill(engine, ranked, K, exclude), target);
      }
    }
  }
  return {
    rows: [...acc].map(([method, m]) => ({ method, hit: m.hit.value, ndcg: m.ndcg.value, n: m.hit.n })),
    queries,
    repeats,
    paired: paired(acc.get(VARIANTS[1]!.name), acc.get(VARIANTS[0]!.name)),
  };
}

/** Mean difference a - b over the same predictions, with its standard error. */
function paired(a?: { hits: number[]; ndcgs: number[] }, b?: { hits: number[]; ndcgs: number[] }) {
  if (!a || !b) return { hit: 0, hitSe: 0, ndcg: 0, ndcgSe: 0, changed: 0, gained: 0, lost: 0 };
  const stat = (x: number[], y: number[]) => {
    const d = x.map((v, i) => v - y[i]!);
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const variance = d.reduce((s, v) => s + (v - mean) ** 2, 0) / (d.length - 1);
    return { mean, se: Math.sqrt(variance / d.length) };
  };
  const h = stat(a.hits, b.hits);
  const n = stat(a.ndcgs, b.ndcgs);
  const gained = a.hits.filter((v, i) => v > b.hits[i]!).length / a.hits.length;
  const lost = a.hits.filter((v, i) => v < b.hits[i]!).length / a.hits.length;
  return { hit: h.mean, hitSe: h.se, ndcg: n.mean, ndcgSe: n.se, changed: gained + lost, gained, lost };
}
