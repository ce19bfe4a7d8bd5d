// Baskets: ordered sets of tracks that people put together (playlists, listening
// sessions, queues), with an inverted index track -> baskets. Co-occurrence is not
// precomputed (that is quadratic in basket length); the engine walks the baskets of
// its seeds at query time, which keeps memory linear and updates O(basket length).

import { StringTable } from './strings.ts';
import { resized } from './typed.ts';

export type BasketKind = 'playlist' | 'session' | 'queue';
export const KIND_CODE: Record<BasketKind, number> = { playlist: 0, session: 1, queue: 2 };

/** Weight of a skipped play in a session basket (a completed one weighs 1). */
export const SKIPPED_WEIGHT = 0.25;

export class Baskets {
  // Every basket's tracks in one arena (issue 24: a JS array per basket, and one of
  // weights per session, were ~30 MB of the heap on the shared data, walked by every full
  // collection): the tracks of basket b are data[start[b] .. start[b] + count[b]), their
  // weights wdata[...] at the same places (32-bit floats: 1 and SKIPPED_WEIGHT are exact).
  // A basket that outgrows its room moves to the end of the arena with twice the room; the
  // room it leaves (and a removed basket's) is reclaimed by a compaction once it is over
  // half the arena. Read them through `start`, `count`, `data`, `wdata`, `weighted` within
  // one synchronous call (a write may move or replace the arrays), or with `items(b)`.
  /** The arena of track indexes. */
  data = new Int32Array(0);
  /** Per-item weights, parallel to `data`: written and read only where `weighted[b]` (elsewhere untouched, so not resident). */
  wdata = new Float32Array(0);
  /** Per basket: where its tracks start in `data`, how many, and its room there. */
  start = new Int32Array(0);
  count = new Int32Array(0);
  private cap = new Int32Array(0);
  /** Per basket: 1 when its items have weights (sessions: skipped plays weigh less), 0 when all weigh 1. */
  weighted = new Uint8Array(0);
  /** KIND_CODE per basket. */
  kind = new Uint8Array(0);
  /** Replaced / removed baskets (1) stay in the postings and are skipped. */
  dead = new Uint8Array(0);
  /** Per basket: the context its latest play came from (a session's context type; 0 = unknown), see `contextCode`. */
  context = new Uint8Array(0);
  private readonly contextNames: string[] = [''];
  /** Slots of `data` in use (the arena's end), and how many of them are free room left behind. */
  private used = 0;
  private waste = 0;
  /** The basket whose room ends at `used` (-1: none): it grows in place. */
  private tail = -1;
  /** Tracks copied to another place in the arena so far (moves and compactions): what growth costs. */
  copied = 0;
  private n = 0;
  // Basket indexes per track (a basket appears once per track), in CSR form: the
  // baskets of track t are pData[pOff[t] .. pOff[t + 1]) plus, for baskets added since
  // the last freeze, a short list in `pMore`. Flat typed arrays instead of one JS array
  // per track (issue 12: a third of the engine's memory on the shared data).
  private pOff = new Int32Array(1);
  private pData = new Int32Array(0);
  private readonly pMore = new Map<number, number[]>();
  private moreCount = 0;
  readonly names: (string | null)[] = [];
  // Keys (playlist:<id>, session:<key>, queue:<id>) in a StringTable, each numbered once
  // however often its basket is replaced: the key's number per basket, and the live basket
  // per key number (-1: none).
  private readonly keys = new StringTable();
  private keyNo = new Int32Array(0);
  private basketByKey = new Int32Array(0);
  live = 0;

  get size(): number {
    return this.n;
  }

  keyOf(b: number): string | undefined {
    return b >= 0 && b < this.n ? this.keys.get(this.keyNo[b]!) : undefined;
  }

  basketOf(key: string): number | undefined {
    const k = this.keys.find(key);
    if (k === undefined) return undefined;
    const b = this.basketByKey[k]!;
    return b < 0 ? undefined : b;
  }

  /** Sets the live basket of a key (-1: none), numbering the key when new. */
  private bind(key: string, b: number): number {
    let k = this.keys.find(key);
    if (k === undefined) {
      k = this.keys.add(key);
      if (k >= this.basketByKey.length) this.basketByKey = resized(this.basketByKey, Math.max(1024, Math.ceil(k * 1.5)), -1);
    }
    this.basketByKey[k] = b;
    return k;
  }

  /** The tracks of basket b, in order (a copy). */
  items(b: number): number[] {
    const s = this.start[b]!;
    return Array.from(this.data.subarray(s, s + this.count[b]!));
  }

  /** The weights of basket b's items, or null when they all weigh 1 (a copy). */
  weights(b: number): number[] | null {
    if (!this.weighted[b]) return null;
    const s = this.start[b]!;
    return Array.from(this.wdata.subarray(s, s + this.count[b]!));
  }

  /** How many tracks basket b has. */
  length(b: number): number {
    return this.count[b]!;
  }

  /** Basket b's last track, or -1 when it is empty. */
  last(b: number): number {
    const n = this.count[b]!;
    return n === 0 ? -1 : this.data[this.start[b]! + n - 1]!;
  }

  /** Whether basket b holds track t. */
  has(b: number, t: number): boolean {
    const s = this.start[b]!;
    const e = s + this.count[b]!;
    for (let i = s; i < e; i++) if (this.data[i] === t) return true;
    return false;
  }

  /** Adds (or replaces) the basket under `key`. */
  set(key: string, kind: BasketKind, tracks: readonly number[], weights: readonly number[] | null = null, name: string | null = null): number {
    this.remove(key);
    const b = this.n;
    if (b === this.start.length) this.growBaskets(Math.max(1024, Math.ceil(b * 1.5)));
    this.n = b + 1;
    this.count[b] = 0;
    this.cap[b] = 0;
    this.start[b] = this.used;
    this.weighted[b] = weights ? 1 : 0;
    this.context[b] = 0;
    this.kind[b] = KIND_CODE[kind];
    this.dead[b] = 0;
    this.names.push(name);
    this.keyNo[b] = this.bind(key, b);
    this.live++;
    if (tracks.length > 0) this.room(b, tracks.length);
    for (let i = 0; i < tracks.length; i++) this.pushItem(b, tracks[i]!, weights ? weights[i]! : 1);
    return b;
  }

  /** Appends to the basket under `key`, creating it. Returns the basket index. */
  append(key: string, kind: BasketKind, track: number, weight = 1): number {
    let b = this.basketOf(key);
    if (b === undefined) b = this.set(key, kind, [], kind === 'session' ? [] : null);
    this.pushItem(b, track, weight);
    return b;
  }

  /** The number of a context type (user_collection, radio, ...): 0 for none or unknown, new names numbered up to 255. */
  contextCode(name: string | null | undefined): number {
    if (!name) return 0;
    const i = this.contextNames.indexOf(name);
    if (i >= 0) return i;
    if (this.contextNames.length > 255) return 0;
    this.contextNames.push(name);
    return this.contextNames.length - 1;
  }

  /** Looks a context type up without numbering it (0 when unknown). */
  findContext(name: string | null | undefined): number {
    return name ? Math.max(0, this.contextNames.indexOf(name)) : 0;
  }

  remove(key: string): void {
    const b = this.basketOf(key);
    if (b === undefined) return;
    this.dead[b] = 1;
    this.basketByKey[this.keyNo[b]!] = -1;
    this.live--;
    this.deadCount++;
    // Its room in the arena is free (nothing reads a dead basket's tracks).
    if (this.tail === b) {
      this.used = this.start[b]!;
      this.tail = -1;
    } else this.waste += this.cap[b]!;
    this.count[b] = 0;
    this.cap[b] = 0;
    // Replaced queues leave dead baskets behind: drop them from the postings now and then.
    if (this.deadCount > 5000 && this.deadCount > this.live) this.compact();
  }

  private deadCount = 0;

  /**
   * One filter per posting list a dead basket is in, not one per (dead basket, track):
   * tracks shared by many queues have long posting lists, and filtering each of them once
   * per dead basket made a compaction quadratic (seconds of blocked event loop under a
   * stream of queue writes, issue 16).
   */
  private compact(): void {
    this.freeze();
    this.renumber();
    this.deadCount = 0;
  }

  /** Bumped by every renumbering: a basket number taken before it may name another basket after it. */
  generation = 0;
  private readonly renumbered: ((map: Int32Array) => void)[] = [];

  /** Calls `fn` with the old -> new basket numbers (-1: dropped) whenever dead baskets' numbers are given back. */
  onRenumber(fn: (map: Int32Array) => void): void {
    this.renumbered.push(fn);
  }

  /**
   * Gives dead baskets' numbers back (a replaced queue basket took a new number and left
   * its per-basket entries behind: ~30 bytes here and ~30 in the engine's scratch arrays,
   * never freed): the live baskets are numbered 0 .. live - 1 in the order they had, so
   * numbers still order baskets from oldest to newest (the engine walks the newest first).
   * Run after a freeze, when the postings hold live baskets only; holders of basket numbers
   * (the indexes) are handed the map.
   */
  private renumber(): void {
    if (this.live === this.n) return;
    const map = new Int32Array(this.n).fill(-1);
    let nb = 0;
    for (let b = 0; b < this.n; b++) {
      if (this.dead[b]) continue;
      map[b] = nb;
      if (nb !== b) {
        this.start[nb] = this.start[b]!;
        this.count[nb] = this.count[b]!;
        this.cap[nb] = this.cap[b]!;
        this.weighted[nb] = this.weighted[b]!;
        this.kind[nb] = this.kind[b]!;
        this.dead[nb] = 0;
        this.context[nb] = this.context[b]!;
        this.keyNo[nb] = this.keyNo[b]!;
        this.names[nb] = this.names[b]!;
      }
      this.basketByKey[this.keyNo[nb]!] = nb;
      nb++;
    }
    this.n = nb;
    this.names.length = nb;
    if (this.tail >= 0) this.tail = map[this.tail]!;
    // After the freeze every posting is in pData (pMore is empty), of live baskets only.
    const p = this.pData;
    for (let i = 0; i < p.length; i++) p[i] = map[p[i]!]!;
    this.generation++;
    for (const fn of this.renumbered) fn(map);
  }

  private growBaskets(cap: number): void {
    this.start = resized(this.start, cap);
    this.count = resized(this.count, cap);
    this.cap = resized(this.cap, cap);
    this.weighted = resized(this.weighted, cap);
    this.kind = resized(this.kind, cap);
    this.dead = resized(this.dead, cap);
    this.context = resized(this.context, cap);
    this.keyNo = resized(this.keyNo, cap);
  }

  /** Makes room in the arena for basket b to hold `need` tracks (it keeps its tracks). */
  private room(b: number, need: number): void {
    if (need <= this.cap[b]!) return;
    const n = this.count[b]!;
    const want = Math.max(4, need, this.cap[b]! * 2);
    if (this.tail === b) {
      // At the end of the arena: grow in place.
      this.ensureArena(this.start[b]! + want);
      this.used = this.start[b]! + want;
      this.cap[b] = want;
      return;
    }
    // A new basket after the one at the end (a bulk build, one basket after another): that one
    // is done, and keeps only what it holds. A basket that grows again (live plays, several
    // sessions in turn) leaves the one at the end its room: taking it made every play of
    // sessions played in turn move a whole basket (issue 21 round 7: a fifth of a server's
    // CPU after a minute of bench:core, growing with the sessions).
    if (this.tail >= 0 && n === 0) {
      this.used = this.start[this.tail]! + this.count[this.tail]!;
      this.cap[this.tail] = this.count[this.tail]!;
    }
    if (this.waste > Math.max(1 << 16, this.used / 2)) this.compactArena(want + (this.used >> 2), true);
    this.ensureArena(this.used + want);
    const from = this.start[b]!;
    this.data.copyWithin(this.used, from, from + n);
    if (this.weighted[b]) this.wdata.copyWithin(this.used, from, from + n);
    this.copied += n;
    this.waste += this.cap[b]!;
    this.start[b] = this.used;
    this.cap[b] = want;
    this.used += want;
    this.tail = b;
  }

  private ensureArena(size: number): void {
    if (size <= this.data.length) return;
    const cap = Math.max(size, 4096, Math.ceil(this.data.length * 1.5));
    const data = new Int32Array(cap);
    data.set(this.data.subarray(0, this.used));
    const wdata = new Float32Array(cap);
    // Only weighted baskets' weights: the rest of the new array is not touched.
    for (let b = 0; b < this.n; b++) {
      if (!this.weighted[b] || this.count[b] === 0) continue;
      const s = this.start[b]!;
      wdata.set(this.wdata.subarray(s, s + this.count[b]!), s);
    }
    this.data = data;
    this.wdata = wdata;
  }

  /**
   * Moves every live basket's tracks to the front of a new arena, in basket order, plus
   * `spare` slots: each with room for what it holds, or (`keepRoom`) with the room it has,
   * so that baskets still growing do not all move again right after (and fill the arena
   * with the waste that calls the next compaction).
   */
  private compactArena(spare: number, keepRoom = false): void {
    let total = 0;
    for (let b = 0; b < this.n; b++) total += keepRoom ? this.cap[b]! : this.count[b]!;
    const cap = total + spare;
    const data = new Int32Array(cap);
    const wdata = new Float32Array(cap);
    let at = 0;
    for (let b = 0; b < this.n; b++) {
      const s = this.start[b]!;
      const n = this.count[b]!;
      data.set(this.data.subarray(s, s + n), at);
      if (this.weighted[b]) wdata.set(this.wdata.subarray(s, s + n), at);
      this.copied += n;
      this.start[b] = at;
      if (!keepRoom) this.cap[b] = n;
      at += this.cap[b]!;
    }
    this.data = data;
    this.wdata = wdata;
    this.used = at;
    this.waste = 0;
    this.tail = -1;
  }

  /** Folds the postings added since the last freeze into the CSR arrays, dropping dead baskets. */
  freeze(): void {
    let tracks = this.pOff.length - 1;
    for (const t of this.pMore.keys()) if (t + 1 > tracks) tracks = t + 1;
    const off = new Int32Array(tracks + 1);
    const keep = (b: number) => !this.dead[b];
    let n = 0;
    for (let t = 0; t < tracks; t++) {
      off[t] = n;
      if (t + 1 < this.pOff.length) for (let i = this.pOff[t]!; i < this.pOff[t + 1]!; i++) if (keep(this.pData[i]!)) n++;
      for (const b of this.pMore.get(t) ?? []) if (keep(b)) n++;
    }
    off[tracks] = n;
    const data = new Int32Array(n);
    let k = 0;
    for (let t = 0; t < tracks; t++) {
      if (t + 1 < this.pOff.length) for (let i = this.pOff[t]!; i < this.pOff[t + 1]!; i++) if (keep(this.pData[i]!)) data[k++] = this.pData[i]!;
      for (const b of this.pMore.get(t) ?? []) if (keep(b)) data[k++] = b;
    }
    this.pOff = off;
    this.pData = data;
    this.pMore.clear();
    this.moreCount = 0;
  }

  private pushItem(b: number, t: number, w: number): void {
    // A basket is listed once per track (baskets are short: the scan is cheap).
    if (!this.has(b, t)) {
      const more = this.pMore.get(t);
      if (more) more.push(b);
      else this.pMore.set(t, [b]);
      // Geometric: the overflow is folded in when it passes a quarter of the CSR arrays.
      if (++this.moreCount > Math.max(50_000, this.pData.length / 4)) this.freeze();
    }
    const n = this.count[b]!;
    this.room(b, n + 1);
    const at = this.start[b]! + n;
    this.data[at] = t;
    // Weights are stored for weighted baskets only: the arena's weights under playlists and
    // queues are never written, so their pages stay untouched (issue 24: memory).
    if (this.weighted[b]) this.wdata[at] = w;
    else if (w !== 1) {
      // The first non-unit weight: the items so far weigh 1.
      this.wdata.fill(1, this.start[b]!, at);
      this.wdata[at] = w;
      this.weighted[b] = 1;
    }
    this.count[b] = n + 1;
  }

  /**
   * Drops dead baskets from the postings, folds them into the CSR arrays, and packs the
   * arena (every basket's room down to what it holds, the per-basket arrays to their
   * length). Called once the start-up build is done.
   */
  trim(): void {
    this.freeze();
    this.renumber();
    this.compactArena(1024);
    if (this.start.length > this.n + 1024) this.growBaskets(this.n + 1024);
    this.keys.trim();
    this.deadCount = 0;
  }

  /** The basket indexes holding track t (dead ones included; callers skip them). */
  of(t: number): Int32Array {
    const base = t + 1 < this.pOff.length ? this.pData.subarray(this.pOff[t]!, this.pOff[t + 1]!) : EMPTY;
    const more = this.pMore.get(t);
    if (!more) return base;
    const all = new Int32Array(base.length + more.length);
    all.set(base);
    all.set(more, base.length);
    return all;
  }

  /** The weight of basket b's i-th item. */
  weight(b: number, i: number): number {
    return this.weighted[b] ? this.wdata[this.start[b]! + i]! : 1;
  }
}

const EMPTY = new Int32Array(0);
