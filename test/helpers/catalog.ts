// A small generated catalog for the recommendation tests (never the real data): artists
// in clusters that share a genre and appear together in playlists, so "similar" has a
// known answer. Seeded, so every run makes the same catalog.

import { mulberry32 } from './random.ts';

/** The seeded PRNG the generated catalog is made with. */
export const rng = mulberry32;

export const GENRES = ['rock', 'pop', 'jazz', 'folk', 'metal', 'soul', 'blues', 'house'];

export interface GeneratedCatalog {
  tracks: {
    id: string;
    title: string;
    artist: string;
    album: string;
    albumId: string;
    genres: string[];
    duration: number;
    features: { energy: number; valence: number };
  }[];
  playlists: { id: string; name: string; tracks: string[] }[];
  clusterOf(artist: number): number;
  artistName(a: number): string;
  trackId(a: number, i: number): string;
}

export function generateCatalog(
  o: { artists?: number; tracksPerArtist?: number; clusters?: number; playlists?: number; length?: number; seed?: number } = {},
): GeneratedCatalog {
  const artists = o.artists ?? 24;
  const per = o.tracksPerArtist ?? 8;
  const clusters = o.clusters ?? 6;
  const random = rng(o.seed ?? 7);
  const clusterOf = (a: number) => a % clusters;
  const artistName = (a: number) => `Artist ${a}`;
  const trackId = (a: number, i: number) => `a${a}t${i}`;
  const tracks: GeneratedCatalog['tracks'] = [];
  for (let a = 0; a < artists; a++) {
    for (let i = 0; i < per; i++) {
      const c = clusterOf(a);
      tracks.push({
        id: trackId(a, i),
        title: `Song ${i} of ${a}`,
        artist: artistName(a),
        album: `Album ${a}-${i % 2}`,
        albumId: `al${a}-${i % 2}`,
        genres: [GENRES[c % GENRES.length]!],
        duration: 180 + i,
        features: { energy: (c + 0.5) / clusters, valence: random() },
      });
    }
  }
  const playlists: GeneratedCatalog['playlists'] = [];
  const inCluster = (c: number) => Array.from({ length: artists }, (_, a) => a).filter((a) => clusterOf(a) === c);
  for (let p = 0; p < (o.playlists ?? 240); p++) {
    const c = p % clusters;
    const pool = inCluster(c).flatMap((a) => Array.from({ length: per }, (_, i) => trackId(a, i)));
    const chosen = new Set<string>();
    while (chosen.size < Math.min(o.length ?? 12, pool.length)) chosen.add(pool[Math.floor(random() * pool.length)]!);
    playlists.push({ id: `pl${p}`, name: `${GENRES[c % GENRES.length]} mix ${p}`, tracks: [...chosen] });
  }
  return { tracks, playlists, clusterOf, artistName, trackId };
}
