// The baselines every row is compared with, computed in the same run on the same
// training data: popularity, and plain item co-occurrence (raw counts of how often a
// track shares a basket with each seed, summed over seeds; popularity breaks ties).
import type { Engine } from '../../src/reco/engine.ts';

export function popularity(engine: Engine, limit: number, exclude: ReadonlySet<number>): number[] {
  return engine.catalog
    .popular(limit + exclude.size)
    .filter((t) => !exclude.has(t))
    .slice(0, limit);
}

export function cooccurrence(engine: Engine, seeds: readonly number[], limit: number, exclude: ReadonlySet<number>): number[] {
  const { baskets, catalog } = engine;
  const counts = new Map<number, number>();
  for (const s of seeds) {
    for (const b of baskets.of(s)) {
      if (baskets.dead[b]) continue;
      for (const j of baskets.items(b)) if (j !== s) counts.set(j, (counts.get(j) ?? 0) + 1);
    }
  }
  const ranked = [...counts]
    .filter(([t]) => !exclude.has(t))
    .sort((a, b) => b[1] - a[1] || catalog.popularity[b[0]]! - catalog.popularity[a[0]]! || a[0] - b[0])
    .slice(0, limit)
    .map(([t]) => t);
  return fill(engine, ranked, limit, exclude);
}

/** Tops a ranking up to `limit` with popular tracks it does not hold yet. */
export function fill(engine: Engine, ranked: number[], limit: number, exclude: ReadonlySet<number>): number[] {
  if (ranked.length >= limit) return ranked.slice(0, limit);
  const have = new Set(ranked);
  for (const t of engine.catalog.popular(limit * 2 + exclude.size)) {
    if (ranked.length >= limit) break;
    if (!have.has(t) && !exclude.has(t)) ranked.push(t);
  }
  return ranked;
}
