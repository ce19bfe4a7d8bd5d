// Content similarity helpers of the engine: genres, audio features, albums of the seeds,
// and small map utilities. Pure functions over the catalog.
import type { Catalog } from './catalog.ts';
import type { Seeds } from './seeds.ts';

export function sum(xs: Iterable<number>): number {
  let s = 0;
  for (const x of xs) if (x > 0) s += x;
  return s;
}

export function topKeys(m: Map<number, number>, n: number): number[] {
  return [...m]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k]) => k);
}

export function genreScore(gs: readonly number[] | null, w: Map<number, number>, mass: number): number {
  if (!gs || w.size === 0) return 0;
  let s = 0;
  for (const g of gs) s += Math.max(0, w.get(g) ?? 0);
  return s / mass / gs.length;
}

export function bestGenre(gs: readonly number[] | null, w: Map<number, number>): number {
  let best = -1;
  let bv = 0;
  for (const g of gs ?? []) {
    const v = w.get(g) ?? 0;
    if (v > bv) {
      bv = v;
      best = g;
    }
  }
  return best;
}

export function featureScore(cat: Catalog, j: number, seeds: number[]): number {
  if (seeds.length === 0 || !cat.features(j)) return 0;
  let s = 0;
  let n = 0;
  for (const t of seeds) {
    const v = cat.featureSimilarity(t, j);
    if (v !== null) {
      s += v;
      n++;
    }
  }
  return n ? s / n : 0;
}

export function seedAlbums(cat: Catalog, seeds: Seeds): Set<number> {
  const out = new Set<number>();
  for (const [s, w] of seeds.tracks) if (w > 0 && cat.album[s]! >= 0) out.add(cat.album[s]!);
  return out;
}
