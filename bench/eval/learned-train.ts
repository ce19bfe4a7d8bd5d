// Issue 24 round 9: trains the learned session scorers on the TRAIN half of a dump
// (`node bench/eval/learned.ts dump`) and scores them offline on its EVAL half: HR@10 of
// the candidates re-ranked by the model against their order by the current blend,
// paired on the same prefixes (the station's jitter and artist rules left out).
//   node bench/eval/learned-train.ts [--dump FILE] [--model linear|trees] [--out model.json]
// Listwise: per prefix a softmax over its candidates, the next track the one right answer
// (prefixes whose next track is not a candidate carry no gradient). Deterministic: no
// random numbers anywhere (full-batch gradient steps; trees split on quantile bins).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Stat } from './api.ts';
import { expand, F, LINEAR_TERMS, type Model, predict, type Tree } from './ranker.ts';

const { values } = parseArgs({
  options: {
    dump: { type: 'string', default: '/tmp/learned-dump' },
    model: { type: 'string', default: 'linear' },
    out: { type: 'string' },
    epochs: { type: 'string', default: '300' },
    l2: { type: 'string', default: '1e-4' },
    trees: { type: 'string', default: '100' },
    depth: { type: 'string', default: '3' },
    rate: { type: 'string', default: '0.1' },
    leaf: { type: 'string', default: '20' },
    top: { type: 'string', default: '300' },
    /** The half trained on (the other is evaluated): 0 as the dump's `half`, 1 for the cross-fitted other way round. */
    fold: { type: 'string', default: '0' },
    /** Per eval prefix: the current order's hit and the model's (to pool the two folds). */
    pairs: { type: 'string' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const meta = JSON.parse(readFileSync(`${values.dump}.json`, 'utf8')) as {
  features: string[];
  meta: { id: string; half: number; flags: boolean; n: number; hit: number; co: number; repeat: number; reached: number; extra?: boolean }[];
};
const NF = meta.features.length;
const raw = new Float32Array(readFileSync(`${values.dump}.bin`).buffer.slice(0));
const TOP = Number(values.top);

interface Query {
  half: number;
  /** A further training prefix of a train-half session (learned.ts --extra). */
  extra: boolean;
  flags: boolean;
  hit: number;
  co: number;
  /** Rows [from, from + n) of the candidate arrays; `label` the index of the next track in it or -1. */
  from: number;
  n: number;
  label: number;
}
const queries: Query[] = [];
{
  let o = 0;
  let row = 0;
  for (const m of meta.meta) {
    let label = -1;
    const n = Math.min(m.n, TOP + 1);
    for (let i = 0; i < m.n; i++) if (raw[(o + i) * (NF + 1)] === 1 && i < n) label = i;
    queries.push({ half: m.half, extra: m.extra === true, flags: m.flags, hit: m.hit, co: m.co, from: row, n, label, o } as Query & { o: number });
    o += m.n;
    row += n;
  }
}
const rows = queries.reduce((a, q) => a + q.n, 0);
/** Raw features per row. */
const X = new Float32Array(rows * NF);
for (const q of queries as (Query & { o: number })[])
  for (let i = 0; i < q.n; i++) X.set(raw.subarray((q.o + i) * (NF + 1) + 1, (q.o + i + 1) * (NF + 1)), (q.from + i) * NF);
const fold = Number(values.fold);
const train = queries.filter((q) => q.half === fold);
const evalQ = queries.filter((q) => q.half !== fold && !q.extra);
log(
  `${queries.length} prefixes (${train.length} train, ${evalQ.length} eval), ${rows} candidates, target a candidate in ${queries.filter((q) => q.label >= 0).length}`,
);

/** Softmax over a query's scores: p into `p`, returns log p(label). */
function softmax(s: Float64Array, from: number, n: number, p: Float64Array, label: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, s[from + i]!);
  let z = 0;
  for (let i = 0; i < n; i++) z += p[from + i] = Math.exp(s[from + i]! - m);
  for (let i = 0; i < n; i++) p[from + i]! /= z;
  return label >= 0 ? Math.log(p[from + label]!) : 0;
}

let model: Model;
if (values.model === 'linear') {
  const T = LINEAR_TERMS;
  const Z = new Float32Array(rows * T);
  const x = new Float64Array(T);
  for (let r = 0; r < rows; r++) {
    expand(X.subarray(r * NF, (r + 1) * NF), x);
    Z.set(x, r * T);
  }
  // Standardised on the train half's rows.
  const mean = new Float64Array(T);
  const sd = new Float64Array(T);
  let cnt = 0;
  for (const q of train)
    for (let i = 0; i < q.n; i++) {
      cnt++;
      for (let t = 0; t < T; t++) mean[t] += Z[(q.from + i) * T + t]!;
    }
  for (let t = 0; t < T; t++) mean[t]! /= cnt;
  for (const q of train) for (let i = 0; i < q.n; i++) for (let t = 0; t < T; t++) sd[t] += (Z[(q.from + i) * T + t]! - mean[t]!) ** 2;
  for (let t = 0; t < T; t++) sd[t] = Math.sqrt(sd[t]! / cnt) || 1;
  for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) Z[r * T + t] = (Z[r * T + t]! - mean[t]!) / sd[t]!;
  const w = new Float64Array(T);
  const s = new Float64Array(rows);
  const p = new Float64Array(rows);
  const g = new Float64Array(T);
  const m1 = new Float64Array(T);
  const m2 = new Float64Array(T);
  const l2 = Number(values.l2);
  const used = train.filter((q) => q.label >= 0);
  const epochs = Number(values.epochs);
  for (let ep = 1; ep <= epochs; ep++) {
    g.fill(0);
    let ll = 0;
    for (const q of used) {
      for (let i = 0; i < q.n; i++) {
        let v = 0;
        const o = (q.from + i) * T;
        for (let t = 0; t < T; t++) v += w[t]! * Z[o + t]!;
        s[q.from + i] = v;
      }
      ll += softmax(s, q.from, q.n, p, q.label);
      for (let i = 0; i < q.n; i++) {
        const d = p[q.from + i]! - (i === q.label ? 1 : 0);
        if (Math.abs(d) < 1e-7) continue;
        const o = (q.from + i) * T;
        for (let t = 0; t < T; t++) g[t] += d * Z[o + t]!;
      }
    }
    // Adam, full batch.
    for (let t = 0; t < T; t++) {
      const gt = g[t]! / used.length + l2 * w[t]!;
      m1[t] = 0.9 * m1[t]! + 0.1 * gt;
      m2[t] = 0.999 * m2[t]! + 0.001 * gt * gt;
      w[t] -= (0.05 * (m1[t]! / (1 - 0.9 ** ep))) / (Math.sqrt(m2[t]! / (1 - 0.999 ** ep)) + 1e-8);
    }
    if (ep % 50 === 0 || ep === 1) log(`epoch ${ep}: train log-likelihood ${(ll / used.length).toFixed(4)}`);
  }
  model = { kind: 'linear', mean: [...mean], sd: [...sd], w: [...w] };
} else {
  // Newton-boosted regression trees on the softmax's gradients, splits on quantile bins.
  const BINS = 32;
  const used = train.filter((q) => q.label >= 0);
  const trainRows: number[] = [];
  for (const q of used) for (let i = 0; i < q.n; i++) trainRows.push(q.from + i);
  const cuts: number[][] = [];
  for (let f = 0; f < NF; f++) {
    const vals = Float64Array.from(trainRows.filter((_, i) => i % 7 === 0).map((r) => X[r * NF + f]!)).sort();
    const cs: number[] = [];
    for (let b = 1; b < BINS; b++) {
      const v = vals[Math.floor((b * vals.length) / BINS)]!;
      if (cs.length === 0 || v > cs[cs.length - 1]!) cs.push(v);
    }
    cuts.push(cs);
  }
  const binOf = new Uint8Array(rows * NF);
  for (let r = 0; r < rows; r++)
    for (let f = 0; f < NF; f++) {
      const v = X[r * NF + f]!;
      const cs = cuts[f]!;
      let b = 0;
      while (b < cs.length && v > cs[b]!) b++;
      binOf[r * NF + f] = b;
    }
  const s = new Float64Array(rows);
  const p = new Float64Array(rows);
  const grad = new Float64Array(rows);
  const hess = new Float64Array(rows);
  const trees: Tree[] = [];
  const depth = Number(values.depth);
  const rate = Number(values.rate);
  const minLeaf = Number(values.leaf);
  const lambda = 1;
  const gh = new Float64Array(NF * BINS * 2);
  for (let it = 1; it <= Number(values.trees); it++) {
    let ll = 0;
    for (const q of used) {
      ll += softmax(s, q.from, q.n, p, q.label);
      for (let i = 0; i < q.n; i++) {
        const pi = p[q.from + i]!;
        grad[q.from + i] = pi - (i === q.label ? 1 : 0);
        hess[q.from + i] = Math.max(pi * (1 - pi), 1e-6);
      }
    }
    const tree: Tree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const grow = (rowsIn: number[], d: number): number => {
      const node = tree.feature.length;
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      let G = 0;
      let H = 0;
      for (const r of rowsIn) {
        G += grad[r]!;
        H += hess[r]!;
      }
      tree.value.push((-G / (H + lambda)) * rate);
      if (d >= depth || H < 2 * minLeaf) return node;
      gh.fill(0);
      for (const r of rowsIn) {
        const o = r * NF;
        const gr = grad[r]!;
        const hr = hess[r]!;
        for (let f = 0; f < NF; f++) {
          const k = (f * BINS + binOf[o + f]!) * 2;
          gh[k] += gr;
          gh[k + 1] += hr;
        }
      }
      const parent = (G * G) / (H + lambda);
      let best = 0;
      let bf = -1;
      let bb = -1;
      for (let f = 0; f < NF; f++) {
        let gl = 0;
        let hl = 0;
        for (let b = 0; b < cuts[f]!.length; b++) {
          gl += gh[(f * BINS + b) * 2]!;
          hl += gh[(f * BINS + b) * 2 + 1]!;
          const gr = G - gl;
          const hr = H - hl;
          if (hl < minLeaf || hr < minLeaf) continue;
          const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parent;
          if (gain > best) {
            best = gain;
            bf = f;
            bb = b;
          }
        }
      }
      if (bf < 0) return node;
      const L: number[] = [];
      const R: number[] = [];
      for (const r of rowsIn) (binOf[r * NF + bf]! <= bb ? L : R).push(r);
      tree.feature[node] = bf;
      tree.threshold[node] = cuts[bf]![bb]!;
      const l = grow(L, d + 1);
      const rr = grow(R, d + 1);
      tree.left[node] = l;
      tree.right[node] = rr;
      return node;
    };
    grow(trainRows, 0);
    trees.push(tree);
    // Scores of every row (the eval half too), with this tree added.
    const one: Model = { kind: 'trees', trees: [tree] };
    for (let r = 0; r < rows; r++) s[r] += predict(one, X.subarray(r * NF, (r + 1) * NF));
    if (it % 20 === 0 || it === 1) log(`tree ${it}: train log-likelihood ${(ll / used.length).toFixed(4)}`);
  }
  model = { kind: 'trees', trees };
  const gainOf = new Float64Array(NF);
  for (const t of trees) for (const f of t.feature) if (f >= 0) gainOf[f]++;
  log(`splits per feature: ${meta.features.map((n, f) => `${n} ${gainOf[f]}`).join(', ')}`);
}

const pairs: { i: number; flags: boolean; cur: number; lrn: number; co: number }[] = [];
// Offline HR@10 on both halves: the model's order against the current blend's (feature `blend`).
const f4 = (x: number) => x.toFixed(4);
for (const [name, qs] of [
  ['train', train.filter((q) => !q.extra)],
  ['eval', evalQ],
] as const) {
  for (const flags of [true, false]) {
    const cur = new Stat();
    const lrn = new Stat();
    const station = new Stat();
    const co = new Stat();
    for (const q of qs) {
      if (q.flags !== flags) continue;
      station.add(q.hit);
      co.add(q.co);
      if (q.label < 0) {
        cur.add(0);
        lrn.add(0);
        continue;
      }
      const rankBy = (sc: (r: number) => number) => {
        const t = sc(q.from + q.label);
        let above = 0;
        for (let i = 0; i < q.n; i++) if (i !== q.label && sc(q.from + i) > t) above++;
        return above;
      };
      cur.add(rankBy((r) => X[r * NF + F.blend]!) < 10 ? 1 : 0);
      lrn.add(rankBy((r) => predict(model, X.subarray(r * NF, (r + 1) * NF))) < 10 ? 1 : 0);
      if (name === 'eval') pairs.push({ i: q.from, flags, cur: cur.xs.at(-1)!, lrn: lrn.xs.at(-1)!, co: q.co });
    }
    const d = lrn.minus(cur);
    console.log(
      `${name} ${flags ? 'skips' : 'plays'} (${cur.xs.length}): co ${f4(co.mean)} station ${f4(station.mean)} current ${f4(cur.mean)} (x${(cur.mean / co.mean).toFixed(3)}) learned ${f4(lrn.mean)} (x${(lrn.mean / co.mean).toFixed(3)})  diff ${d.mean >= 0 ? '+' : ''}${f4(d.mean)} ± ${f4(d.se)}`,
    );
  }
}
if (values.pairs) writeFileSync(values.pairs, JSON.stringify(pairs));
if (values.out) writeFileSync(values.out, JSON.stringify(model));
