// Search over the catalog in memory: every word of a title, artist or album, sorted, so
// a query word matches by prefix with a binary search. All words must match; then whole
// words and the query's words in order within a field rank higher, then popular tracks. Rebuilt when the catalog changes (at most
// every few seconds on a large one).
import type { Catalog } from '../reco/catalog.ts';

const words = (s: string) =>
  s
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

export class TrackSearch {
  private built = -1;
  private builtAt = 0;
  private tokens: string[] = [];
  private postings: number[][] = [];

  private readonly catalog: Catalog;
  constructor(catalog: Catalog) {
    this.catalog = catalog;
  }

  private build(): void {
    const cat = this.catalog;
    const stale = this.built !== cat.revision && (cat.size < 50_000 || Date.now() - this.builtAt > 5000 || this.built < 0);
    if (!stale) return;
    const index = new Map<string, number[]>();
    for (let t = 0; t < cat.size; t++) {
      if (!cat.described[t]) continue;
      const al = cat.album[t]!;
      const text = `${cat.title(t) ?? ''} ${cat.artistName(t) ?? ''} ${al >= 0 ? (cat.albumTitles[al] ?? '') : ''}`;
      for (const w of new Set(words(text))) {
        const p = index.get(w);
        if (p) p.push(t);
        else index.set(w, [t]);
      }
    }
    this.tokens = [...index.keys()].sort();
    this.postings = this.tokens.map((w) => index.get(w)!);
    this.built = cat.revision;
    this.builtAt = Date.now();
  }

  search(q: string, limit: number): { track: number; score: number }[] {
    this.build();
    const qs = [...new Set(words(q))].slice(0, 8);
    if (qs.length === 0) return [];
    let matched: Map<number, number> | null = null;
    for (const w of qs) {
      const hits = new Map<number, number>();
      // One-letter words match whole words only: as a prefix they would match half the catalog.
      let i = lowerBound(this.tokens, w);
      for (; i < this.tokens.length && this.tokens[i]!.startsWith(w); i++) {
        const exact = this.tokens[i] === w;
        if (!exact && w.length < 2) break;
        for (const t of this.postings[i]!) hits.set(t, Math.max(hits.get(t) ?? 0, exact ? 1.2 : 1));
      }
      if (matched === null) matched = hits;
      else {
        const next = new Map<number, number>();
        for (const [t, s] of matched) {
          const h = hits.get(t);
          if (h !== undefined) next.set(t, s + h);
        }
        matched = next;
      }
      if (matched.size === 0) return [];
    }
    const cat = this.catalog;
    const maxPop = Math.log1p(cat.maxPopularity) || 1;
    // The words in the query's order inside one field ("song 2 of 3") beat the same words scattered.
    const phrase = words(q).join(' ');
    const inOrder = (t: number) => {
      const al = cat.album[t]!;
      return [cat.title(t) ?? '', cat.artistName(t) ?? '', al >= 0 ? (cat.albumTitles[al] ?? '') : ''].some((f) =>
        ` ${words(f).join(' ')} `.includes(` ${phrase} `),
      );
    };
    return [...matched!]
      .map(([track, s]) => ({
        track,
        score: Math.round((s / qs.length + (inOrder(track) ? 0.5 : 0) + (0.2 * Math.log1p(Math.max(0, cat.popularity[track]!))) / maxPop) * 1e4) / 1e4,
      }))
      .sort((a, b) => b.score - a.score || a.track - b.track)
      .slice(0, limit);
  }
}

function lowerBound(xs: readonly string[], x: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
