// The engine on all of ../shared/data at once (what a server holding both data sets
// builds): build time, memory, and the latency of one radio batch of 20 (station
// resolution, scoring, re-ranking, reasons) for track, artist and playlist stations.
import type { PlaylistRecord } from '../../src/catalog/formats.ts';
import { stationBatch } from '../../src/radio/batch.ts';
import type { TrackMeta } from '../../src/reco/catalog.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import { parseStation, resolveStation } from '../../src/reco/stations.ts';
import { sessionListens, type Session } from './data.ts';
import { percentile } from './metrics.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const heap = () => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

export function radioBench(tracks: TrackMeta[], playlists: PlaylistRecord[], sessions: Session[], batches = 1500) {
  const heap0 = heap();
  const t0 = performance.now();
  const reco = new Recommender();
  for (const m of tracks) reco.engine.catalog.upsert(m);
  for (const p of playlists) reco.engine.addPlaylist(p.id, p.name, p.tracks);
  for (const s of sessions) {
    for (const e of sessionListens(s)) reco.ingest(e);
  }
  reco.engine.catalog.popular(1);
  const buildMs = performance.now() - t0;
  const heapMb = (heap() - heap0) / 2 ** 20;
  const cat = reco.engine.catalog;
  // Stations spread over the catalog, the same every run: tracks, artists, playlists.
  const stations: string[] = [];
  for (let i = 0; stations.length < batches; i++) {
    const k = (i * 7919) % tracks.length;
    if (i % 3 === 0) stations.push(`track:${tracks[k]!.id}`);
    else if (i % 3 === 1) stations.push(`artist:${tracks[k]!.artist}`);
    else stations.push(`playlist:${playlists[(i * 31) % playlists.length]!.id}`);
  }
  const times: number[] = [];
  let items = 0;
  for (const [i, id] of stations.entries()) {
    const s = performance.now();
    const resolved = resolveStation(reco, parseStation(id)!, null);
    const out = stationBatch(reco, { userId: 'bench', stationId: id, resolved, preferences: {}, count: 20, queueTracks: [], salt: `b${i}` });
    times.push(performance.now() - s);
    items += out.length;
  }
  return {
    buildMs,
    heapMb,
    rssMb: process.memoryUsage().rss / 2 ** 20,
    tracks: cat.size,
    baskets: reco.engine.baskets.live,
    batches: times.length,
    meanItems: items / times.length,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    max: Math.max(...times),
  };
}
