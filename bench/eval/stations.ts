// The API path in process, for tuning (issue 24): a Recommender built like the server's
// (both data sets' training split, the events through `ingest`), and the station code the
// HTTP endpoints run (resolveStation + stationBatch: the engine, the rerank, the jitter,
// the no-repeat ladder), without HTTP or SQLite. Same queries and metrics as api.ts
// (playlist stations of 20 + 50 + 30 for a fresh listener; a user station's first 10
// after a session's prefix, with and without skip flags), same baselines. Minutes
// instead of the API run's many; `--only stations --split tune`. The figures to report
// still come from api.ts (a real server, the dev split).
import type { PlaylistRecord } from '../../src/catalog/formats.ts';
import type { TrackMeta } from '../../src/reco/catalog.ts';
import type { Engine } from '../../src/reco/engine.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import { parseStation, resolveStation } from '../../src/reco/stations.ts';
import { stationBatch } from '../../src/radio/batch.ts';
import { Stat } from './api.ts';
import { cooccurrence } from './baselines.ts';
import { bucket, sessionListens, splitOf, type Session, type SplitName } from './data.ts';
import { ndcg, rPrecision } from './metrics.ts';

const LIST = 100;
const MIN_LENGTH = 35;

/** A user station's first batch of 20 for `userId`, as the API gives it, with `recent` as the listener's recent tracks: the track ids. */
export function userStation(r: Recommender, userId: string, recent: string[]): string[] {
  const resolved = resolveStation(r, parseStation('user:me')!, r.peekProfile(userId));
  return stationBatch(r, {
    userId,
    stationId: 'user:me',
    resolved,
    preferences: {},
    count: 20,
    queueTracks: [],
    salt: 'user:me:1765000000000',
    stationHistory: [],
    userRecent: recent,
  }).map((i) => i.trackId);
}

export function buildServerLike(mpd: { playlists: PlaylistRecord[]; tracks: TrackMeta[] }, sessions: Session[], split: SplitName): Recommender {
  const { train } = splitOf(split);
  const reco = new Recommender();
  for (const m of mpd.tracks) reco.engine.catalog.upsert(m);
  for (const p of mpd.playlists) if (train(bucket(`mpd:${p.id}`))) reco.engine.addPlaylist(p.id, p.name, p.tracks);
  for (const s of sessions) {
    if (!train(bucket(`session:${s.id}`))) continue;
    for (const e of sessionListens(s)) reco.ingest(e);
  }
  reco.compact();
  reco.engine.catalog.popular(1);
  return reco;
}

function station(reco: Recommender, userId: string, stationId: string, counts: number[], recent: string[] = []): string[] {
  const resolved = resolveStation(reco, parseStation(stationId)!, reco.peekProfile(userId));
  let out: string[] = [];
  for (const [b, count] of counts.entries()) {
    const items = stationBatch(reco, {
      userId,
      stationId,
      resolved,
      preferences: {},
      count,
      queueTracks: out,
      salt: b === 0 ? `${stationId}:1765000000000` : `q-${userId}:${b}`,
      stationHistory: out,
      userRecent: [...recent, ...out],
    });
    out = out.concat(items.map((i) => i.trackId));
  }
  return out;
}

export function continuationStations(reco: Recommender, coEngine: Engine, mpd: { playlists: PlaylistRecord[] }, split: SplitName, limit: number, ks = [5, 25]) {
  const { test } = splitOf(split);
  const held = mpd.playlists.filter((p) => test(bucket(`mpd:${p.id}`)) && new Set(p.tracks).size >= MIN_LENGTH).slice(0, limit);
  const cat = coEngine.catalog;
  const rows: { k: number; method: string; rprec: Stat; ndcg: Stat }[] = [];
  for (const k of ks) {
    const st = { k, method: 'playlist station', rprec: new Stat(), ndcg: new Stat() };
    const co = { k, method: 'co-occurrence', rprec: new Stat(), ndcg: new Stat() };
    for (const p of held) {
      const uniq = [...new Set(p.tracks)];
      const seeds = uniq.slice(0, k);
      const relevant = new Set(uniq.slice(k));
      const plId = `eval-${p.id}-k${k}`;
      reco.engine.addPlaylist(plId, p.name, seeds);
      const list = station(reco, `eval-st-${p.id}-${k}`, `playlist:${plId}`, [20, 50, 30]).slice(0, LIST);
      reco.engine.removePlaylist(plId);
      st.rprec.add(rPrecision(list, relevant));
      st.ndcg.add(ndcg(list, relevant));
      const idx = seeds.map((id) => cat.ensure(id));
      const base = cooccurrence(coEngine, idx, LIST, new Set(idx)).map((t) => cat.id(t));
      co.rprec.add(rPrecision(base, relevant));
      co.ndcg.add(ndcg(base, relevant));
    }
    rows.push(co, st);
  }
  return { rows, held: held.length };
}

/** A held-out session's next-track case: a prefix (its length from the session's id) and the first track after it that was not skipped; null when there is none. */
export function nextTrackCase(s: Session): { prefix: string[]; target: string } | null {
  const t = 1 + (bucket(`prefix:${s.id}`) % (s.tracks.length - 1));
  let j = t;
  while (j < s.tracks.length && s.skipped[j]) j++;
  if (j >= s.tracks.length) return null;
  return { prefix: s.tracks.slice(0, t), target: s.tracks[j]! };
}

/** Plays a session's prefix into the recommender as `userId`'s own, one every 4 minutes from `base`; skips flagged only `withSkips`. */
export function ingestPrefix(reco: Recommender, userId: string, s: Session, prefix: readonly string[], withSkips: boolean, base: number): void {
  for (const [i, trackId] of prefix.entries()) {
    const skip = withSkips && s.skipped[i]!;
    reco.ingest({
      userId,
      sessionId: null,
      trackId,
      action: skip ? 'skip' : 'complete',
      position: skip ? 20 : 200,
      source: null,
      contextType: s.contextTypes[i] === 'unknown' ? null : (s.contextTypes[i] ?? null),
      hour: 12,
      context: null,
      occurredAt: new Date(base + i * 240_000).toISOString(),
    });
  }
}

/** Records, per method, whether `target` is in the first `k` of a ranking (HR@k; the Stat's mean). */
export function hitTally(acc: Map<string, Stat>, k: number): (method: string, ranked: string[], target: string) => void {
  return (method, ranked, target) => {
    let s = acc.get(method);
    if (!s) acc.set(method, (s = new Stat()));
    s.add(ranked.slice(0, k).includes(target) ? 1 : 0);
  };
}

export function sessionStations(reco: Recommender, coEngine: Engine, sessions: Session[], split: SplitName, limit: number) {
  const { test } = splitOf(split);
  const held = sessions.filter((s) => test(bucket(`session:${s.id}`))).slice(0, limit);
  const K = 10;
  const acc = new Map<string, Stat>();
  const put = hitTally(acc, K);
  const cat = coEngine.catalog;
  const base = Date.parse('2026-01-01T12:00:00Z');
  for (const s of held) {
    const c = nextTrackCase(s);
    if (!c) continue;
    const { prefix, target } = c;
    for (const flags of [true, false]) {
      const userId = `eval-s-${s.id}-${flags ? 'skips' : 'plays'}`;
      ingestPrefix(reco, userId, s, prefix, flags, base);
      put(flags ? 'user station, with skip flags' : 'user station, without', station(reco, userId, 'user:me', [20], prefix), target);
    }
    const idx = prefix.map((id) => cat.ensure(id));
    put(
      'session co-occurrence',
      cooccurrence(coEngine, idx, K, new Set(idx)).map((x) => cat.id(x)),
      target,
    );
  }
  return { rows: [...acc].map(([method, hit]) => ({ method, hit })) };
}
