// Issue 24 round 9 (not kept): the learned session scorers (see learned.ts, learned-train.ts): a
// linear model over the features of SESSION_FEATURES and their products with the context
// type and the call's evidence, or a small set of regression trees over the raw features.
// Both trained listwise (softmax over a prefix's candidates; the next track is the one).

/** SESSION_FEATURES' indexes (src/reco/engine.ts with bench/eval/learned-engine.patch). */
export const F = {
  co: 0,
  knn: 1,
  seq: 2,
  pop: 3,
  seq1: 4,
  seq1Count: 5,
  run: 6,
  seqCtxShare: 7,
  logCo: 8,
  logKnn: 9,
  logSeq: 10,
  blend: 11,
  ctx: 12,
  logSeeds: 13,
  logLastSessions: 14,
  lastSkipped: 15,
  logMaxSeq: 16,
  skipRate: 17,
  logPlays: 18,
} as const;

/** Per-candidate terms of the linear model. */
const BASE = [F.co, F.knn, F.seq, F.pop, F.seq1, F.seq1Count, F.run, F.seqCtxShare, F.logCo, F.logKnn, F.logSeq] as const;
/** Terms multiplied by the context type (one-hot, 5 kinds) and by the call's evidence. */
const CROSS = [F.co, F.knn, F.seq, F.seq1, F.logSeq, F.pop] as const;
const EVIDENCE = [F.logSeeds, F.logLastSessions, F.lastSkipped, F.logMaxSeq] as const;
export const LINEAR_TERMS = BASE.length + CROSS.length * 5 + CROSS.length * EVIDENCE.length;

/** The linear model's terms of one candidate into `x` (length LINEAR_TERMS). */
export function expand(f: ArrayLike<number>, x: Float64Array | Float32Array, o = 0): void {
  let i = o;
  for (const b of BASE) x[i++] = f[b]!;
  const ctx = f[F.ctx]!;
  for (let c = 0; c < 5; c++) for (const b of CROSS) x[i++] = ctx === c ? f[b]! : 0;
  for (const e of EVIDENCE) for (const b of CROSS) x[i++] = f[e]! * f[b]!;
}

export interface Tree {
  /** Per node: feature (-1 = a leaf), threshold (go left when f <= threshold), children, leaf value. */
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

export type Model = { kind: 'linear'; mean: number[]; sd: number[]; w: number[] } | { kind: 'trees'; trees: Tree[] };

const scratch = new Float64Array(LINEAR_TERMS);

export function predict(m: Model, f: ArrayLike<number>): number {
  if (m.kind === 'linear') {
    expand(f, scratch);
    let s = 0;
    for (let i = 0; i < LINEAR_TERMS; i++) s += (m.w[i]! * (scratch[i]! - m.mean[i]!)) / m.sd[i]!;
    return s;
  }
  let s = 0;
  for (const t of m.trees) {
    let n = 0;
    while (t.feature[n]! >= 0) n = f[t.feature[n]!]! <= t.threshold[n]! ? t.left[n]! : t.right[n]!;
    s += t.value[n]!;
  }
  return s;
}
