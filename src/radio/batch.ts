// One batch of a radio or mix: seeds plus what the listener told the station, scored
// by the engine, then re-ranked so no track repeats within the window and artists stay
// spread out, each with a short reason. Synchronous and in memory.
import { createHash } from 'node:crypto';
import type { Scored } from '../reco/engine.ts';
import { POPULAR_TOP } from '../reco/catalog.ts';
import type { Seeds } from '../reco/seeds.ts';
import type { Profile } from '../reco/profile.ts';
import type { Recommender } from '../reco/recommender.ts';
import { DEFAULT_SPREAD, LIST_SPREAD, rerank } from '../reco/rerank.ts';
import { reasonText, type Reason, type ResolvedStation } from '../reco/stations.ts';

/**
 * Once a station has played everything it can recommend, a track may come back, but
 * never within this many items of the queue (the oldest-queued come back first).
 */
export const NO_REPEAT_WINDOW = 50;
/** Width of a batch's jitter per mode (0.06: a score times 0.97-1.03). */
export const JITTER: Record<'radio' | 'continuation' | 'session', number> = { radio: 0.06, continuation: 0.06, session: 0.06 };
/** The newest queue items that seed the station's drift when its own seeds run dry. */
const DRIFT_SEEDS = 20;

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
  /** Track ids of the queue so far, in play order (never repeated; the artist spread looks at its end). */
  queueTracks?: readonly string[];
  /** Track ids the station queued before, also ones no longer in the queue (never repeated until exhausted). */
  stationHistory?: Iterable<string>;
  /** Track ids the listener played or had queued within the per-user no-repeat window (avoided while anything else is left). */
  userRecent?: Iterable<string>;
  /** Track indexes never to pick (skipped on this station, heard already for discover, ...). */
  exclude?: ReadonlySet<number>;
  onlyGenres?: Set<number>;
  /** Per-artist feedback of this station (artist index -> affinity). */
  stationArtists?: ReadonlyMap<number, number>;
  /** Varies the batch between calls with the same seeds. */
  salt: string;
  /** Extra candidates with a score (e.g. an album's own tracks for album radio). */
  boost?: ReadonlyMap<number, { score: number; reason: Reason }>;
  /** The engine blend: radio (default), continuation (a playlist or queue going on), session (a listener's recent plays). */
  mode?: 'radio' | 'continuation' | 'session';
}

export interface BatchItem {
  trackId: string;
  reason: Reason;
}

/**
 * A batch in widening steps, each only when the one before could not fill it: (1) the
 * station's seeds, excluding everything the station ever queued and what the listener
 * played or heard from radio within the no-repeat window; (2) plus the queue's newest
 * tracks as seeds (the station drifts to new ground instead of looping); (3) the
 * listener's window gives way (relevant tracks heard lately); (4) the rest of the
 * catalog by popularity; (5) the station is exhausted: tracks it queued come back,
 * oldest first, never within NO_REPEAT_WINDOW items and never one skipped on it.
 */
export function generateBatch(reco: Recommender, b: BatchInput): BatchItem[] {
  const cat = reco.engine.catalog;
  const queue = b.queueTracks ?? [];
  const hard = new Set<number>(b.exclude ?? []);
  const toIdx = (ids: Iterable<string>, into: Set<number>) => {
    for (const id of ids) {
      const t = cat.lookup(id);
      if (t !== undefined) into.add(t);
    }
    return into;
  };
  const history = toIdx(queue, new Set<number>());
  toIdx(b.stationHistory ?? [], history);
  for (const t of history) hard.add(t);
  const soft = toIdx(b.userRecent ?? [], new Set<number>());
  for (const t of b.profile?.recent.slice(-NO_REPEAT_WINDOW) ?? []) soft.add(t);
  const both = new Set<number>([...hard, ...soft]);

  const prefs = b.preferences ?? {};
  const excludeArtists = new Set((prefs.excludeArtists ?? []).map((a) => cat.artists.find(a)).filter((a): a is number => a !== undefined));
  const prefGenres = (prefs.genres ?? []).map((g) => cat.genreNames.find(g)).filter((g): g is number => g !== undefined);
  let onlyGenres = b.onlyGenres ?? (prefGenres.length ? new Set(prefGenres) : undefined);
  const mode = b.mode ?? 'radio';
  const limit = Math.max(300, b.count * 15);
  const score = (seeds: Seeds, exclude: ReadonlySet<number>) =>
    reco.engine.score(seeds, { mode, limit, exclude, profile: b.profile, familiarity: prefs.familiarity, energy: prefs.energy, excludeArtists, onlyGenres });

  let scored = score(b.seeds, both);
  // A genre too small for a full batch: widen rather than come back short.
  if (onlyGenres && scored.length < b.count * 3) {
    onlyGenres = undefined;
    scored = score(b.seeds, both);
  }
  // (2) Drift: the queue's newest tracks seed what the station's own seeds no longer reach.
  if (scored.length < b.count * 3 && queue.length > 0) {
    const drift = new Map(b.seeds.tracks);
    const recent = queue.slice(-DRIFT_SEEDS);
    recent.forEach((id, i) => {
      const t = cat.lookup(id);
      if (t !== undefined && !drift.has(t)) drift.set(t, (0.3 * (i + 1)) / recent.length);
    });
    const have = new Set(scored.map((x) => x.track));
    // Drift seeds are queue tracks: excluded as candidates by `both` already.
    for (const x of score({ ...b.seeds, tracks: drift }, both)) if (!have.has(x.track)) scored.push({ ...x, score: x.score * 0.5 });
  }
  if (b.stationArtists?.size) {
    scored = scored.map((s) => ({ ...s, score: s.score * Math.exp(0.5 * (b.stationArtists!.get(cat.artist[s.track]!) ?? 0)) }));
  }
  scored.sort((x, y) => y.score - x.score || x.track - y.track);
  const reasons = new Map<number, Reason>();
  if (b.boost?.size) {
    for (const [t, v] of b.boost) {
      if (both.has(t)) continue;
      scored.push({ track: t, score: v.score, reason: { kind: 'popular', seed: -1 } });
      reasons.set(t, v.reason);
    }
    scored.sort((x, y) => y.score - x.score || x.track - y.track);
  }
  // Artist rules where they pay: a radio spreads artists; a list going on keeps its own mix.
  const spread = mode === 'continuation' ? LIST_SPREAD : DEFAULT_SPREAD;
  const tail = queue.slice(-(spread.spreadWindow - 1)).map((id) => {
    const t = cat.lookup(id);
    return t === undefined ? -1 : cat.artist[t]!;
  });
  const artistOf = (t: number) => cat.artist[t]!;
  // A little variety between batches of the same seeds (±3%: more reorders the best tracks):
  // one hash of the salt per batch, then an integer mix per track (a SHA-1 per candidate
  // was 7% of the server's CPU under 8 listeners, issue 24).
  const salted = saltHash(b.salt);
  const spreadJ = JITTER[mode];
  const jitter = (t: number) => 1 - spreadJ / 2 + spreadJ * mix32(salted, t);
  const allowed = (t: number) => {
    if (cat.removed[t] || b.profile?.rejects(t)) return false;
    const a = cat.artist[t]!;
    if (a >= 0 && excludeArtists.has(a)) return false;
    return !onlyGenres || (cat.genresOf(t) ?? []).some((g) => onlyGenres!.has(g));
  };
  let picked = rerank(scored, { count: b.count, artistOf, exclude: both, tail, ...spread, jitter });
  const more = (cands: Scored[], exclude: ReadonlySet<number>) => {
    if (picked.length >= b.count) return;
    const pickedSet = new Set(picked.map((p) => p.track));
    const extra = rerank(
      cands.filter((c) => !pickedSet.has(c.track)),
      {
        count: b.count - picked.length,
        artistOf,
        exclude,
        tail: [...tail, ...picked.map((p) => artistOf(p.track))],
        ...spread,
        jitter,
      },
    );
    picked = [...picked, ...extra];
  };
  // (3) The listener's window gives way before relevance does: the station's own
  // candidates heard lately, then (4) the rest of the catalog, most popular first.
  if (picked.length < b.count && soft.size > 0) more(score(b.seeds, hard), hard);
  if (picked.length < b.count) {
    const fill: Scored[] = [];
    // The catalog's most popular first (a selection), all of it only when those run out.
    const total = cat.popularCount;
    let popular = cat.popular(POPULAR_TOP);
    if (popular.length < total && popular.length < hard.size + b.count * 20) popular = cat.popular(cat.size);
    for (let i = 0; fill.length < b.count * 20; i++) {
      if (i === popular.length) {
        if (popular.length >= total) break;
        popular = cat.popular(cat.size);
        if (i >= popular.length) break;
      }
      const t = popular[i]!;
      if (!hard.has(t) && allowed(t)) fill.push({ track: t, score: 1e-6 * (total - i) * (soft.has(t) ? 1e-3 : 1), reason: { kind: 'popular', seed: -1 } });
    }
    more(fill, hard);
  }
  // (5) Exhausted: the station's own tracks come back, the longest-ago queued first.
  if (picked.length < b.count && history.size > 0) {
    const window = toIdx(queue.slice(-NO_REPEAT_WINDOW), new Set<number>());
    const order = [...new Set([...toIdx(b.stationHistory ?? [], new Set<number>()), ...toIdx(queue, new Set<number>())])];
    const fill = order
      .filter((t) => !window.has(t) && !b.exclude?.has(t) && allowed(t))
      .map((t, i) => ({ track: t, score: 1e-9 * (order.length - i), reason: { kind: 'popular' as const, seed: -1 } }));
    more(fill, new Set([...window, ...(b.exclude ?? [])]));
  }
  const liked = new Set(b.profile?.liked ?? []);
  return picked.map((s) => ({ trackId: cat.id(s.track), reason: reasons.get(s.track) ?? reasonText(reco, s, liked, b.label) }));
}

/**
 * A batch of a station for a user: the station's seeds plus what the user told this
 * station (liked tracks pull their neighbours in; a skipped track is not played on it
 * again and its artist less, and it stays a seed whose outcome is matched: what people
 * kept after skipping it), and the user's taste profile on top.
 */
export function stationBatch(
  reco: Recommender,
  o: {
    userId: string;
    stationId: string;
    resolved: ResolvedStation;
    preferences: Preferences;
    count: number;
    queueTracks: readonly string[];
    salt: string;
    stationHistory?: Iterable<string>;
    userRecent?: Iterable<string>;
  },
): BatchItem[] {
  const fb = reco.stationFeedback(o.userId, o.stationId);
  const seeds = { ...o.resolved.seeds, tracks: new Map(o.resolved.seeds.tracks), skipped: new Map(o.resolved.seeds.skipped ?? []) };
  for (const t of fb?.liked ?? []) seeds.tracks.set(t, (seeds.tracks.get(t) ?? 0) + 1.5);
  for (const t of fb?.skipped ?? []) {
    seeds.tracks.set(t, Math.max(0.3, seeds.tracks.get(t) ?? 0));
    seeds.skipped.set(t, true);
  }
  const exclude = new Set<number>([...(fb?.skipped ?? []), ...(o.resolved.exclude ?? [])]);
  return generateBatch(reco, {
    seeds,
    label: o.resolved.label,
    count: o.count,
    profile: reco.peekProfile(o.userId),
    preferences: o.preferences,
    queueTracks: o.queueTracks,
    stationHistory: o.stationHistory,
    userRecent: o.userRecent,
    mode: o.resolved.mode,
    exclude,
    onlyGenres: o.resolved.onlyGenres,
    stationArtists: fb?.artist,
    salt: o.salt,
  });
}

/** 32 bits of a string's SHA-1, the same every time. */
function saltHash(s: string): number {
  return createHash('sha1').update(s).digest().readUInt32BE(0);
}

/** A number in [0, 1) from a salt and a track, the same every time (murmur3's finaliser). */
export function mix32(salt: number, t: number): number {
  let h = (salt ^ Math.imul(t + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}
