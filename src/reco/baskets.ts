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
  /** Basket indexes per track (a basket appears once per track). */
  readonly postings: number[][] = [];
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

  private compact(): void {
    for (let b = 0; b < this.items.length; b++) {
      if (!this.dead[b] || this.items[b]!.length === 0) continue;
      for (const t of new Set(this.items[b])) {
        const p = this.postings[t];
        if (p) this.postings[t] = p.filter((x) => x !== b);
      }
      this.items[b] = [];
      this.weights[b] = null;
    }
    this.deadCount = 0;
  }

  private pushItem(b: number, t: number, w: number): void {
    const items = this.items[b]!;
    // A basket is listed once per track (baskets are short: the scan is cheap).
    if (!items.includes(t)) (this.postings[t] ??= []).push(b);
    items.push(t);
    const ws = this.weights[b];
    if (ws) ws.push(w);
    else if (w !== 1) {
      // First non-unit weight: materialise the weights of the items so far.
      this.weights[b] = items.map((_, i) => (i === items.length - 1 ? w : 1));
    }
  }

  /**
   * Drops dead baskets from the postings and trims every list to its length: lists grown
   * by push keep up to 16 spare slots, which on a fresh build is most of their memory.
   * Called once the start-up build is done (a list grown later grows again as needed).
   */
  trim(): void {
    for (let t = 0; t < this.postings.length; t++) {
      const p = this.postings[t];
      if (p) this.postings[t] = this.deadCount > 0 ? p.filter((b) => !this.dead[b]) : p.slice();
    }
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
  of(t: number): readonly number[] {
    return this.postings[t] ?? EMPTY;
  }

  weight(b: number, i: number): number {
    const ws = this.weights[b];
    return ws ? ws[i]! : 1;
  }
}

const EMPTY: readonly number[] = [];
