// Ranking metrics of the evaluation: RecSys Challenge 2018 (R-precision, NDCG, clicks)
// for playlist continuation, hit rate and NDCG at K for next-track prediction.

/** Share of the relevant tracks found in the first |relevant| places (track level only). */
export function rPrecision(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  const n = Math.min(ranked.length, relevant.size);
  for (let i = 0; i < n; i++) if (relevant.has(ranked[i]!)) hits++;
  return hits / relevant.size;
}

/** NDCG over the whole ranked list (500 long in the challenge), binary relevance. */
export function ndcg(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  if (relevant.size === 0) return 0;
  let dcg = 0;
  for (let i = 0; i < ranked.length; i++) if (relevant.has(ranked[i]!)) dcg += 1 / Math.log2(i + 2);
  let idcg = 0;
  for (let i = 0; i < Math.min(relevant.size, ranked.length); i++) idcg += 1 / Math.log2(i + 2);
  return dcg / idcg;
}

/** Pages of 10 a listener refreshes before the first relevant track (51 when none in 500). */
export function clicks(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  for (let i = 0; i < ranked.length; i++) if (relevant.has(ranked[i]!)) return Math.floor(i / 10);
  return 51;
}

/** 1 / log2(rank + 1) of the single target within the first k, else 0. */
export function ndcgAt(ranked: readonly string[], target: string, k: number): number {
  const i = ranked.indexOf(target);
  return i >= 0 && i < k ? 1 / Math.log2(i + 2) : 0;
}

export function hitAt(ranked: readonly string[], target: string, k: number): number {
  const i = ranked.indexOf(target);
  return i >= 0 && i < k ? 1 : 0;
}

export class Mean {
  private sum = 0;
  n = 0;
  add(x: number): void {
    this.sum += x;
    this.n++;
  }
  get value(): number {
    return this.n ? this.sum / this.n : 0;
  }
}

/** Nearest-rank percentile of a sample (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Heap in use (MB), after a full collection when node runs with --expose-gc. */
export function heapUsedMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}
