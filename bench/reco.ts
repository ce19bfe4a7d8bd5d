// bench:reco — the recommender the way a server runs it, on all of ../shared/data:
// import both data sets with the CLI importers into a fresh SQLite file, build the
// in-memory engine from the store (what a server does at start), then time radio
// batches in process and POST /radio/{stationId}/queue over HTTP on a real server
// process. Run by hand, niced: `nice -n 10 npm run bench:reco`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPlaylists, importSessions, importTracks, progress } from '../src/catalog/cli.ts';
import type { ReadProgress } from '../src/catalog/formats.ts';
import { openSqliteStore, sqliteStorage } from '../src/stores.ts';
import { CatalogSync } from '../src/catalog/sync.ts';
import { stationBatch } from '../src/radio/batch.ts';
import { Recommender } from '../src/reco/recommender.ts';
import { parseStation, resolveStation } from '../src/reco/stations.ts';
import { DATA_DIR } from './eval/data.ts';
import { percentile } from './eval/metrics.ts';
import { client, mintToken, startServer } from '../test/helpers/server.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const dir = mkdtempSync(join(tmpdir(), 'qs-bench-reco-'));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
try {
  const store = openSqliteStore(join(dir, 'queue.db'));
  await store.migrate();
  const { catalog } = sqliteStorage(store).features();
  const p = (): ReadProgress => ({ bytes: 0, total: 0 });
  let t = performance.now();
  const pt = p();
  const tr = await importTracks(catalog, join(DATA_DIR, 'mpd-subset/tracks.csv.gz'), 'csv', progress('tracks', pt), pt);
  const pp = p();
  const pl = await importPlaylists(catalog, join(DATA_DIR, 'mpd-subset/playlists.jsonl.gz'), progress('playlists', pp), pp);
  const ps = p();
  const se = await importSessions(catalog, join(DATA_DIR, 'spotify-sessions/sessions.csv.gz'), progress('plays', ps), ps);
  const importMs = performance.now() - t;
  process.stderr.write('\n');

  const h0 = heapMb();
  t = performance.now();
  const reco = new Recommender();
  const sync = new CatalogSync(catalog, reco, { outOfOrder: false });
  await sync.ready;
  const buildMs = performance.now() - t;
  const engineMb = heapMb() - h0;
  const rssMb = process.memoryUsage().rss / 2 ** 20;

  const ids = reco.engine.catalog.ids;
  const times: number[] = [];
  for (let i = 0; i < 1500; i++) {
    const k = (i * 7919) % tr.read;
    const id = i % 3 === 0 ? `track:${ids[k]}` : i % 3 === 1 ? `artist:${reco.engine.catalog.artistName(k) ?? 'x'}` : `playlist:${(i * 31) % pl}`;
    const st = performance.now();
    const resolved = resolveStation(reco, parseStation(id)!, null);
    stationBatch(reco, { userId: 'bench', stationId: id, resolved, preferences: {}, count: 20, queueTracks: [], salt: `b${i}` });
    times.push(performance.now() - st);
  }
  await store.close();

  // A real server on that file: listening, then ready (the recommender built; requests
  // before that are 503 + Retry-After), its memory then and a minute later, then POST
  // /radio/.../queue one at a time.
  const status = (pid: number) => {
    const x = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(x)?.[1] ?? 0) / 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  };
  t = performance.now();
  const server = await startServer({ dataDir: dir, env: { LOG_LEVEL: 'error' }, waitReady: false });
  const listenMs = performance.now() - t;
  const anon = client(server.url);
  const early = await anon('GET', '/readyz');
  let ready = early;
  while (ready.status !== 200) {
    await new Promise((r) => setTimeout(r, 100));
    ready = await anon('GET', '/readyz');
  }
  const readyMs = performance.now() - t;
  const atReady = status(server.proc.pid!);
  await new Promise((r) => setTimeout(r, 60_000));
  const minuteLater = status(server.proc.pid!);
  const call = client(server.url, await mintToken(server, 'bench'));
  const first = await call('POST', `/radio/${encodeURIComponent(`track:${ids[0]}`)}/queue`, { userId: 'me' });
  const http: number[] = [];
  for (let i = 1; i <= 300; i++) {
    const st = performance.now();
    const r = await call('POST', `/radio/${encodeURIComponent(`track:${ids[(i * 7919) % tr.read]}`)}/queue`, { userId: 'me' });
    if (r.status !== 201) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
    http.push(performance.now() - st);
  }
  const serverRss = status(server.proc.pid!).hwm;
  await server.stop();

  console.log(`## bench:reco (SQLite, all of ../shared/data)\n`);
  console.log(
    `- import (CLI importers): ${tr.read.toLocaleString('en')} tracks, ${pl.toLocaleString('en')} playlists, ${se.plays.toLocaleString('en')} plays in ${se.sessions.toLocaleString('en')} sessions: ${s(importMs)}`,
  );
  console.log(`- engine built from the store: ${s(buildMs)}, +${engineMb.toFixed(0)} MB heap (process RSS ${rssMb.toFixed(0)} MB)`);
  console.log(
    `- one radio batch of 20 in process (${times.length} track / artist / playlist stations): p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms, max ${Math.max(...times).toFixed(1)} ms`,
  );
  const b = ready.body.recommender;
  console.log(
    `- server process: listening after ${s(listenMs)} (/readyz then ${early.status}${early.status === 503 ? `, Retry-After ${early.headers.get('retry-after')}` : ''}); ready after ${s(readyMs)} (recommender built in ${s(b.ms)}: ${b.tracks.toLocaleString('en')} tracks, ${b.baskets.toLocaleString('en')} baskets; heap ${b.heapMb} MB of ${b.heapTotalMb} MB, external ${b.externalMb} MB)`,
  );
  console.log(
    `- server RSS when ready ${atReady.rss.toFixed(0)} MB, a minute later ${minuteLater.rss.toFixed(0)} MB; peak so far ${minuteLater.hwm.toFixed(0)} MB; first radio queue: status ${first.status}`,
  );
  console.log(
    `- POST /radio/{stationId}/queue over HTTP (creates the queue: 21 events), ${http.length} in a row: p50 ${percentile(http, 50).toFixed(1)} ms, p99 ${percentile(http, 99).toFixed(1)} ms; server peak RSS ${serverRss.toFixed(0)} MB`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
