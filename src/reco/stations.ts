// Stations: what a radio is seeded by, named in its id. `track:<id>`, `artist:<name>`,
// `genre:<name>`, `album:<id>`, `playlist:<id>`, `user:<id>` (the user's taste).
// Resolving one gives the engine its seeds; reasons name them for listeners.
import { nameTokens, type Scored } from './engine.ts';
import type { Seeds } from './seeds.ts';
import type { Profile, TasteOptions } from './profile.ts';
import type { Recommender } from './recommender.ts';
import { STATION_ID_PATTERN, STATION_KINDS } from '../model/wire.ts';

export { STATION_ID_PATTERN, STATION_KINDS };
export type StationKind = (typeof STATION_KINDS)[number];

export interface Station {
  id: string;
  kind: StationKind;
  value: string;
}

export function parseStation(id: string): Station | null {
  const i = id.indexOf(':');
  if (i < 0) return null;
  const kind = id.slice(0, i) as StationKind;
  const value = id.slice(i + 1);
  if (!STATION_KINDS.includes(kind) || value.trim().length === 0) return null;
  return { id, kind, value };
}

export interface ResolvedStation {
  seeds: Seeds;
  /** For people: "Artist", "Title by Artist", "Playlist name". */
  label: string;
  /** Restrict candidates to these genres (genre stations). */
  onlyGenres?: Set<number>;
  /** Never queued by this station (a playlist station never plays the playlist back). */
  exclude?: Set<number>;
  /** The engine blend that fits the seeds (default radio). */
  mode?: 'radio' | 'continuation' | 'session';
}

/**
 * Seeds of a list going on (a playlist, a queue): every track, the later ones weighing
 * more (0.4 for the first, 1 for the last, as the continuation evaluation).
 */
export function continuationSeeds(tracks: readonly number[]): Map<number, number> {
  const seeds = new Map<number, number>();
  for (const [i, t] of tracks.entries()) seeds.set(t, Math.max(seeds.get(t) ?? 0, 0.6 + (0.4 * (i + 1)) / tracks.length));
  return seeds;
}

/** A user station's plays matched in order against other sessions (Blend.seqOrder at most). */
const SEQUENCE_PLAYS = 8;

/**
 * How a user station turns the listener's plays into seeds (tuning hooks of
 * bench/eval/next-track.ts; the defaults are the station's own): the taste-seed options,
 * and for skipped plays whether their outcome is matched (false: as if kept) and a factor
 * on their seed weight (issue 24 round 6: 0.25-4 and both outcomes within 0.002 of HR@10).
 */
export const USER_TASTE: Partial<TasteOptions> = {};
export const USER_SKIPS = { matchOutcome: true, seedWeight: 1 };

/** Why a station cannot be resolved: the seed is unknown. */
export class UnknownSeed extends Error {}

/**
 * The station's seeds. `context` (the listener's context features) seeds a user station
 * for a listener without history: the tracks typical of that context.
 */
export function resolveStation(reco: Recommender, st: Station, profile: Profile | null, context: readonly string[] = []): ResolvedStation {
  const { engine } = reco;
  const cat = engine.catalog;
  const tracks = new Map<number, number>();
  switch (st.kind) {
    case 'track': {
      const t = cat.lookup(st.value);
      if (t === undefined) throw new UnknownSeed(`track ${st.value} is not in the catalog`);
      tracks.set(t, 3);
      const a = cat.artist[t]!;
      return { seeds: { tracks, artists: a >= 0 ? new Map([[a, 0.5]]) : undefined }, label: cat.label(t), exclude: new Set([t]) };
    }
    case 'artist': {
      const a = cat.artists.find(st.value);
      if (a === undefined) throw new UnknownSeed(`artist ${st.value} is not in the catalog`);
      for (const [i, t] of cat.topOfArtist(a, 10).entries()) tracks.set(t, 1 - i / 20);
      return { seeds: { tracks, artists: new Map([[a, 2]]) }, label: cat.artists.display[a]! };
    }
    case 'genre': {
      const g = cat.genreNames.find(st.value);
      if (g === undefined) throw new UnknownSeed(`genre ${st.value} is not in the catalog`);
      for (const [i, t] of cat.topOfGenre(g, 20).entries()) tracks.set(t, 1 - i / 40);
      return { seeds: { tracks, genres: new Map([[g, 2]]) }, label: cat.genreNames.display[g]!, onlyGenres: new Set([g]) };
    }
    case 'album': {
      const al = cat.albums.find(`id:${st.value}`) ?? findAlbumByTitle(reco, st.value);
      if (al === undefined) throw new UnknownSeed(`album ${st.value} is not in the catalog`);
      for (const t of cat.albumTracks[al] ?? []) tracks.set(t, 1);
      return { seeds: { tracks }, label: cat.albumTitles[al] ?? st.value };
    }
    case 'playlist': {
      const b = engine.baskets.basketOf(`playlist:${st.value}`);
      if (b === undefined) throw new UnknownSeed(`playlist ${st.value} is not in the catalog`);
      // All the playlist's tracks seed it (recent ones weigh more); none is played back.
      const items = engine.baskets.items(b);
      const name = engine.baskets.names[b] ?? st.value;
      return { seeds: { tracks: continuationSeeds(items), words: nameTokens(name) }, label: name, exclude: new Set(items), mode: 'continuation' };
    }
    case 'user': {
      // The listener's plays, newest first, skipped ones with their outcome matched
      // (never as negative seeds): the next-track path of bench/eval.
      const taste = profile ? profile.tasteSeeds(30, USER_TASTE) : null;
      const artists = new Map((profile?.topArtists(5) ?? []).map((a, i) => [a, 1 - i / 10] as [number, number]));
      // The latest plays in order: what followed them in other sessions (Blend.seq).
      const sequence = profile?.recent.slice(-SEQUENCE_PLAYS) ?? [];
      if (taste && taste.tracks.size > 0) {
        // The defaults leave the seeds as they are (no copy); the harness's variants change them.
        const varied = !USER_SKIPS.matchOutcome || USER_SKIPS.seedWeight !== 1;
        const skipped = varied ? new Map(taste.skipped) : taste.skipped;
        if (varied)
          for (const [t, sk] of taste.skipped) {
            if (!sk) continue;
            if (!USER_SKIPS.matchOutcome) skipped.set(t, false);
            taste.tracks.set(t, taste.tracks.get(t)! * USER_SKIPS.seedWeight);
          }
        return {
          seeds: { tracks: taste.tracks, skipped, artists, sequence, contextType: profile?.contextType },
          label: 'your taste',
          mode: 'session',
        };
      }
      // No history yet: start from what people play in this context (the population prior).
      for (const [i, x] of reco.contextTracks.top(context, 20).entries()) tracks.set(x.track, 1 - i / 40);
      return { seeds: { tracks }, label: 'what people play now' };
    }
  }
}

function findAlbumByTitle(reco: Recommender, title: string): number | undefined {
  const cat = reco.engine.catalog;
  const want = title.trim().toLowerCase();
  const i = cat.albumTitles.findIndex((t) => t !== undefined && t.toLowerCase() === want);
  return i >= 0 ? i : undefined;
}

export interface Reason {
  kind: string;
  text: string;
}

/** A short reason for people: "similar to X", "popular with listeners of Y", "because you liked Z". */
export function reasonText(reco: Recommender, s: Scored, liked: ReadonlySet<number>, stationLabel: string): Reason {
  const cat = reco.engine.catalog;
  const { kind, seed } = s.reason;
  switch (kind) {
    case 'similar':
      if (seed >= 0 && liked.has(seed)) return { kind: 'liked', text: `because you liked ${cat.label(seed)}` };
      return { kind, text: seed >= 0 ? `similar to ${cat.label(seed)}` : `similar to ${stationLabel}` };
    case 'listeners': {
      const who = seed >= 0 ? (cat.artistName(seed) ?? cat.label(seed)) : stationLabel;
      return { kind, text: `popular with listeners of ${who}` };
    }
    case 'artist':
      return { kind, text: `more from ${cat.artists.display[seed] ?? stationLabel}` };
    case 'album':
      return { kind, text: `from ${cat.albumTitles[cat.album[s.track]!] ?? stationLabel}` };
    case 'genre':
      return { kind, text: seed >= 0 ? `${cat.genreNames.display[seed]} like ${stationLabel}` : `in the mood of ${stationLabel}` };
    case 'features':
      return { kind, text: seed >= 0 ? `sounds like ${cat.label(seed)}` : `sounds like ${stationLabel}` };
    default:
      return { kind: 'popular', text: 'popular right now' };
  }
}
