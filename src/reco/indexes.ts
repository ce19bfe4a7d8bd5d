// Secondary indexes over the baskets, derived and rebuilt lazily: baskets per artist
// (basket similarity through shared artists) and per word of their name (playlists
// named like a context or a station). On a large engine a rebuild happens at most
// every 10 s, and in the background, a slice of baskets per turn of the event loop: the
// requests meanwhile use the stale index (issue 24: answers are not held up by a
// rebuild). A slightly stale index only misses the newest baskets.
import { KIND_CODE, type Baskets } from './baskets.ts';
import type { Catalog } from './catalog.ts';
import { PackedLists, resized } from './typed.ts';

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

/** (key, value) pairs added in order, packed into PackedLists; a value added again right after itself under a key is dropped. */
class PackedListsBuilder {
  private keysOf = new Int32Array(1024);
  private values = new Int32Array(1024);
  private n = 0;
  /** The last value added per key, + 1 (0: none). */
  private last: Int32Array;
  private maxKey = -1;
  constructor(keys: number) {
    this.last = new Int32Array(Math.max(16, keys));
  }

  add(k: number, v: number): void {
    if (k >= this.last.length) this.last = resized(this.last, Math.max(k + 1, this.last.length * 2));
    if (this.last[k] === v + 1) return;
    this.last[k] = v + 1;
    if (this.n === this.values.length) {
      this.keysOf = resized(this.keysOf, this.n * 2);
      this.values = resized(this.values, this.n * 2);
    }
    this.keysOf[this.n] = k;
    this.values[this.n++] = v;
    if (k > this.maxKey) this.maxKey = k;
  }

  /** Each key's values in the order they were added. */
  pack(): PackedLists {
    const keys = this.maxKey + 1;
    const off = new Int32Array(keys + 1);
    for (let i = 0; i < this.n; i++) off[this.keysOf[i]! + 1]!++;
    for (let k = 0; k < keys; k++) off[k + 1]! += off[k]!;
    const at = off.slice(0, keys);
    const data = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) data[at[this.keysOf[i]!]!++] = this.values[i]!;
    return new PackedLists(off, data);
  }
}

export class BasketIndexes {
  private artists = new PackedLists();
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
    baskets.onRenumber((map) => this.renumbered(map));
  }

  /**
   * Dead baskets' numbers were given back (Baskets.renumber): the indexes name the same
   * live baskets by their new numbers, and count as built up to where they were built
   * (baskets added since are still news to them). A background rebuild under way walked
   * the old numbers: it is dropped (walk) and runs again when next due.
   */
  private renumbered(map: Int32Array): void {
    const upTo = (built: number) => {
      if (built < 0) return built;
      let n = 0;
      for (let b = 0; b < Math.min(built, map.length); b++) if (map[b]! >= 0) n++;
      return n;
    };
    const { off, data } = this.artists;
    const nextOff = new Int32Array(off.length);
    const nextData = new Int32Array(data.length);
    let n = 0;
    for (let a = 0; a + 1 < off.length; a++) {
      for (let i = off[a]!; i < off[a + 1]!; i++) {
        const b = map[data[i]!]!;
        if (b >= 0) nextData[n++] = b;
      }
      nextOff[a + 1] = n;
    }
    this.artists = new PackedLists(nextOff, nextData.slice(0, n));
    this.artistsBuilt = { ...this.artistsBuilt, baskets: upTo(this.artistsBuilt.baskets) };
    for (const [w, list] of this.words) {
      const kept = list.map((b) => map[b]!).filter((b) => b >= 0);
      if (kept.length > 0) this.words.set(w, kept);
      else this.words.delete(w);
    }
    this.wordsBuilt = { ...this.wordsBuilt, baskets: upTo(this.wordsBuilt.baskets) };
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

  /**
   * Runs `each` over baskets [0, size): at once, or `slice` a turn; then `done`. A background
   * walk that a renumbering overtakes calls `dropped` instead (its numbers are stale).
   */
  private walk(size: number, how: 'now' | 'background', each: (b: number) => void, done: () => void, dropped: () => void): void {
    if (how === 'now') {
      for (let b = 0; b < size; b++) each(b);
      done();
      return;
    }
    const generation = this.baskets.generation;
    let b = 0;
    const step = () => {
      if (this.baskets.generation !== generation) return dropped();
      const end = Math.min(size, b + this.o.slice);
      for (; b < end; b++) each(b);
      if (b < size) setImmediate(step);
      else done();
    };
    setImmediate(step);
  }

  /** Basket indexes per artist index, oldest basket first. */
  byArtist(): PackedLists {
    const built = this.artistsBuilt;
    const changed = built.revision !== this.catalog.revision || built.baskets !== this.baskets.size;
    const how = this.due(changed, built.revision < 0, built.at, this.artistsJob);
    if (how) {
      const out = new PackedListsBuilder(this.catalog.artists.size);
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
            if (a >= 0) out.add(a, b);
          }
        },
        () => {
          this.artists = out.pack();
          this.artistsBuilt = { revision, baskets: size, at: Date.now() };
          this.artistsJob = false;
        },
        () => {
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
        () => {
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
