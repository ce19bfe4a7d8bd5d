// A listener's taste as the engine sees it: affinities per artist and per track,
// what was heard, what was liked. Every listening event folds in at once, so the
// next batch of a radio reflects a skip or a like made a moment ago.

export type ListenAction = 'play' | 'complete' | 'skip' | 'like' | 'dislike' | 'neutral';

/** A skip this many seconds in (or in the first quarter of the track) is an early skip. */
export const EARLY_SKIP_SECONDS = 30;
const AFFINITY_LIMIT = 6;
const RECENT_LIMIT = 200;
const LIKED_LIMIT = 100;

export interface FoldInput {
  track: number;
  artist: number;
  action: ListenAction;
  /** Seconds into the track. */
  position?: number | null;
  durationMs?: number;
}

/** How much one event moves the track's and its artist's affinity. */
export function affinityDelta(e: Pick<FoldInput, 'action' | 'position' | 'durationMs'>): { track: number; artist: number } {
  switch (e.action) {
    case 'like':
      return { track: 3, artist: 1.2 };
    case 'dislike':
      return { track: -6, artist: -1.5 };
    case 'complete':
      return { track: 1, artist: 0.3 };
    case 'skip': {
      const pos = e.position ?? 0;
      const early = pos < EARLY_SKIP_SECONDS || (e.durationMs ? pos * 1000 < e.durationMs / 4 : false);
      return early ? { track: -2, artist: -1 } : { track: -0.5, artist: -0.25 };
    }
    default:
      return { track: 0, artist: 0 };
  }
}

/** How a listener's plays weigh as taste seeds (Profile.tasteSeeds). */
export interface TasteOptions {
  /** The newest play weighs 1, the one before decay, ... */
  decay: number;
  /** Plays with a recency weight; older ones weigh 0.02. */
  window: number;
  /** Added per completed play of a track (at most 5 counted). */
  completeBonus: number;
}

export const TASTE: TasteOptions = { decay: 0.7, window: 20, completeBonus: 0.1 };

const clamp = (x: number) => Math.max(-AFFINITY_LIMIT, Math.min(AFFINITY_LIMIT, x));

export class Profile {
  readonly artistAffinity = new Map<number, number>();
  readonly trackAffinity = new Map<number, number>();
  /** Tracks played, most recent last (bounded). */
  readonly recent: number[] = [];
  /** Per item of `recent`: the play was skipped. */
  readonly recentSkipped: boolean[] = [];
  /** Every track ever played or rated. */
  readonly heard = new Set<number>();
  /** Liked tracks, most recent last (bounded). */
  readonly liked: number[] = [];
  /** Completed plays per track. */
  readonly completes = new Map<number, number>();
  events = 0;
  /** The context type of the latest play that named one (user_collection, radio, ...). */
  contextType: string | null = null;
  private lastWasStart = false;

  fold(e: FoldInput): void {
    this.events++;
    this.heard.add(e.track);
    if (e.action === 'play' || e.action === 'complete' || e.action === 'skip') {
      const n = this.recent.length;
      // A play followed by its own end (complete / skip) is one play.
      if (e.action !== 'play' && n > 0 && this.recent[n - 1] === e.track && this.lastWasStart) this.recentSkipped[n - 1] = e.action === 'skip';
      else {
        this.recent.push(e.track);
        this.recentSkipped.push(e.action === 'skip');
      }
      this.lastWasStart = e.action === 'play';
      if (this.recent.length > RECENT_LIMIT) {
        this.recent.splice(0, this.recent.length - RECENT_LIMIT);
        this.recentSkipped.splice(0, this.recentSkipped.length - RECENT_LIMIT);
      }
    }
    if (e.action === 'complete') this.completes.set(e.track, (this.completes.get(e.track) ?? 0) + 1);
    if (e.action === 'like') {
      const i = this.liked.indexOf(e.track);
      if (i >= 0) this.liked.splice(i, 1);
      this.liked.push(e.track);
      if (this.liked.length > LIKED_LIMIT) this.liked.shift();
    }
    if (e.action === 'dislike') {
      const i = this.liked.indexOf(e.track);
      if (i >= 0) this.liked.splice(i, 1);
    }
    const d = affinityDelta(e);
    if (d.track !== 0) this.trackAffinity.set(e.track, clamp((this.trackAffinity.get(e.track) ?? 0) + d.track));
    if (d.artist !== 0 && e.artist >= 0) this.artistAffinity.set(e.artist, clamp((this.artistAffinity.get(e.artist) ?? 0) + d.artist));
  }

  /** Multiplier for a candidate by its artist: below 1 for skipped artists, above for liked ones. */
  artistFactor(artist: number): number {
    if (artist < 0) return 1;
    const a = this.artistAffinity.get(artist);
    return a === undefined ? 1 : Math.exp(0.45 * a);
  }

  /** True for tracks the listener made clear they do not want (disliked, or skipped early twice). */
  rejects(track: number): boolean {
    return (this.trackAffinity.get(track) ?? 0) <= -4;
  }

  /**
   * Seed tracks for "the listener's taste": recent plays (the newest weigh most, like the
   * next-track path), completed and liked tracks. Skipped plays stay seeds (weaker) and
   * come back in `skipped`, so the engine matches their outcome ("what people kept after
   * skipping X") instead of treating them as negative seeds: skips refine what the plays
   * say, they never erase it (issue 12). Disliked tracks are excluded by `rejects`.
   */
  tasteSeeds(limit: number, o: Partial<TasteOptions> = {}): { tracks: Map<number, number>; skipped: Map<number, boolean> } {
    const { decay, window, completeBonus } = { ...TASTE, ...o };
    const w = new Map<number, number>();
    const skipped = new Map<number, boolean>();
    const n = this.recent.length;
    for (let i = 0; i < n; i++) {
      const t = this.recent[i]!;
      // As sequenceSeeds (the next-track path evaluated in bench/eval): the last 20 by 0.7^age.
      const age = n - 1 - i;
      w.set(t, (w.get(t) ?? 0) + (age < window ? decay ** age : 0.02));
      skipped.set(t, this.recentSkipped[i]!);
    }
    for (const [t, c] of this.completes) w.set(t, (w.get(t) ?? 0) + completeBonus * Math.min(c, 5));
    for (const [i, t] of this.liked.entries()) w.set(t, (w.get(t) ?? 0) + 1 + i / this.liked.length);
    for (const t of this.liked) skipped.set(t, false);
    const tracks = new Map(
      [...w]
        .filter(([t, v]) => v > 0 && !this.rejects(t))
        .sort((a, b) => b[1] - a[1])
        .slice(0, limit),
    );
    for (const t of skipped.keys()) if (!tracks.has(t)) skipped.delete(t);
    return { tracks, skipped };
  }

  /** Artists by affinity, strongest first. */
  topArtists(limit: number): number[] {
    return [...this.artistAffinity]
      .filter(([, a]) => a > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([x]) => x);
  }
}
