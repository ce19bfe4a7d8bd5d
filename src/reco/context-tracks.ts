// Which tracks are played in which context: play counts per track for the few context
// features with a fixed set of values (time of day, hour bucket, weekday / weekend, and
// the kind of listening), as dense arrays. A cold start (a listener without history)
// starts from the tracks popular in the listener's context instead of overall.
import { resized } from './typed.ts';

const TRACKED = /^(hour|tod|day|kind):/;
const SHRINK = 10;

/** Plays per track and feature saturate here. */
const MAX_COUNT = 65_535;
/** Counts below this sit in a byte per track; higher ones in the feature's `high` map (issue 24: most are 0-2). */
const BYTE = 255;

/** A feature's plays per track: a byte each, the few that pass BYTE - 1 kept exactly on the side. */
interface Counts {
  low: Uint8Array;
  high: Map<number, number>;
}

export class ContextTracks {
  private readonly counts = new Map<string, Counts>();
  private readonly totals = new Map<string, number>();
  private all: Float32Array = new Float32Array(0);
  private total = 0;

  /** One play of `track` in a context with these features. */
  observe(track: number, features: readonly string[]): void {
    this.all = grow(this.all, track);
    this.all[track]! += 1;
    this.total += 1;
    for (const f of features) {
      if (!TRACKED.test(f)) continue;
      let c = this.counts.get(f);
      if (!c) this.counts.set(f, (c = { low: new Uint8Array(0), high: new Map() }));
      c.low = grow(c.low, track);
      const v = c.low[track]!;
      if (v < BYTE - 1) c.low[track] = v + 1;
      else {
        c.low[track] = BYTE;
        const h = c.high.get(track) ?? BYTE - 1;
        if (h < MAX_COUNT) c.high.set(track, h + 1);
      }
      this.totals.set(f, (this.totals.get(f) ?? 0) + 1);
    }
  }

  /** Cuts the count arrays to `size` tracks (they grow by doubling). */
  trim(size: number): void {
    if (this.all.length > size) this.all = this.all.slice(0, size);
    for (const c of this.counts.values()) if (c.low.length > size) c.low = c.low.slice(0, size);
  }

  /**
   * The `limit` tracks most typical of the context: overall popularity times, per known
   * feature, how much more often the track is played there than overall (smoothed).
   * Features without data are ignored; none at all gives plain popularity.
   */
  top(features: readonly string[], limit: number, exclude?: ReadonlySet<number>): { track: number; score: number }[] {
    const fs = features.filter((f) => this.counts.has(f));
    const n = this.all.length;
    // The best `limit` so far, best first (score, then track): an object per track played
    // and a sort of them all took ~170,000 objects a call on the shared data (issue 24 round 7).
    const out: { track: number; score: number }[] = [];
    if (limit <= 0) return out;
    for (let t = 0; t < n; t++) {
      const c = this.all[t]!;
      if (c <= 0 || exclude?.has(t)) continue;
      let score = Math.log(c / this.total);
      for (const f of fs) {
        // Plays in the context against those expected if context did not matter, shrunk
        // towards "no difference" by SHRINK pseudo-plays so a few plays say little.
        const expected = (c * this.totals.get(f)!) / this.total;
        score += Math.log((count(this.counts.get(f)!, t) + SHRINK) / (expected + SHRINK));
      }
      // Tracks come in increasing order: a later one with an equal score ranks after.
      if (out.length === limit && !(score > out[limit - 1]!.score)) continue;
      let i = out.length === limit ? limit - 1 : out.length;
      while (i > 0 && score > out[i - 1]!.score) {
        out[i] = out[i - 1]!;
        i--;
      }
      out[i] = { track: t, score };
    }
    return out;
  }
}

function count(c: Counts, t: number): number {
  const v = c.low[t];
  if (v === undefined) return 0;
  return v === BYTE ? c.high.get(t)! : v;
}

/** `a`, or a longer copy that has room for `index`. */
function grow<T extends Float32Array | Uint8Array>(a: T, index: number): T {
  return index < a.length ? a : resized(a, Math.max(1024, Math.ceil((index + 1) * 1.25)));
}
