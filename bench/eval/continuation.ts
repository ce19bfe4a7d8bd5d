// Playlist continuation on the MPD subset: given a held-out playlist's first K tracks,
// rank 500 tracks; R-precision, NDCG@500 and clicks against the rest of the playlist.
import { Engine, nameTokens, type Blend } from '../../src/reco/engine.ts';
import { cooccurrence, fill, popularity } from './baselines.ts';
import type { PlaylistRecord } from '../../src/catalog/formats.ts';
import type { TrackMeta } from '../../src/reco/catalog.ts';
import { bucket, loadMpd, splitOf, type SplitName } from './data.ts';
import { clicks, heapUsedMb, Mean, ndcg, rPrecision } from './metrics.ts';

export const SEED_COUNTS = [1, 5, 10, 25];
/** Held-out playlists need this many distinct tracks, so every K leaves at least 10 to find. */
const MIN_LENGTH = 35;

export interface Row {
  k: number;
  method: string;
  rprec: number;
  ndcg: number;
  clicks: number;
  n: number;
}

export interface Prepared {
  engine: Engine;
  held: { tracks: number[]; name: string }[];
  buildMs: number;
  heapMb: number;
}

export async function prepareContinuation(split: SplitName, log = console.error): Promise<Prepared> {
  return prepareContinuationFrom(await loadMpd(), split, log);
}

export function prepareContinuationFrom(mpd: { playlists: PlaylistRecord[]; tracks: TrackMeta[] }, split: SplitName, log = console.error): Prepared {
  const { playlists, tracks } = mpd;
  const { test, train } = splitOf(split);
  const heap0 = heapUsedMb();
  const t1 = performance.now();
  const engine = new Engine();
  for (const m of tracks) engine.catalog.upsert(m);
  const held: { tracks: number[]; name: string }[] = [];
  for (const p of playlists) {
    const b = bucket(`mpd:${p.id}`);
    if (train(b)) engine.addPlaylist(p.id, p.name, p.tracks);
    else if (test(b)) {
      const uniq = [...new Set(p.tracks)].map((x) => engine.catalog.ensure(x));
      if (uniq.length >= MIN_LENGTH) held.push({ tracks: uniq, name: p.name });
    }
  }
  engine.catalog.popular(1);
  const buildMs = performance.now() - t1;
  const heapMb = heapUsedMb() - heap0;
  log(
    `mpd: ${playlists.length} playlists, ${tracks.length} tracks; engine built in ${(buildMs / 1000).toFixed(2)} s (+${heapMb.toFixed(0)} MB heap); ${held.length} held-out playlists`,
  );
  return { engine, held, buildMs, heapMb };
}

export function runContinuation(prep: Prepared, blend: Partial<Blend> = {}, ks = SEED_COUNTS, baselines = true) {
  const { engine, held } = prep;

  const rows: Row[] = [];
  const ids = Array.from({ length: engine.catalog.size }, (_, t) => engine.catalog.id(t));
  const timings: number[] = [];
  for (const k of ks) {
    const acc: Record<string, { r: Mean; n: Mean; c: Mean }> = {};
    const add = (method: string, ranked: number[], relevant: Set<string>) => {
      const m = (acc[method] ??= { r: new Mean(), n: new Mean(), c: new Mean() });
      const r = ranked.map((t) => ids[t]!);
      m.r.add(rPrecision(r, relevant));
      m.n.add(ndcg(r, relevant));
      m.c.add(clicks(r, relevant));
    };
    for (const p of held) {
      const seeds = p.tracks.slice(0, k);
      const relevant = new Set(p.tracks.slice(k).map((t) => ids[t]!));
      const exclude = new Set(seeds);
      if (baselines) {
        add('popularity', popularity(engine, 500, exclude), relevant);
        add('co-occurrence', cooccurrence(engine, seeds, 500, exclude), relevant);
      }
      const s = performance.now();
      // Later seeds are closer to what comes next: a mild recency weight.
      const weights = new Map(seeds.map((t, i) => [t, 0.6 + (0.4 * (i + 1)) / seeds.length] as [number, number]));
      const ours = engine.score({ tracks: weights, words: nameTokens(p.name) }, { mode: 'continuation', limit: 500, exclude, blend }).map((x) => x.track);
      timings.push(performance.now() - s);
      add('engine', fill(engine, ours, 500, exclude), relevant);
    }
    for (const [method, m] of Object.entries(acc)) rows.push({ k, method, rprec: m.r.value, ndcg: m.n.value, clicks: m.c.value, n: m.r.n });
  }
  return { rows, timings };
}
