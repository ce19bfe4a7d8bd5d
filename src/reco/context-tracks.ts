// Which tracks are played in which context: play counts per track for the few context
// features with a fixed set of values (time of day, hour bucket, weekday / weekend, and
// the kind of listening), as dense arrays. A cold start (a listener without history)
// starts from the tracks popular in the listener's context instead of overall.

const TRACKED = /^(hour|tod|day|kind):/;
const SHRINK = 10;

/** Plays per track and feature saturate here (16 bits: half the memory of 32). */
const MAX_COUNT = 65_535;

export class ContextTracks {
  private readonly counts = new Map<string, Uint16Array>();
  private readonly totals = new Map<string, number>();
  private all: Float32Array = new Float32Array(0);
  private total = 0;

  /** One play of `track` in a context with these features. */
  observe(track: number, features: readonly string[]): void {
    this.all = grow(this.all, track, (n) => new Float32Array(n));
    this.all[track]! += 1;
    this.total += 1;
    for (const f of features) {
      if (!TRACKED.test(f)) continue;
      const a = grow(this.counts.get(f) ?? new Uint16Array(0), track, (n) => new Uint16Array(n));
      if (a[track]! < MAX_COUNT) a[track]! += 1;
      this.counts.set(f, a);
      this.totals.set(f, (this.totals.get(f) ?? 0) + 1);
    }
  }

  /** Cuts the count arrays to `size` tracks (they grow by doubling). */
  trim(size: number): void {
    if (this.all.length > size) this.all = this.all.slice(0, size);
    for (const [f, a] of this.counts) if (a.length > size) this.counts.set(f, a.slice(0, size));
  }

  /**
   * The `limit` tracks most typical of the context: overall popularity times, per known
   * feature, how much more often the track is played there than overall (smoothed).
   * Features without data are ignored; none at all gives plain popularity.
   */
  top(features: readonly string[], limit: number, exclude?: ReadonlySet<number>): { track: number; score: number }[] {
    const fs = features.filter((f) => this.counts.has(f));
    const n = this.all.length;
    const out: { track: number; score: number }[] = [];
    for (let t = 0; t < n; t++) {
      const c = this.all[t]!;
      if (c <= 0 || exclude?.has(t)) continue;
      let score = Math.log(c / this.total);
      for (const f of fs) {
        // Plays in the context against those expected if context did not matter, shrunk
        // towards "no difference" by SHRINK pseudo-plays so a few plays say little.
        const expected = (c * this.totals.get(f)!) / this.total;
        score += Math.log(((this.counts.get(f)![t] ?? 0) + SHRINK) / (expected + SHRINK));
      }
      out.push({ track: t, score });
    }
    out.sort((a, b) => b.score - a.score || a.track - b.track);
    return out.slice(0, limit);
  }
}

function grow<T extends Float32Array | Uint16Array>(a: T, index: number, make: (n: number) => T): T {
  if (index < a.length) return a;
  const b = make(Math.max(1024, Math.ceil((index + 1) * 1.25)));
  b.set(a as never);
  return b;
}
