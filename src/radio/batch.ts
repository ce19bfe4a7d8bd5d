// One batch of a radio or mix: seeds plus what the listener told the station, scored
// by the engine, then re-ranked so no track repeats within the window and artists stay
// spread out, each with a short reason. Synchronous and in memory.
import { createHash } from 'node:crypto';
import type { Seeds } from '../reco/engine.ts';
import type { Profile } from '../reco/profile.ts';
import type { Recommender } from '../reco/recommender.ts';
import { DEFAULT_SPREAD, rerank } from '../reco/rerank.ts';
import { reasonText, type Reason, type ResolvedStation } from '../reco/stations.ts';

/** A track may come back only after this many other items of the queue (and of the listener's recent plays). */
export const NO_REPEAT_WINDOW = 50;

export interface Preferences {
  /** 0 = only new to me, 1 = only what I know. */
  familiarity?: number;
  /** Target energy 0..1 (used when the catalog has audio features). */
  energy?: number;
  excludeArtists?: string[];
  genres?: string[];
}

export interface BatchInput {
  seeds: Seeds;
  label: string;
  count: number;
  profile: Profile | null;
  preferences?: Preferences;
  /** Track ids of the queue so far, in play order (the window and the artist spread look at its end). */
  queueTracks?: readonly string[];
  /** Track indexes never to pick (played already, heard already, ...). */
  exclude?: ReadonlySet<number>;
  onlyGenres?: Set<number>;
  /** Per-artist feedback of this station (artist index -> affinity). */
  stationArtists?: ReadonlyMap<number, number>;
  /** Varies the batch between calls with the same seeds. */
  salt: string;
  /** Extra candidates with a score (e.g. an album's own tracks for album radio). */
  boost?: ReadonlyMap<number, { score: number; reason: Reason }>;
}

export interface BatchItem {
  trackId: string;
  reason: Reason;
}

export function generateBatch(reco: Recommender, b: BatchInput): BatchItem[] {
  const cat = reco.engine.catalog;
  const queue = b.queueTracks ?? [];
  const exclude = new Set<number>(b.exclude ?? []);
  for (const id of queue.slice(-NO_REPEAT_WINDOW)) {
    const t = cat.lookup(id);
    if (t !== undefined) exclude.add(t);
  }
  for (const t of b.profile?.recent.slice(-NO_REPEAT_WINDOW) ?? []) exclude.add(t);
  const prefs = b.preferences ?? {};
  const excludeArtists = new Set((prefs.excludeArtists ?? []).map((a) => cat.artists.find(a)).filter((a): a is number => a !== undefined));
  const prefGenres = (prefs.genres ?? []).map((g) => cat.genreNames.find(g)).filter((g): g is number => g !== undefined);
  const onlyGenres = b.onlyGenres ?? (prefGenres.length ? new Set(prefGenres) : undefined);
  const opts = {
    mode: 'radio' as const, limit: Math.max(300, b.count * 15), exclude, profile: b.profile,
    familiarity: prefs.familiarity, energy: prefs.energy, excludeArtists, onlyGenres,
  };
  let scored = reco.engine.score(b.seeds, opts);
  // A genre too small for a full batch: widen rather than come back short.
  if (onlyGenres && scored.length < b.count * 3) scored = reco.engine.score(b.seeds, { ...opts, onlyGenres: undefined });
  if (b.stationArtists?.size) {
    scored = scored
      .map((s) => ({ ...s, score: s.score * Math.exp(0.5 * (b.stationArtists!.get(cat.artist[s.track]!) ?? 0)) }))
      .sort((x, y) => y.score - x.score || x.track - y.track);
  }
  const reasons = new Map<number, Reason>();
  if (b.boost?.size) {
    for (const [t, v] of b.boost) {
      if (exclude.has(t)) continue;
      scored.push({ track: t, score: v.score, reason: { kind: 'popular', seed: -1 } });
      reasons.set(t, v.reason);
    }
    scored.sort((x, y) => y.score - x.score || x.track - y.track);
  }
  const tail = queue.slice(-(DEFAULT_SPREAD.spreadWindow - 1)).map((id) => {
    const t = cat.lookup(id);
    return t === undefined ? -1 : cat.artist[t]!;
  });
  const picked = rerank(scored, {
    count: b.count, artistOf: (t) => cat.artist[t]!, exclude, tail, ...DEFAULT_SPREAD,
    jitter: (t) => 0.9 + 0.2 * unit(`${b.salt}:${t}`),
  });
  const liked = new Set(b.profile?.liked ?? []);
  return picked.map((s) => ({ trackId: cat.ids[s.track]!, reason: reasons.get(s.track) ?? reasonText(reco, s, liked, b.label) }));
}

/**
 * A batch of a station for a user: the station's seeds plus what the user told this
 * station (liked tracks pull their neighbours in, skipped ones push theirs out and are
 * not played again on it), and the user's taste profile on top.
 */
export function stationBatch(reco: Recommender, o: { userId: string; stationId: string; resolved: ResolvedStation; preferences: Preferences; count: number; queueTracks: readonly string[]; salt: string }): BatchItem[] {
  const fb = reco.stationFeedback(o.userId, o.stationId);
  const seeds = { ...o.resolved.seeds, tracks: new Map(o.resolved.seeds.tracks) };
  for (const t of fb?.liked ?? []) seeds.tracks.set(t, (seeds.tracks.get(t) ?? 0) + 1.5);
  for (const t of fb?.skipped ?? []) seeds.tracks.set(t, Math.min(0, seeds.tracks.get(t) ?? 0) - 0.7);
  return generateBatch(reco, {
    seeds, label: o.resolved.label, count: o.count, profile: reco.peekProfile(o.userId), preferences: o.preferences, queueTracks: o.queueTracks,
    exclude: new Set(fb?.skipped ?? []), onlyGenres: o.resolved.onlyGenres, stationArtists: fb?.artist, salt: o.salt,
  });
}

/** A number in [0, 1) from a string, the same every time. */
function unit(s: string): number {
  return createHash('sha1').update(s).digest().readUInt32BE(0) / 2 ** 32;
}
