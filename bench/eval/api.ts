// The evaluation through the API (issue 12): a real server process on a SQLite file that
// holds the training split of both data sets (written with the catalog store, as the
// importers do), built the way a server builds at start; every figure comes from the
// answers of the HTTP endpoints a client calls. Baselines are computed in process on the
// same training split and cut to the same list lengths.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlaylistRecord } from '../../src/catalog/formats.ts';
import { openSqliteStore, sqliteStorage } from '../../src/stores.ts';
import type { TrackMeta } from '../../src/reco/catalog.ts';
import type { Engine } from '../../src/reco/engine.ts';
import { benchEntry, client, startServer, type RunningServer } from '../../test/helpers/server.ts';
import { cooccurrence, popularity } from './baselines.ts';
import { bucket, sessionListens, splitOf, type Session, type SplitName } from './data.ts';
import { clicks, ndcg, rPrecision } from './metrics.ts';

/** Tracks a listener gets from a station or an extend in the continuation task. */
export const LIST = 100;
export const SEED_COUNTS = [1, 5, 10, 25];
const MIN_LENGTH = 35;

/** Mean and standard error of a sample. */
export class Stat {
  readonly xs: number[] = [];
  add(x: number): void {
    this.xs.push(x);
  }
  get mean(): number {
    return this.xs.reduce((s, x) => s + x, 0) / Math.max(1, this.xs.length);
  }
  get se(): number {
    const n = this.xs.length;
    if (n < 2) return 0;
    const m = this.mean;
    return Math.sqrt(this.xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1) / n);
  }
  /** Mean difference to another sample over the same queries, with its standard error. */
  minus(o: Stat): { mean: number; se: number } {
    const d = new Stat();
    this.xs.forEach((x, i) => {
      d.add(x - o.xs[i]!);
    });
    return { mean: d.mean, se: d.se };
  }
}

export interface EvalServer {
  server: RunningServer;
  admin: ReturnType<typeof client>;
  user(id: string): Promise<ReturnType<typeof client>>;
  /** What /readyz reported: build time and memory once built. */
  built: { ms: number; rssMb: number; heapMb: number; tracks: number; baskets: number };
  startMs: number;
  /** How the server was started: as `npm start` does, and whether Node's compile cache was warm (see startEvalServer). */
  started: string;
  peakRssMb(): number;
  /** Stops the server; how many modules it compiled itself ('' when started from src: see benchEntry). */
  close(): Promise<string>;
}

/** Writes the training split into a fresh SQLite file and starts a server on it. */
export async function startEvalServer(
  mpd: { playlists: PlaylistRecord[]; tracks: TrackMeta[] },
  sessions: Session[],
  split: SplitName,
  log: (s: string) => void,
): Promise<EvalServer> {
  const dir = mkdtempSync(join(tmpdir(), 'qs-eval-'));
  const { train } = splitOf(split);
  const store = openSqliteStore(join(dir, 'queue.db'));
  await store.migrate();
  const { catalog } = sqliteStorage(store).features();
  const now = new Date().toISOString();
  for (let i = 0; i < mpd.tracks.length; i += 2000) await catalog.upsertTracks(mpd.tracks.slice(i, i + 2000), now);
  const pls = mpd.playlists.filter((p) => train(bucket(`mpd:${p.id}`)));
  for (let i = 0; i < pls.length; i += 500)
    await catalog.upsertPlaylists(
      pls.slice(i, i + 500).map((p) => ({ id: p.id, name: p.name, followers: null, tracks: p.tracks })),
      now,
    );
  let batch: Parameters<typeof catalog.appendEvents>[0] = [];
  for (const s of sessions) {
    if (!train(bucket(`session:${s.id}`))) continue;
    batch.push(...sessionListens(s));
    if (batch.length >= 5000) {
      await catalog.appendEvents(batch);
      batch = [];
    }
  }
  if (batch.length) await catalog.appendEvents(batch);
  await store.close();
  log(`eval server data: ${mpd.tracks.length} tracks, ${pls.length} training playlists, training sessions written`);
  // Started as `npm start` does (no TypeScript stripper in the server, issue 24 round 7);
  // EVAL_SERVER_ENTRY=src: `node src/cli.ts serve`.
  const how = await benchEntry(process.env.EVAL_SERVER_ENTRY);
  const t0 = performance.now();
  const server = await startServer({ dataDir: dir, env: { LOG_LEVEL: 'warn' }, entry: how.entry });
  const startMs = performance.now() - t0;
  const admin = client(server.url, server.adminKey);
  const ready = await admin('GET', '/readyz');
  const users = new Map<string, ReturnType<typeof client>>();
  return {
    server,
    admin,
    startMs,
    started: how.started,
    built: ready.body.recommender,
    async user(id: string) {
      let c = users.get(id);
      if (!c) {
        const r = await admin('POST', '/auth/tokens', { userId: id });
        if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
        users.set(id, (c = client(server.url, r.body.token)));
      }
      return c;
    },
    peakRssMb: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
      return how.compiled();
    },
  };
}

function must(r: { status: number; body: any }, want: number, what: string): any {
  if (r.status !== want) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** Runs `fn` over `items` with `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export interface ContinuationRow {
  k: number;
  method: string;
  rprec: Stat;
  ndcg: Stat;
  clicks: Stat;
}

/**
 * Playlist continuation through the API: the first K tracks of a held-out playlist go in
 * as a catalog playlist; the playlist station (POST /radio/playlist:<id>/queue, then POST
 * /queues/{id}/extend) and the extend of a user queue holding those K tracks (POST
 * /queues then POST /queues/{id}/extend) each give LIST tracks to a fresh listener.
 */
export async function continuationOverApi(
  es: EvalServer,
  engine: Engine,
  mpd: { playlists: PlaylistRecord[] },
  split: SplitName,
  limit: number,
  log: (s: string) => void,
) {
  const { test } = splitOf(split);
  const held = mpd.playlists.filter((p) => test(bucket(`mpd:${p.id}`)) && new Set(p.tracks).size >= MIN_LENGTH).slice(0, limit);
  const rows = new Map<string, ContinuationRow>();
  const row = (k: number, method: string) => {
    const key = `${k}\u0000${method}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { k, method, rprec: new Stat(), ndcg: new Stat(), clicks: new Stat() }));
    return r;
  };
  // Filled per (k, playlist index) so paired statistics line up whatever the completion order.
  const results = new Map<string, string[]>();
  const times: number[] = [];
  const cat = engine.catalog;
  // By K, then playlist: the jobs running at once are for different playlists. (Ordered by
  // playlist, the K = 10 and K = 25 catalog playlists and user queues of the same playlist,
  // which hold the held-out tracks of its K = 1 and 5 queries, were in the engine while
  // those ran: co-occurrence data leaking the answers, issue 24.)
  const jobs = SEED_COUNTS.flatMap((k) => held.map((p, pi) => ({ p, pi, k })));
  let done = 0;
  await pool(jobs, 3, async ({ p, pi, k }) => {
    const uniq = [...new Set(p.tracks)];
    const seeds = uniq.slice(0, k);
    const plId = `eval-${p.id}-k${k}`;
    must(await es.admin('POST', '/catalog/playlists', { playlists: [{ id: plId, name: p.name, tracks: seeds }] }), 200, 'playlist');
    const listener = await es.user(`eval-st-${p.id}-${k}`);
    let t = performance.now();
    const st = must(await listener('POST', `/radio/${encodeURIComponent(`playlist:${plId}`)}/queue`, { userId: 'me' }), 201, 'station');
    let station: string[] = st.items.map((i: any) => i.trackId);
    for (const count of [50, 30])
      station = station.concat(
        must(await listener('POST', `/queues/${st.queue.id}/extend`, { count }), 200, 'station extend').items.map((i: any) => i.trackId),
      );
    times.push(performance.now() - t);
    must(await listener('DELETE', `/queues/${st.queue.id}`), 200, 'delete');
    must(await es.admin('DELETE', `/catalog/playlists/${encodeURIComponent(plId)}`), 200, 'delete playlist');
    const owner = await es.user(`eval-q-${p.id}-${k}`);
    t = performance.now();
    const q = must(await owner('POST', '/queues', { name: p.name, tracks: seeds }), 201, 'queue');
    let ext: string[] = [];
    for (const count of [50, 50])
      ext = ext.concat(must(await owner('POST', `/queues/${q.queue.id}/extend`, { count }), 200, 'queue extend').items.map((i: any) => i.trackId));
    times.push(performance.now() - t);
    // A user queue is co-occurrence data: this one holds our own output, so it goes.
    must(await owner('DELETE', `/queues/${q.queue.id}`), 200, 'delete');
    results.set(`${k}:${pi}:station`, station.slice(0, LIST));
    results.set(`${k}:${pi}:extend`, ext.slice(0, LIST));
    if (++done % 100 === 0) log(`continuation over the API: ${done} / ${jobs.length}`);
  });
  // Issue 24: one listener's stations in a row on the same day. Each listener starts DAY
  // playlist stations (K = DAY_K) one after the other, each played as above (100 tracks);
  // the n-th is compared with the same playlist's station for a fresh listener started right
  // after it (not with the station of the main pass: the engine has moved on since).
  const day: { n: number; rprec: number; ndcg: number; freshRprec: number; freshNdcg: number }[] = [];
  const groups = Array.from({ length: Math.ceil(held.length / DAY) }, (_, g) => g);
  await pool(groups, 3, async (g) => {
    const listener = await es.user(`eval-day-${g}`);
    for (let pi = g * DAY; pi < Math.min(held.length, (g + 1) * DAY); pi++) {
      const p = held[pi]!;
      const seeds = [...new Set(p.tracks)].slice(0, DAY_K);
      const plId = `eval-day-${p.id}`;
      must(await es.admin('POST', '/catalog/playlists', { playlists: [{ id: plId, name: p.name, tracks: seeds }] }), 200, 'playlist');
      const play = async (who: typeof listener) => {
        const st = must(await who('POST', `/radio/${encodeURIComponent(`playlist:${plId}`)}/queue`, { userId: 'me' }), 201, 'station');
        let out: string[] = st.items.map((i: any) => i.trackId);
        for (const count of [50, 30])
          out = out.concat(must(await who('POST', `/queues/${st.queue.id}/extend`, { count }), 200, 'station extend').items.map((i: any) => i.trackId));
        must(await who('DELETE', `/queues/${st.queue.id}`), 200, 'delete');
        return out.slice(0, LIST);
      };
      const station = await play(listener);
      // The pair: a fresh listener's station on the same playlist, on the engine as it is now.
      const fresh = await play(await es.user(`eval-day-fresh-${p.id}`));
      must(await es.admin('DELETE', `/catalog/playlists/${encodeURIComponent(plId)}`), 200, 'delete playlist');
      const relevant = new Set([...new Set(p.tracks)].slice(DAY_K));
      day.push({
        n: pi - g * DAY + 1,
        rprec: rPrecision(station, relevant),
        ndcg: ndcg(station, relevant),
        freshRprec: rPrecision(fresh, relevant),
        freshNdcg: ndcg(fresh, relevant),
      });
    }
  });
  for (const k of SEED_COUNTS) {
    held.forEach((p, pi) => {
      const uniq = [...new Set(p.tracks)];
      const relevant = new Set(uniq.slice(k));
      const seedIdx = uniq.slice(0, k).map((id) => cat.ensure(id));
      const exclude = new Set(seedIdx);
      const lists: [string, string[]][] = [
        ['popularity', popularity(engine, LIST, exclude).map((t) => cat.id(t))],
        ['co-occurrence', cooccurrence(engine, seedIdx, LIST, exclude).map((t) => cat.id(t))],
        ['playlist station (API)', results.get(`${k}:${pi}:station`)!],
        ['extend of a user queue (API)', results.get(`${k}:${pi}:extend`)!],
      ];
      for (const [method, ranked] of lists) {
        const r = row(k, method);
        r.rprec.add(rPrecision(ranked, relevant));
        r.ndcg.add(ndcg(ranked, relevant));
        r.clicks.add(Math.min(clicks(ranked, relevant), LIST / 10 + 1));
      }
    });
  }
  return { rows: [...rows.values()], held: held.length, times, day };
}

/** Stations one listener starts in a row in the day eval (issue 24), and their seed count. */
export const DAY = 10;
export const DAY_K = 5;

/**
 * Next track through the API: a fresh listener sends a held-out session's first plays
 * (POST /users/me/history, with skip flags, or the same plays all completed), then starts
 * the user station (POST /radio/user:me/queue); a hit is the next kept track in its
 * first 10. One prefix per session, at a seeded position.
 */
export async function sessionsOverApi(es: EvalServer, engine: Engine, sessions: Session[], split: SplitName, limit: number, log: (s: string) => void) {
  const { test } = splitOf(split);
  const held = sessions.filter((s) => test(bucket(`session:${s.id}`))).slice(0, limit);
  const K = 10;
  const queries: { s: Session; t: number; target: string }[] = [];
  for (const s of held) {
    const t = 1 + (bucket(`prefix:${s.id}`) % (s.tracks.length - 1));
    let j = t;
    while (j < s.tracks.length && s.skipped[j]) j++;
    if (j < s.tracks.length) queries.push({ s, t, target: s.tracks[j]! });
  }
  const acc = new Map<string, { hit: Stat; ndcg: Stat }>();
  const put = (method: string, qi: number, ranked: string[], target: string) => {
    let m = acc.get(method);
    if (!m) acc.set(method, (m = { hit: new Stat(), ndcg: new Stat() }));
    const i = ranked.slice(0, K).indexOf(target);
    m.hit.xs[qi] = i >= 0 ? 1 : 0;
    m.ndcg.xs[qi] = i >= 0 ? 1 / Math.log2(i + 2) : 0;
  };
  const cat = engine.catalog;
  let done = 0;
  let repeats = 0;
  await pool(queries, 3, async ({ s, t, target }, qi) => {
    const prefix = s.tracks.slice(0, t);
    if (prefix.includes(target)) repeats++;
    const base = Date.now() - t * 240_000;
    for (const flags of [true, false]) {
      const listener = await es.user(`eval-s-${s.id}-${flags ? 'skips' : 'plays'}`);
      const events = prefix.map((trackId, i) => ({
        trackId,
        action: flags && s.skipped[i] ? 'skip' : 'complete',
        position: flags && s.skipped[i] ? 20 : 200,
        timestamp: new Date(base + i * 240_000).toISOString(),
        contextType: s.contextTypes[i] === 'unknown' ? undefined : s.contextTypes[i],
      }));
      must(await listener('POST', '/users/me/history', { events }), 200, 'history');
      const st = must(await listener('POST', `/radio/${encodeURIComponent('user:me')}/queue`, { userId: 'me' }), 201, 'user station');
      put(
        flags ? 'user station, with skip flags (API)' : 'user station, same plays without skip flags (API)',
        qi,
        st.items.map((i: any) => i.trackId),
        target,
      );
      must(await listener('DELETE', `/queues/${st.queue.id}`), 200, 'delete');
    }
    const idx = prefix.map((id) => cat.ensure(id));
    const exclude = new Set(idx);
    put(
      'popularity',
      qi,
      popularity(engine, K, exclude).map((x) => cat.id(x)),
      target,
    );
    put(
      'session co-occurrence',
      qi,
      cooccurrence(engine, idx, K, exclude).map((x) => cat.id(x)),
      target,
    );
    if (++done % 200 === 0) log(`sessions over the API: ${done} / ${queries.length}`);
  });
  return { rows: [...acc].map(([method, m]) => ({ method, ...m })), queries: queries.length, repeats };
}

/** Distinct tracks before the first repeat, over a station's first batch and 30 extends of 50. */
export async function radioDistinctOverApi(es: EvalServer, stations: string[]) {
  const out: { station: string; items: number; distinct: number; firstRepeat: number | null }[] = [];
  for (const [i, st] of stations.entries()) {
    const listener = await es.user(`eval-radio-${i}`);
    const q = must(await listener('POST', `/radio/${encodeURIComponent(st)}/queue`, { userId: 'me' }), 201, 'station');
    let all: string[] = q.items.map((x: any) => x.trackId);
    for (let k = 0; k < 30; k++)
      all = all.concat(must(await listener('POST', `/queues/${q.queue.id}/extend`, { count: 50 }), 200, 'extend').items.map((x: any) => x.trackId));
    const first = all.findIndex((t, j) => all.indexOf(t) < j);
    out.push({ station: st, items: all.length, distinct: new Set(first < 0 ? all : all.slice(0, first)).size, firstRepeat: first < 0 ? null : first });
  }
  return out;
}
