// bench:reco — the recommender the way a server runs it, on all of ../shared/data:
// import both data sets with the CLI importers into a fresh SQLite file, build the
// in-memory engine from the store (what a server does at start), then time radio
// batches in process and POST /radio/{stationId}/queue over HTTP on a real server
// process. Run by hand, niced: `nice -n 10 npm run bench:reco`. Then (issue 24)
// BENCH_RECO_LISTENERS (8) listeners at once for BENCH_SECONDS (30), one of them with
// 100,000 radio-history rows: POST /radio/{station}/queue, GET and POST
// /queues/{id}/extend?count=50 and POST /recommendations/queue, p50 / p99 each.
// BENCH_RECO_QUICK=1 leaves out the in-process batches and the minute's wait;
// BENCH_RECO_PROFILE=1 runs the server with --cpu-prof (the profile's path is printed);
// BENCH_RECO_NODE_ARGS adds flags for the server's node (after those `npm start` uses).
// The server is started as `npm start` does (bin/queue-service.js, Node's compile cache
// warmed first, so no TypeScript stripper in the process: issue 24 round 7);
// BENCH_RECO_ENTRY=src starts `node src/cli.ts serve` instead, as the tests do.
// The listeners' lines end with the server's CPU per call (user + system time of the
// server process over the listeners' phase, /proc/PID/stat, over the calls made): a figure
// that depends less than the latencies on how much of a shared machine the run got.
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
import { benchEntry, client, mintToken, SERVER_NODE_ARGS, startServer } from '../test/helpers/server.ts';

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

  const ids = Array.from({ length: reco.engine.catalog.size }, (_, t) => reco.engine.catalog.id(t));
  const quick = process.env.BENCH_RECO_QUICK === '1';
  const times: number[] = [];
  for (let i = 0; i < (quick ? 30 : 1500); i++) {
    const k = (i * 7919) % tr.read;
    const id = i % 3 === 0 ? `track:${ids[k]}` : i % 3 === 1 ? `artist:${reco.engine.catalog.artistName(k) ?? 'x'}` : `playlist:${(i * 31) % pl}`;
    const st = performance.now();
    const resolved = resolveStation(reco, parseStation(id)!, null);
    stationBatch(reco, { userId: 'bench', stationId: id, resolved, preferences: {}, count: 20, queueTracks: [], salt: `b${i}` });
    times.push(performance.now() - st);
  }
  // The heavy listener: 2,000 stations' worth of radio history over the last 80 days.
  const heavyRows = 100_000;
  const ins = store.db.prepare('INSERT OR IGNORE INTO radio_history (queue_id, track_id, user_id, added_at) VALUES (?, ?, ?, ?)');
  const now0 = Date.now();
  store.db.transaction(() => {
    for (let i = 0; i < heavyRows; i++) {
      ins.run(`old-${Math.floor(i / 50)}`, ids[(i * 7919) % ids.length]!, 'heavy', new Date(now0 - 80 * 86_400_000 + i * 69_000).toISOString());
    }
  })();
  await store.close();

  // A real server on that file: listening, then ready (the recommender built; requests
  // before that are 503 + Retry-After), its memory then and a minute later, then POST
  // /radio/.../queue one at a time.
  const status = (pid: number) => {
    const x = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(x)?.[1] ?? 0) / 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  };
  const profileDir = process.env.BENCH_RECO_PROFILE === '1' ? mkdtempSync(join(tmpdir(), 'qs-bench-reco-prof-')) : null;
  const nodeArgs = [
    ...SERVER_NODE_ARGS,
    ...(process.env.BENCH_RECO_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ];
  const how = await benchEntry(process.env.BENCH_RECO_ENTRY, nodeArgs);
  t = performance.now();
  const server = await startServer({
    entry: how.entry,
    dataDir: dir,
    env: {
      LOG_LEVEL: 'error',
      // BENCH_RECO_SERVER_ENV="K=V K=V": settings for the server (e.g. QUEUE_CACHE_QUEUES).
      ...Object.fromEntries(
        (process.env.BENCH_RECO_SERVER_ENV ?? '')
          .split(' ')
          .filter(Boolean)
          .map((kv) => kv.split('=', 2) as [string, string]),
      ),
    },
    waitReady: false,
    nodeArgs,
  });
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
  if (!quick) await new Promise((r) => setTimeout(r, 60_000));
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
  const afterSerial = status(server.proc.pid!);
  // Issue 24: listeners at once, one of them with a long history.
  const listeners = Number(process.env.BENCH_RECO_LISTENERS ?? 8);
  const seconds = Number(process.env.BENCH_SECONDS ?? 30);
  const lat: Record<string, number[]> = { radio: [], 'GET extend': [], 'POST extend': [], 'recommendations/queue': [] };
  const heavyLat: number[] = [];
  const contexts = ['discover_weekly', 'daily_mix'];
  const until = performance.now() + seconds * 1000;
  const timed = async (what: string, heavy: boolean, f: () => Promise<{ status: number; body: any }>, want: number) => {
    const st = performance.now();
    const r = await f();
    const ms = performance.now() - st;
    if (r.status !== want) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    lat[what]!.push(ms);
    if (heavy) heavyLat.push(ms);
    return r.body;
  };
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const serverCpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in ticks of 10 ms
  };
  const cpu0 = serverCpuMs(server.proc.pid!);
  const wall0 = performance.now();
  await Promise.all(
    Array.from({ length: listeners }, async (_, n) => {
      const user = n === 0 ? 'heavy' : `listener-${n}`;
      const c = client(server.url, await mintToken(server, user));
      for (let i = 0; performance.now() < until; i++) {
        const k = (n * 104_729 + i * 7919) % tr.read;
        const station = i % 2 === 0 ? `track:${ids[k]}` : `playlist:${(n * 131 + i * 31) % pl}`;
        const created = await timed('radio', n === 0, () => c('POST', `/radio/${encodeURIComponent(station)}/queue`, { userId: 'me' }), 201);
        await timed('GET extend', n === 0, () => c('GET', `/queues/${created.queue.id}/extend?count=50`), 200);
        await timed('POST extend', n === 0, () => c('POST', `/queues/${created.queue.id}/extend?count=50`, {}), 200);
        await timed(
          'recommendations/queue',
          n === 0,
          () => c('POST', '/recommendations/queue', { context: contexts[i % contexts.length], userId: 'me', seedTracks: [ids[k]] }),
          201,
        );
      }
    }),
  );
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const cpuMs = serverCpuMs(server.proc.pid!) - cpu0;
  const wallMs = performance.now() - wall0;
  const serverRss = status(server.proc.pid!).hwm;
  const endRss = status(server.proc.pid!).rss;
  await server.stop();
  const serverCompiled = how.compiled();

  console.log(`## bench:reco (SQLite, all of ../shared/data)\n`);
  console.log(
    `- import (CLI importers): ${tr.read.toLocaleString('en')} tracks, ${pl.toLocaleString('en')} playlists, ${se.plays.toLocaleString('en')} plays in ${se.sessions.toLocaleString('en')} sessions: ${s(importMs)}`,
  );
  console.log(`- engine built from the store: ${s(buildMs)}, +${engineMb.toFixed(0)} MB heap (process RSS ${rssMb.toFixed(0)} MB)`);
  console.log(
    `- one radio batch of 20 in process (${times.length} track / artist / playlist stations): p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms, max ${Math.max(...times).toFixed(1)} ms`,
  );
  const b = ready.body.recommender;
  console.log(`- server ${how.started}${serverCompiled ? `; ${serverCompiled}` : ''}`);

  console.log(
    `- server process: listening after ${s(listenMs)} (/readyz then ${early.status}${early.status === 503 ? `, Retry-After ${early.headers.get('retry-after')}` : ''}); ready after ${s(readyMs)} (recommender built in ${s(b.ms)}: ${b.tracks.toLocaleString('en')} tracks, ${b.baskets.toLocaleString('en')} baskets; heap ${b.heapMb} MB of ${b.heapTotalMb} MB, external ${b.externalMb} MB)`,
  );
  console.log(
    `- server RSS when ready ${atReady.rss.toFixed(0)} MB, a minute later ${minuteLater.rss.toFixed(0)} MB; peak so far ${minuteLater.hwm.toFixed(0)} MB; first radio queue: status ${first.status}`,
  );
  console.log(
    `- POST /radio/{stationId}/queue over HTTP (creates the queue: 21 events), ${http.length} in a row: p50 ${percentile(http, 50).toFixed(1)} ms, p99 ${percentile(http, 99).toFixed(1)} ms; server peak RSS ${serverRss.toFixed(0)} MB`,
  );
  console.log(
    `- server RSS after the serial calls ${afterSerial.rss.toFixed(0)} MB (peak ${afterSerial.hwm.toFixed(0)} MB); after the listeners: peak ${serverRss.toFixed(0)} MB`,
  );
  console.log(`\n### ${listeners} listeners at once for ${seconds} s (load average ${loadBefore} before, ${loadAfter} after)\n`);
  for (const [what, xs] of Object.entries(lat)) {
    console.log(
      `- ${what}: ${xs.length} calls, p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(0)} ms`,
    );
  }
  console.log(
    `- the listener with ${heavyRows.toLocaleString('en')} history rows, all calls: p50 ${percentile(heavyLat, 50).toFixed(1)} ms, p99 ${percentile(heavyLat, 99).toFixed(1)} ms`,
  );
  const calls = Object.values(lat).reduce((n, xs) => n + xs.length, 0);
  console.log(
    `- server CPU over the listeners: ${(cpuMs / calls).toFixed(2)} ms per call (${calls} calls; ${((100 * cpuMs) / wallMs).toFixed(0)}% of a core); server RSS at the end ${endRss.toFixed(0)} MB`,
  );
  if (profileDir) console.log(`- server CPU profile in ${profileDir}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
