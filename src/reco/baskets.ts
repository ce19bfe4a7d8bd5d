// Baskets: ordered sets of tracks that people put together (playlists, listening
// sessions, queues), with an inverted index track -> baskets. Co-occurrence is not
// precomputed (that is quadratic in basket length); the engine walks the baskets of
// its seeds at query time, which keeps memory linear and updates O(basket length).

export type BasketKind = 'playlist' | 'session' | 'queue';
export const KIND_CODE: Record<BasketKind, number> = { playlist: 0, session: 1, queue: 2 };

/** Weight of a skipped play in a session basket (a completed one weighs 1). */
export const SKIPPED_WEIGHT = 0.25;

export class Baskets {
  /** Track indexes per basket, in order. */
  readonly items: number[][] = [];
  /** Per-item weights (sessions: skipped plays weigh less); null when all weigh 1. */
  readonly weights: (number[] | null)[] = [];
  readonly kind: number[] = [];
  /** Replaced / removed baskets stay in the postings and are skipped. */
  readonly dead: boolean[] = [];
  // Basket indexes per track (a basket appears once per track), in CSR form: the
  // baskets of track t are pData[pOff[t] .. pOff[t + 1]) plus, for baskets added since
  // the last freeze, a short list in `pMore`. Flat typed arrays instead of one JS array
  // per track (issue 12: a third of the engine's memory on the shared data).
  private pOff = new Int32Array(1);
  private pData = new Int32Array(0);
  private readonly pMore = new Map<number, number[]>();
  private moreCount = 0;
  readonly names: (string | null)[] = [];
  readonly keys: string[] = [];
  private readonly byKey = new Map<string, number>();
  live = 0;

  get size(): number {
    return this.items.length;
  }

  keyOf(b: number): string | undefined {
    return this.keys[b];
  }

  basketOf(key: string): number | undefined {
    return this.byKey.get(key);
  }

  /** Adds (or replaces) the basket under `key`. */
  set(key: string, kind: BasketKind, tracks: readonly number[], weights: readonly number[] | null = null, name: string | null = null): number {
    this.remove(key);
    const b = this.items.length;
    this.items.push([]);
    this.weights.push(weights ? [] : null);
    this.kind.push(KIND_CODE[kind]);
    this.dead.push(false);
    this.names.push(name);
    this.keys.push(key);
    this.byKey.set(key, b);
    this.live++;
    for (let i = 0; i < tracks.length; i++) this.pushItem(b, tracks[i]!, weights ? weights[i]! : 1);
    return b;
  }

  /** Appends to the basket under `key`, creating it. Returns the basket index. */
  append(key: string, kind: BasketKind, track: number, weight = 1): number {
    let b = this.byKey.get(key);
    if (b === undefined) b = this.set(key, kind, [], kind === 'session' ? [] : null);
    this.pushItem(b, track, weight);
    return b;
  }

  remove(key: string): void {
    const b = this.byKey.get(key);
    if (b === undefined) return;
    this.dead[b] = true;
    this.byKey.delete(key);
    this.live--;
    this.deadCount++;
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
    const _touched = new Set<number>();
    for (let b = 0; b < this.items.length; b++) {
      if (!this.dead[b] || this.items[b]!.length === 0) continue;
      this.items[b] = [];
      this.weights[b] = null;
    }
    this.freeze();
    this.deadCount = 0;
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
    const items = this.items[b]!;
    // A basket is listed once per track (baskets are short: the scan is cheap).
    if (!items.includes(t)) {
      const more = this.pMore.get(t);
      if (more) more.push(b);
      else this.pMore.set(t, [b]);
      // Geometric: the overflow is folded in when it passes a quarter of the CSR arrays.
      if (++this.moreCount > Math.max(50_000, this.pData.length / 4)) this.freeze();
    }
    items.push(t);
    const ws = this.weights[b];
    if (ws) ws.push(w);
    else if (w !== 1) {
      // First non-unit weight: materialise the weights of the items so far.
      this.weights[b] = items.map((_, i) => (i === items.length - 1 ? w : 1));
    }
  }

  /**
   * Drops dead baskets from the postings, folds them into the CSR arrays, and trims every
   * basket's lists to their length: lists grown by push keep up to 16 spare slots, which
   * on a fresh build is most of their memory. Called once the start-up build is done.
   */
  trim(): void {
    this.freeze();
    for (let b = 0; b < this.items.length; b++) {
      if (this.dead[b]) {
        this.items[b] = [];
        this.weights[b] = null;
        continue;
      }
      this.items[b] = this.items[b]!.slice();
      const w = this.weights[b];
      if (w) this.weights[b] = w.slice();
    }
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

  weight(b: number, i: number): number {
    const ws = this.weights[b];
    return ws ? ws[i]! : 1;
  }
}

const EMPTY = new Int32Array(0);
