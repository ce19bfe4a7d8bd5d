// Secondary indexes over the baskets, derived and rebuilt lazily: baskets per artist
// (basket similarity through shared artists) and per word of their name (playlists
// named like a context or a station). On a large engine a rebuild happens at most
// every 10 s, and in the background, a slice of baskets per turn of the event loop: the
// requests meanwhile use the stale index (issue 24: answers are not held up by a
// rebuild). A slightly stale index only misses the newest baskets.
import { KIND_CODE, type Baskets } from './baskets.ts';
import type { Catalog } from './catalog.ts';

export interface IndexOptions {
  /** A large engine's index is rebuilt at most this often. */
  rebuildEveryMs: number;
  /** More baskets than this: rebuilds run in the background. */
  large: number;
  /** Baskets indexed per turn of the event loop by a background rebuild. */
  slice: number;
}

export const INDEX_DEFAULTS: IndexOptions = { rebuildEveryMs: 10_000, large: 5000, slice: 2_000 };

/** Lower-case word tokens of a name, without punctuation and emoji. */
export function nameTokens(name: string): string[] {
  return [
    ...new Set(
      name
        .normalize('NFKC')
        .toLowerCase()
        .split(/[^\p{L}\p{N}]+/u)
        .filter((w) => w.length > 1),
    ),
  ];
}

export class BasketIndexes {
  private artists: number[][] = [];
  private artistsBuilt = { revision: -1, baskets: -1, at: 0 };
  private words = new Map<string, number[]>();
  private wordsBuilt = { baskets: -1, at: 0 };

  private readonly catalog: Catalog;
  private readonly baskets: Baskets;
  private readonly o: IndexOptions;
  constructor(catalog: Catalog, baskets: Baskets, o: Partial<IndexOptions> = {}) {
    this.catalog = catalog;
    this.baskets = baskets;
    this.o = { ...INDEX_DEFAULTS, ...o };
  }

  /** Whether a background rebuild is under way (answers meanwhile use the index before it). */
  get rebuilding(): boolean {
    return this.artistsJob || this.wordsJob;
  }

  private artistsJob = false;
  private wordsJob = false;

  /**
   * Whether to rebuild now (synchronously: the first build, and any on a small engine),
   * later in the background (a large engine whose index is older than `rebuildEveryMs`),
   * or not at all.
   */
  private due(changed: boolean, never: boolean, at: number, running: boolean): 'now' | 'background' | null {
    if (!changed) return null;
    if (never || this.baskets.size <= this.o.large) return 'now';
    return !running && Date.now() - at >= this.o.rebuildEveryMs ? 'background' : null;
  }

  /** Runs `each` over baskets [0, size): at once, or `slice` a turn; then `done`. */
  private walk(size: number, how: 'now' | 'background', each: (b: number) => void, done: () => void): void {
    if (how === 'now') {
      for (let b = 0; b < size; b++) each(b);
      done();
      return;
    }
    let b = 0;
    const step = () => {
      const end = Math.min(size, b + this.o.slice);
      for (; b < end; b++) each(b);
      if (b < size) setImmediate(step);
      else done();
    };
    setImmediate(step);
  }

  /** Basket indexes per artist index. */
  byArtist(): number[][] {
    const built = this.artistsBuilt;
    const changed = built.revision !== this.catalog.revision || built.baskets !== this.baskets.size;
    const how = this.due(changed, built.revision < 0, built.at, this.artistsJob);
    if (how) {
      const out: number[][] = [];
      const artist = this.catalog.artist;
      const revision = this.catalog.revision;
      const size = this.baskets.size;
      this.artistsJob = how === 'background';
      this.walk(
        size,
        how,
        (b) => {
          const { data, start, count } = this.baskets;
          if (this.baskets.dead[b]) return;
          for (let i = start[b]!, end = i + count[b]!; i < end; i++) {
            const a = artist[data[i]!]!;
            if (a < 0) continue;
            const p = (out[a] ??= []);
            if (p[p.length - 1] !== b) p.push(b);
          }
        },
        () => {
          this.artists = out;
          this.artistsBuilt = { revision, baskets: size, at: Date.now() };
          this.artistsJob = false;
        },
      );
    }
    return this.artists;
  }

  /** Basket indexes per word of their name (only named baskets: playlists). */
  byWord(): Map<string, number[]> {
    const built = this.wordsBuilt;
    const how = this.due(built.baskets !== this.baskets.size, built.baskets < 0, built.at, this.wordsJob);
    if (how) {
      const out = new Map<string, number[]>();
      const size = this.baskets.size;
      this.wordsJob = how === 'background';
      this.walk(
        size,
        how,
        (b) => {
          const name = this.baskets.names[b];
          if (!name || this.baskets.dead[b]) return;
          for (const w of nameTokens(name)) {
            const p = out.get(w);
            if (p) p.push(b);
            else out.set(w, [b]);
          }
        },
        () => {
          this.words = out;
          this.wordsBuilt = { baskets: size, at: Date.now() };
          this.wordsJob = false;
        },
      );
    }
    return this.words;
  }

  playlistsNamed(words: readonly string[], limit: number): { id: string; name: string; matched: string[] }[] {
    const index = this.byWord();
    const hits = new Map<number, { score: number; matched: string[] }>();
    for (const w of new Set(words)) {
      const posting = index.get(w) ?? [];
      const idf = Math.log(1 + this.baskets.live / Math.max(1, posting.length));
      for (const b of posting) {
        if (this.baskets.dead[b] || this.baskets.kind[b] !== KIND_CODE.playlist) continue;
        const h = hits.get(b) ?? { score: 0, matched: [] };
        h.score += idf;
        h.matched.push(w);
        hits.set(b, h);
      }
    }
    return [...hits]
      .sort((a, b) => b[1].score - a[1].score || this.baskets.length(b[0]) - this.baskets.length(a[0]) || a[0] - b[0])
      .slice(0, limit)
      .map(([b, h]) => ({ id: this.baskets.keyOf(b)!.slice('playlist:'.length), name: this.baskets.names[b] ?? '', matched: h.matched }));
  }
}
