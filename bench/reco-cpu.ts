// bench:reco-cpu — the CPU of one radio / mix batch in process, on all of ../shared/data,
// for the calls bench:reco's listeners make (issue 24): a track or playlist station's
// first 20, two extends of 50 on it (its queue and history so far), and a discover_weekly
// or daily_mix of 30. Prints p50 / p99 / mean per kind and a checksum of every answer, so
// a change meant to be pure speed can show it answers the same. The SQLite file is kept
// (BENCH_RECO_DB, default under the temp dir) so later runs skip the import.
// `QS_DATA_DIR=../shared/data nice -n 10 node --expose-gc bench/reco-cpu.ts`; knobs
// Times are CPU time of the process per call. BENCH_ROUNDS (listener rounds, default 60), BENCH_RECO_DB, BENCH_RECO_DUMP.
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPlaylists, importSessions, importTracks, progress } from '../src/catalog/cli.ts';
import type { ReadProgress } from '../src/catalog/formats.ts';
import { CatalogSync } from '../src/catalog/sync.ts';
import { generateBatch, stationBatch, type BatchItem } from '../src/radio/batch.ts';
import { Recommender } from '../src/reco/recommender.ts';
import { parseStation, type ResolvedStation, resolveStation } from '../src/reco/stations.ts';
import { openSqliteStore, sqliteStorage } from '../src/stores.ts';
import { DATA_DIR } from './eval/data.ts';
import { percentile } from './eval/metrics.ts';

const file = process.env.BENCH_RECO_DB ?? join(tmpdir(), 'qs-bench-reco-cpu.db');
const fresh = !existsSync(file);
const store = openSqliteStore(file);
await store.migrate();
const { catalog } = sqliteStorage(store).features();
if (fresh) {
  const p = (): ReadProgress => ({ bytes: 0, total: 0 });
  const pt = p();
  await importTracks(catalog, join(DATA_DIR, 'mpd-subset/tracks.csv.gz'), 'csv', progress('tracks', pt), pt);
  const pp = p();
  await importPlaylists(catalog, join(DATA_DIR, 'mpd-subset/playlists.jsonl.gz'), progress('playlists', pp), pp);
  const ps = p();
  await importSessions(catalog, join(DATA_DIR, 'spotify-sessions/sessions.csv.gz'), progress('plays', ps), ps);
  process.stderr.write('\n');
}
let t0 = performance.now();
const reco = new Recommender();
const sync = new CatalogSync(catalog, reco, { outOfOrder: false });
await sync.ready;
const buildMs = performance.now() - t0;
const cat = reco.engine.catalog;
const ids = Array.from({ length: cat.size }, (_, t) => cat.id(t));
let playlists = 0;
for (let b = 0; b < reco.engine.baskets.size; b++) if (reco.engine.baskets.keyOf(b)!.startsWith('playlist:')) playlists++;

const rounds = Number(process.env.BENCH_ROUNDS ?? 60);
const lat: Record<string, number[]> = {};
const sum = createHash('sha1');
const dump: string[] = [];
/** CPU milliseconds since `from` (process.cpuUsage: steadier than the wall clock on a shared machine). */
const cpuMs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};
const record = (what: string, ms: number, items: BatchItem[]) => {
  (lat[what] ??= []).push(ms);
  dump.push(items.map((i) => i.trackId).join(' '));
  for (const i of items) sum.update(`${i.trackId}|${i.reason.text}\n`);
};
const recent = new Map<number, string[]>();
t0 = performance.now();
for (let i = 0; i < rounds; i++) {
  for (let n = 0; n < 8; n++) {
    const user = `listener-${n}`;
    const k = (n * 104_729 + i * 7919) % ids.length;
    const stationId = i % 2 === 0 ? `track:${ids[k]}` : `playlist:${(n * 131 + i * 31) % playlists}`;
    const userRecent = (recent.get(n) ?? []).slice(-200);
    let resolved: ResolvedStation;
    try {
      resolved = resolveStation(reco, parseStation(stationId)!, null);
    } catch {
      continue;
    }
    const o = { userId: user, stationId, resolved, preferences: {}, salt: `${stationId}:${i}` };
    let st = process.cpuUsage();
    const first = stationBatch(reco, { ...o, count: 20, queueTracks: [], userRecent });
    record(`radio ${stationId.split(':')[0]}`, cpuMs(st), first);
    const queue = first.map((x) => x.trackId);
    for (const e of [1, 2]) {
      st = process.cpuUsage();
      const more = stationBatch(reco, { ...o, count: 50, queueTracks: queue, stationHistory: queue, userRecent, salt: `q${n}:${i}:${e}` });
      record(`extend ${e} ${stationId.split(':')[0]}`, cpuMs(st), more);
      queue.push(...more.map((x) => x.trackId));
    }
    recent.set(n, [...userRecent, ...queue]);
    // A mix: discover_weekly (seed x2, nothing heard, familiarity 0) or daily_mix (the seed, familiarity 0.3).
    const seed = cat.lookup(ids[k]!)!;
    st = process.cpuUsage();
    const mix = generateBatch(reco, {
      seeds: { tracks: new Map([[seed, 2]]) },
      label: 'mix',
      count: 30,
      profile: reco.peekProfile(user),
      queueTracks: [],
      exclude: new Set(i % 2 === 0 ? [seed] : []),
      salt: `mix:${n}:${i}`,
      preferences: { familiarity: i % 2 === 0 ? 0 : 0.3 },
    });
    record('mix', cpuMs(st), mix);
  }
}
const allMs = performance.now() - t0;
// BENCH_RECO_DUMP=file writes every answer's tracks, a line a call (to compare two versions).
if (process.env.BENCH_RECO_DUMP) writeFileSync(process.env.BENCH_RECO_DUMP, `${dump.join('\n')}\n`);
await store.close();
const all = Object.values(lat).flat();
console.log(
  `## bench:reco-cpu (${cat.size.toLocaleString('en')} tracks, ${reco.engine.baskets.live.toLocaleString('en')} baskets; built in ${(buildMs / 1000).toFixed(1)} s)\n`,
);
for (const [what, xs] of Object.entries(lat)) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `- ${what}: ${xs.length} calls, p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, mean ${mean.toFixed(2)} ms of CPU`,
  );
}
console.log(`- all: ${all.length} calls in ${(allMs / 1000).toFixed(1)} s, mean ${(allMs / all.length).toFixed(2)} ms`);
console.log(`- checksum of the answers: ${sum.digest('hex').slice(0, 16)}`);
