// The engine's in-memory view of the catalog: tracks as dense integers with their
// artist, album, genres and audio features, so scoring works on arrays, not strings.
// Tracks seen only in listening data (no metadata) get an entry with no artist.
import { select } from './select.ts';
import { StringColumn, StringTable } from './strings.ts';
import { PackedLists, resized } from './typed.ts';

/** Audio features the engine compares when the catalog has them (all 0..1 but tempo). */
export const FEATURE_NAMES = ['tempo', 'energy', 'valence', 'danceability', 'acousticness', 'instrumentalness'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export interface TrackMeta {
  id: string;
  title: string;
  artist: string;
  album?: string | null;
  albumId?: string | null;
  durationMs?: number | null;
  genres?: string[];
  features?: Partial<Record<FeatureName, number>>;
  releaseDate?: string | null;
}

/** Lower-cased, trimmed, inner whitespace collapsed: the key artist/genre stations name. */
export function normalizeName(s: string): string {
  return s.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

/** Strings to dense ids and back. */
export class Interner {
  readonly names: string[] = [];
  readonly display: string[] = [];
  private readonly index = new Map<string, number>();

  intern(display: string): number {
    const key = normalizeName(display);
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(key);
      this.display.push(display);
      this.index.set(key, i);
    }
    return i;
  }

  find(name: string): number | undefined {
    return this.index.get(normalizeName(name));
  }

  get size(): number {
    return this.names.length;
  }
}

/** `popular(limit)` up to this many is answered from a selection, not a sort of the catalog. */
export const POPULAR_TOP = 2000;

/** The engine's default popularity normalisation of co-occurrence (Blend.coPopExponent). */
export const CO_POP_EXPONENT = 0.3;

export class Catalog {
  /** Track ids by track index, and back (bytes outside the JS heap: `id(t)`, `lookup(id)`). */
  private readonly ids = new StringTable();
  /** Titles by track index (null: no metadata), as bytes like the ids: `title(t)`. */
  private readonly titles = new StringColumn();
  // Per-track numbers in typed arrays (issue 12: a third of the memory of number[]),
  // grown by half again when full; read them only below `size`.
  /** Artist index per track, -1 when unknown. */
  artist = new Int32Array(0);
  album = new Int32Array(0);
  /**
   * Genre set per track (0: none), into `genreSets`: `genresOf(t)`. Issue 24 round 7: a JS
   * array slot per track (null for most) was 2.7-4 MB of heap on a catalog without genres;
   * an untouched typed array costs nothing resident, and tracks share few distinct sets.
   */
  private genreSet = new Int32Array(0);
  private readonly genreSets: (readonly number[])[] = [[]];
  private readonly genreSetNo = new Map<string, number>();
  /** Row into `featureRows` per track + 1, 0 when the track has none (issue 24 round 7: -1 for none wrote every page of it; a catalog without features now leaves it untouched). */
  private featureRow = new Int32Array(0);
  private readonly featureRows: Float32Array[] = [];
  durationMs = new Int32Array(0);
  /** Weighted count of plays and playlist entries: the popularity prior. */
  popularity = new Float64Array(0);
  /** (1 + popularity) ** CO_POP_EXPONENT per track, kept with it: the engine divides co-occurrence by it for every candidate. */
  popNorm = new Float64Array(0);
  /** Plays that ended (completed or skipped) and how many of them were skips. */
  plays = new Uint32Array(0);
  skips = new Uint32Array(0);
  totalPlays = 0;
  totalSkips = 0;
  /** 1 for tracks known with metadata (upserted), as opposed to seen only in listening data. */
  described = new Uint8Array(0);
  /** 1 for tracks deleted from the catalog: never recommended (their plays still count as co-occurrence data). */
  removed = new Uint8Array(0);

  readonly artists = new Interner();
  readonly albums = new Interner();
  readonly genreNames = new Interner();
  /**
   * Tracks per artist (no duplicates; `tracksOfArtist`): packed by `trim` (after a bulk
   * build), and an artist changed since then as a JS array in `artistMore` (issue 24 round 7:
   * 37,271 JS arrays were 3.2 MB of heap on the shared data, packed 0.8 MB outside it).
   */
  private artistPacked = new PackedLists();
  private readonly artistMore = new Map<number, number[]>();
  /** Tracks per album / genre (no duplicates). */
  readonly albumTracks: number[][] = [];
  readonly genreTracks: number[][] = [];
  /** Display names of albums by album index (the album's title). */
  readonly albumTitles: string[] = [];

  /** Bumped on every change that a derived index (search, popularity order) depends on. */
  revision = 0;
  maxPopularity = 0;
  /** Highest popularity among each artist's tracks (grows only; an estimate after removals). */
  readonly artistMaxPopularity: number[] = [];
  private popularOrder: number[] | null = null;
  private popularDirty = true;
  private popularBuiltAt = 0;
  // The POPULAR_TOP most popular, kept apart: sorting the whole catalog took 200-350 ms of
  // blocked event loop on the shared data, every 2 s while plays arrived (issue 24); a
  // selection over it takes a few.
  private popularTop: number[] | null = null;
  private topDirty = true;
  private topBuiltAt = 0;
  private eligible = 0;

  get size(): number {
    return this.ids.size;
  }

  /** The id of track index `t` (0 <= t < size): a new string each call. */
  id(t: number): string {
    return this.ids.get(t);
  }

  /** The title of track index `t`, null for a track known only from listening data. */
  title(t: number): string | null {
    return this.titles.get(t);
  }

  lookup(id: string): number | undefined {
    return this.ids.find(id);
  }

  /** The track's index, creating an undescribed entry for an id seen only in listening data. */
  ensure(id: string): number {
    let t = this.ids.find(id);
    if (t !== undefined) return t;
    t = this.ids.size;
    if (t >= this.artist.length) this.grow(Math.max(1024, Math.ceil(t * 1.5)));
    this.ids.add(id);
    this.artist[t] = -1;
    this.album[t] = -1;
    this.revision++;
    this.popularDirty = this.topDirty = true;
    return t;
  }

  private grow(cap: number): void {
    this.artist = resized(this.artist, cap);
    this.album = resized(this.album, cap);
    this.featureRow = resized(this.featureRow, cap);
    this.genreSet = resized(this.genreSet, cap);
    this.durationMs = resized(this.durationMs, cap);
    this.popularity = resized(this.popularity, cap);
    this.popNorm = resized(this.popNorm, cap, 1); // (1 + 0) ** x
    this.plays = resized(this.plays, cap);
    this.skips = resized(this.skips, cap);
    this.described = resized(this.described, cap);
    this.removed = resized(this.removed, cap);
  }

  /** Trims the per-track arrays and the per-artist / album / genre lists to their lengths (after a bulk build). */
  trim(): void {
    this.ids.trim();
    this.titles.trim();
    if (this.artist.length > this.size + 1024) this.grow(this.size + 1024);
    for (const lists of [this.albumTracks, this.genreTracks]) {
      for (let i = 0; i < lists.length; i++) if (lists[i]) lists[i] = lists[i]!.slice();
    }
    this.packArtists();
  }

  /** Artist a's tracks (a view of the packed lists, or the artist's array: do not change them). */
  tracksOfArtist(a: number): ArrayLike<number> & Iterable<number> {
    const more = this.artistMore.get(a);
    if (more) return more;
    const p = this.artistPacked;
    return p.data.subarray(p.start(a), p.end(a));
  }

  /** Artist a's tracks as an array of its own, to change (kept in `artistMore` until the next pack). */
  private artistList(a: number): number[] {
    let more = this.artistMore.get(a);
    if (!more) this.artistMore.set(a, (more = Array.from(this.tracksOfArtist(a))));
    return more;
  }

  /** Every artist's tracks into one packed arena, in their order. */
  private packArtists(): void {
    if (this.artistMore.size === 0) return;
    const keys = this.artists.size;
    const off = new Int32Array(keys + 1);
    for (let a = 0; a < keys; a++) off[a + 1] = off[a]! + this.tracksOfArtist(a).length;
    const data = new Int32Array(off[keys]!);
    for (let a = 0; a < keys; a++) data.set(this.tracksOfArtist(a), off[a]!);
    this.artistPacked = new PackedLists(off, data);
    this.artistMore.clear();
  }

  upsert(m: TrackMeta): number {
    const t = this.ensure(m.id);
    this.titles.set(t, m.title);
    this.described[t] = 1;
    this.removed[t] = 0;
    const a = this.artists.intern(m.artist);
    if (this.artist[t] !== a) {
      if (this.artist[t]! >= 0) remove(this.artistList(this.artist[t]!), t);
      this.artist[t] = a;
      this.artistList(a).push(t);
      if (this.popularity[t]! > (this.artistMaxPopularity[a] ?? 0)) this.artistMaxPopularity[a] = this.popularity[t]!;
    }
    const albumKey = m.albumId ? `id:${m.albumId}` : m.album ? `${normalizeName(m.artist)}/${normalizeName(m.album)}` : null;
    const al = albumKey === null ? -1 : this.albums.intern(albumKey);
    if (this.album[t] !== al) {
      if (this.album[t]! >= 0) remove(this.albumTracks[this.album[t]!]!, t);
      this.album[t] = al;
      if (al >= 0) {
        (this.albumTracks[al] ??= []).push(t);
        this.albumTitles[al] = m.album ?? m.albumId ?? '';
      }
    }
    for (const g of this.genresOf(t) ?? []) remove(this.genreTracks[g]!, t);
    const gs = m.genres?.length ? [...new Set(m.genres.map((g) => this.genreNames.intern(g)))] : null;
    this.genreSet[t] = gs ? this.genreSetOf(gs) : 0;
    if (gs) for (const g of gs) (this.genreTracks[g] ??= []).push(t);
    // Written only when it changes: a catalog without durations leaves the array's pages untouched.
    const ms = Math.min(2 ** 31 - 1, Math.max(0, Math.round(m.durationMs ?? 0)));
    if (this.durationMs[t] !== ms) this.durationMs[t] = ms;
    if (m.features && FEATURE_NAMES.some((f) => typeof m.features![f] === 'number')) {
      const row = new Float32Array(FEATURE_NAMES.length).fill(Number.NaN);
      FEATURE_NAMES.forEach((f, i) => {
        const v = m.features![f];
        if (typeof v === 'number') row[i] = f === 'tempo' ? Math.min(1, Math.max(0, (v - 50) / 150)) : v;
      });
      if (this.featureRow[t] === 0) {
        this.featureRows.push(row);
        this.featureRow[t] = this.featureRows.length;
      } else this.featureRows[this.featureRow[t]! - 1] = row;
    }
    this.revision++;
    this.popularDirty = this.topDirty = true;
    return t;
  }

  /** A catalog delete: the track is never recommended again (until upserted again). */
  remove(id: string): void {
    const t = this.ids.find(id);
    if (t === undefined) return;
    this.removed[t] = 1;
    this.described[t] = 0;
    const a = this.artist[t]!;
    if (a >= 0) remove(this.artistList(a), t);
    this.artist[t] = -1;
    if (this.album[t]! >= 0) remove(this.albumTracks[this.album[t]!]!, t);
    this.album[t] = -1;
    for (const g of this.genresOf(t) ?? []) remove(this.genreTracks[g]!, t);
    this.genreSet[t] = 0;
    this.revision++;
    this.popularDirty = this.topDirty = true;
  }

  /** Track t's genre indexes (shared with other tracks of the same set: do not change them), null when it has none. */
  genresOf(t: number): readonly number[] | null {
    const s = this.genreSet[t]!;
    return s === 0 ? null : this.genreSets[s]!;
  }

  /** The number of a set of genres (in this order), numbering it when new. */
  private genreSetOf(gs: number[]): number {
    const key = gs.join(',');
    let s = this.genreSetNo.get(key);
    if (s === undefined) {
      s = this.genreSets.length;
      this.genreSets.push(gs);
      this.genreSetNo.set(key, s);
    }
    return s;
  }

  features(t: number): Float32Array | null {
    const r = this.featureRow[t]!;
    return r === 0 ? null : this.featureRows[r - 1]!;
  }

  /** 1 for identical features, towards 0 as they differ; null when either track has none. */
  featureSimilarity(a: number, b: number): number | null {
    const fa = this.features(a);
    const fb = this.features(b);
    if (!fa || !fb) return null;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < fa.length; i++) {
      const x = fa[i]!;
      const y = fb[i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) continue;
      sum += (x - y) * (x - y);
      n++;
    }
    return n === 0 ? null : 1 - Math.sqrt(sum / n);
  }

  addPopularity(t: number, w: number): void {
    const p = (this.popularity[t]! += w);
    this.popNorm[t] = (1 + p) ** CO_POP_EXPONENT;
    if (p > this.maxPopularity) this.maxPopularity = p;
    const a = this.artist[t]!;
    if (a >= 0 && p > (this.artistMaxPopularity[a] ?? 0)) this.artistMaxPopularity[a] = p;
    this.popularDirty = this.topDirty = true;
  }

  /** A play that ended, completed or skipped: the track's skip rate learns from it. */
  addOutcome(t: number, skipped: boolean): void {
    this.plays[t]!++;
    this.totalPlays++;
    if (skipped) {
      this.skips[t]!++;
      this.totalSkips++;
    }
  }

  /**
   * Track indexes by popularity, most popular first. On a large catalog the order is
   * rebuilt at most every 2 s while plays keep arriving (a slightly stale order only
   * affects which popular tracks fill a short candidate list).
   */
  popular(limit: number): number[] {
    if (limit <= POPULAR_TOP) return this.top().slice(0, limit);
    const stale = this.popularDirty && (this.size < 50_000 || Date.now() - this.popularBuiltAt > 2000);
    if (!this.popularOrder || stale) {
      this.popularDirty = false;
      this.popularBuiltAt = Date.now();
      const order = [];
      for (let t = 0; t < this.size; t++) if (this.canBePopular(t)) order.push(t);
      order.sort((a, b) => this.popularity[b]! - this.popularity[a]! || a - b);
      this.popularOrder = order;
    }
    return this.popularOrder.slice(0, limit);
  }

  /** How many tracks `popular` orders (as of its latest build of the top). */
  get popularCount(): number {
    this.top();
    return this.eligible;
  }

  private canBePopular(t: number): boolean {
    return (this.popularity[t]! > 0 || this.described[t] === 1) && this.removed[t] === 0;
  }

  /** The POPULAR_TOP most popular (the same order as the full one: popularity, then index), rebuilt as `popular` is. */
  private top(): number[] {
    const stale = this.topDirty && (this.size < 50_000 || Date.now() - this.topBuiltAt > 2000);
    if (this.popularTop && !stale) return this.popularTop;
    this.topDirty = false;
    this.topBuiltAt = Date.now();
    const n = this.size;
    const pops = new Float64Array(n);
    let m = 0;
    for (let t = 0; t < n; t++) if (this.canBePopular(t)) pops[m++] = this.popularity[t]!;
    this.eligible = m;
    // Every track more popular than the POPULAR_TOP-th, and as many as fit of those exactly
    // as popular, lowest index first (popularity is mostly small whole numbers: many tie),
    // then sorted as the full order is: popularity, then index.
    const floor = m > POPULAR_TOP ? select(pops.subarray(0, m), m - POPULAR_TOP) : Number.NEGATIVE_INFINITY;
    const top: number[] = [];
    let above = 0;
    for (let t = 0; t < n; t++) if (this.popularity[t]! > floor && this.canBePopular(t)) above++;
    let ties = POPULAR_TOP - above;
    for (let t = 0; t < n; t++) {
      const p = this.popularity[t]!;
      if (p < floor || !this.canBePopular(t)) continue;
      if (p === floor) {
        if (ties <= 0) continue;
        ties--;
      }
      top.push(t);
    }
    top.sort((a, b) => this.popularity[b]! - this.popularity[a]! || a - b);
    this.popularTop = top;
    return top;
  }

  /** The artist's tracks, most popular first. */
  topOfArtist(a: number, limit: number): number[] {
    return topBy(this.tracksOfArtist(a), this.popularity, limit);
  }

  topOfGenre(g: number, limit: number): number[] {
    return topBy(this.genreTracks[g] ?? [], this.popularity, limit);
  }

  artistName(t: number): string | null {
    const a = this.artist[t]!;
    return a < 0 ? null : this.artists.display[a]!;
  }

  /** "Title by Artist", or the id for tracks without metadata. */
  label(t: number): string {
    const title = this.titles.get(t);
    if (!title) return this.id(t);
    const artist = this.artistName(t);
    return artist ? `${title} by ${artist}` : title;
  }
}

function remove(list: number[], x: number): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

/** The `limit` best of `list` by `score` (ties: lower index first), without sorting all of it. */
export function topBy(list: ArrayLike<number> & Iterable<number>, score: ArrayLike<number>, limit: number): number[] {
  const better = (a: number, b: number) => score[a]! > score[b]! || (score[a] === score[b] && a < b);
  if (list.length <= limit * 4) return [...list].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0)).slice(0, limit);
  const top: number[] = [];
  for (const x of list) {
    if (top.length === limit && !better(x, top[limit - 1]!)) continue;
    let i = top.length === limit ? limit - 1 : top.length;
    while (i > 0 && better(x, top[i - 1]!)) {
      top[i] = top[i - 1]!;
      i--;
    }
    top[i] = x;
  }
  return top;
}
