// `npm run eval` — the offline evaluation of the recommender on the real data in
// ../shared/data (read in place), on a fixed development split (a seeded hash of the
// playlist / session id; see data.ts). Prints Markdown tables for the README.
// By default it measures through the API (issue 12): a real server process on the
// training split, and the HTTP endpoints a client calls (see api.ts); the context model
// is evaluated in process. Options: --split dev|tune, --only a,b (api, context, and the
// in-process engine sections continuation, sessions, radio), --playlists N and --sessions
// N (held-out queries through the API; defaults 200 and 1000), --step N (in-process
// sessions: every Nth prefix). Takes minutes; run it niced.
import { parseArgs } from 'node:util';
import { prepareContinuationFrom, runContinuation } from './continuation.ts';
import { contextEval, contextTrackEval } from './context.ts';
import { bucket, DATA_DIR, loadMpd, loadSessions, type SplitName } from './data.ts';
import { loadavg as osLoad } from 'node:os';
import { radioBench } from './radio.ts';
import { prepareSessions, runSessions } from './sessions.ts';
import { buildServerLike, continuationStations, sessionStations } from './stations.ts';
import { continuationOverApi, DAY, DAY_K, LIST, radioDistinctOverApi, sessionsOverApi, startEvalServer, Stat } from './api.ts';

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'dev' },
    step: { type: 'string', default: '2' },
    only: { type: 'string' },
    playlists: { type: 'string', default: '200' },
    sessions: { type: 'string', default: '1000' },
  },
});
const split = values.split as SplitName;
if (split !== 'dev' && split !== 'tune') throw new Error('--split is dev or tune');
const only = new Set((values.only ?? 'api,context').split(','));
const f4 = (x: number) => x.toFixed(4);
const pct = (x: number, base: number) => `${x >= base ? '+' : ''}${(((x - base) / base) * 100).toFixed(0)}%`;
const started = performance.now();
const log = (s: string) => process.stderr.write(`${s}\n`);

console.log(`# Evaluation (split: ${split}; data: ${DATA_DIR})\n`);
const mpd = only.has('continuation') || only.has('radio') || only.has('api') || only.has('stations') ? await loadMpd() : null;
const sessions = only.has('sessions') || only.has('context') || only.has('radio') || only.has('api') || only.has('stations') ? await loadSessions() : null;
const pm = (s: Stat) => `${f4(s.mean)} ± ${f4(s.se)}`;

if (only.has('api')) {
  const es = await startEvalServer(mpd!, sessions!, split, log);
  try {
    console.log('## Through the API (a real server process on the training split; HTTP answers only)\n');
    const b = es.built;
    console.log(
      `Server: ${es.started}; listening and ready ${(es.startMs / 1000).toFixed(1)} s after spawn; recommender built in ${(b.ms / 1000).toFixed(1)} s (${b.tracks.toLocaleString('en')} tracks, ${b.baskets.toLocaleString('en')} playlists and sessions), RSS ${b.rssMb} MB when built (heap ${b.heapMb} MB). Load average at the start: ${loadavg()}.\n`,
    );
    const prepC = prepareContinuationFrom(mpd!, split, log);
    const c = await continuationOverApi(es, prepC.engine, mpd!, split, Number(values.playlists), log);
    console.log(`### Playlist continuation (MPD subset; ${c.held} held-out playlists of 35+ tracks; ${LIST} tracks per list; mean ± standard error)\n`);
    console.log(
      `Each list: the playlist station (POST /radio/playlist:<id>/queue, 20 tracks, then POST /queues/{id}/extend 50 + 30), or a user queue holding the K seeds extended (POST /queues/{id}/extend 50 + 50), for a listener without history; baselines cut to ${LIST}. Clicks: pages of 10 before the first relevant track (${LIST / 10 + 1} when none in ${LIST}). One station or queue with its extends over HTTP: p50 ${percentile(c.times, 50).toFixed(0)} ms, p99 ${percentile(c.times, 99).toFixed(0)} ms.\n`,
    );
    console.log('| seeds | method | R-precision | NDCG | clicks | vs co-occurrence (R-prec / NDCG) |');
    console.log('|---|---|---|---|---|---|');
    for (const k of [...new Set(c.rows.map((r) => r.k))]) {
      const co = c.rows.find((r) => r.k === k && r.method === 'co-occurrence')!;
      for (const r of c.rows.filter((x) => x.k === k)) {
        const vs = r.method.endsWith('(API)')
          ? `${pct(r.rprec.mean, co.rprec.mean)} / ${pct(r.ndcg.mean, co.ndcg.mean)} (paired diff ${f4(r.rprec.minus(co.rprec).mean)} ± ${f4(r.rprec.minus(co.rprec).se)} / ${f4(r.ndcg.minus(co.ndcg).mean)} ± ${f4(r.ndcg.minus(co.ndcg).se)})`
          : '';
        console.log(`| ${k} | ${r.method} | ${pm(r.rprec)} | ${pm(r.ndcg)} | ${r.clicks.mean.toFixed(2)} ± ${r.clicks.se.toFixed(2)} | ${vs} |`);
      }
    }
    console.log('');
    // Issue 24: a listener's n-th station of the day against the same playlist's station for a fresh listener.
    console.log(
      `#### One listener, ${DAY} playlist stations in a row (K = ${DAY_K}; ${Math.ceil(c.held / DAY)} listeners): the n-th station minus the same playlist's station for a fresh listener (paired, ± standard error)\n`,
    );
    console.log('| stations | n | R-precision | NDCG | fresh listener R-precision / NDCG |');
    console.log('|---|---|---|---|---|');
    for (const [label, from, to] of [
      ['first', 1, 1],
      ['2nd-5th', 2, 5],
      ['6th-10th', 6, DAY],
      ['tenth', DAY, DAY],
    ] as const) {
      const xs = c.day.filter((d) => d.n >= from && d.n <= to);
      const dr = new Stat();
      const dn = new Stat();
      const fr = new Stat();
      const fn = new Stat();
      for (const d of xs) {
        dr.add(d.rprec - d.freshRprec);
        dn.add(d.ndcg - d.freshNdcg);
        fr.add(d.freshRprec);
        fn.add(d.freshNdcg);
      }
      console.log(
        `| ${label} | ${xs.length} | ${f4(dr.mean)} ± ${f4(dr.se)} (${pct(fr.mean + dr.mean, fr.mean)}) | ${f4(dn.mean)} ± ${f4(dn.se)} (${pct(fn.mean + dn.mean, fn.mean)}) | ${f4(fr.mean)} / ${f4(fn.mean)} |`,
      );
    }
    console.log('');
    const prepS = prepareSessions(sessions!, split, log);
    const sres = await sessionsOverApi(es, prepS.engine, sessions!, split, Number(values.sessions), log);
    console.log(`### Next track (sessions sample; ${sres.queries} held-out sessions, one seeded prefix each; mean ± standard error)\n`);
    console.log(
      `A fresh listener sends the session's first plays (POST /users/me/history) with their skip flags, or the same plays all completed; the user station (POST /radio/user:me/queue) is asked for its first 10. Target: the next track not skipped (skip_2); nothing played is suggested again, so the ${((100 * sres.repeats) / sres.queries).toFixed(1)}% of targets that repeat an earlier play count as misses.\n`,
    );
    console.log('| method | HR@10 | NDCG@10 |');
    console.log('|---|---|---|');
    const co = sres.rows.find((r) => r.method === 'session co-occurrence')!;
    for (const r of sres.rows) {
      const vs = r.method.endsWith('(API)')
        ? ` (${pct(r.hit.mean, co.hit.mean)}; paired diff ${f4(r.hit.minus(co.hit).mean)} ± ${f4(r.hit.minus(co.hit).se)})`
        : '';
      console.log(`| ${r.method} | ${pm(r.hit)}${vs} | ${pm(r.ndcg)} |`);
    }
    const withSkips = sres.rows.find((r) => r.method.startsWith('user station, with'))!;
    const without = sres.rows.find((r) => r.method.startsWith('user station, same'))!;
    const d = withSkips.hit.minus(without.hit);
    const dn = withSkips.ndcg.minus(without.ndcg);
    console.log(
      `\nSkip flags vs none, paired: HR@10 ${d.mean >= 0 ? '+' : ''}${f4(d.mean)} ± ${f4(d.se)}, NDCG@10 ${dn.mean >= 0 ? '+' : ''}${f4(dn.mean)} ± ${f4(dn.se)}.\n`,
    );
    const stations = [
      `track:${mpd!.tracks[1234]!.id}`,
      `artist:${mpd!.tracks[4321]!.artist}`,
      `playlist:${mpd!.playlists.find((p) => bucket(`mpd:${p.id}`) >= 10)!.id}`,
      'user:me',
    ];
    const r = await radioDistinctOverApi(es, stations);
    console.log("### Radio: distinct tracks before the first repeat (a station's first 20, then 30 extends of 50 = 1,520 items, over HTTP)\n");
    console.log('| station | items | distinct before the first repeat | first repeat at |');
    console.log('|---|---|---|---|');
    for (const x of r) console.log(`| ${x.station.slice(0, 60)} | ${x.items} | ${x.distinct} | ${x.firstRepeat ?? 'none'} |`);
    console.log(`\nServer peak RSS over the whole run (VmHWM): ${es.peakRssMb().toFixed(0)} MB. Load average at the end: ${loadavg()}.\n`);
  } finally {
    const compiled = await es.close();
    if (compiled) console.log(`At the end: ${compiled}.\n`);
  }
}

if (only.has('stations')) {
  // The API's station code in process (bench/eval/stations.ts): for tuning, quick.
  const t0 = performance.now();
  const reco = buildServerLike(mpd!, sessions!, split);
  log(`stations: server-like recommender built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const prepC = prepareContinuationFrom(mpd!, split, log);
  const t1 = performance.now();
  const c = continuationStations(reco, prepC.engine, mpd!, split, Number(values.playlists));
  const prepS = prepareSessions(sessions!, split, log);
  const t2 = performance.now();
  const s = sessionStations(reco, prepS.engine, sessions!, split, Number(values.sessions));
  const t3 = performance.now();
  console.log(
    `## Stations in process (the API's code path; ${c.held} playlists, ${s.rows[0]!.hit.xs.length} sessions; ${((t2 - t1) / 1000).toFixed(0)} s + ${((t3 - t2) / 1000).toFixed(0)} s)\n`,
  );
  console.log('| K | method | R-precision | NDCG | vs co-occurrence (paired diff R-prec / NDCG) |');
  console.log('|---|---|---|---|---|');
  for (const r of c.rows) {
    const co = c.rows.find((x) => x.k === r.k && x.method === 'co-occurrence')!;
    const vs =
      r === co
        ? ''
        : `${pct(r.rprec.mean, co.rprec.mean)} / ${pct(r.ndcg.mean, co.ndcg.mean)} (${f4(r.rprec.minus(co.rprec).mean)} ± ${f4(r.rprec.minus(co.rprec).se)} / ${f4(r.ndcg.minus(co.ndcg).mean)} ± ${f4(r.ndcg.minus(co.ndcg).se)})`;
    console.log(`| ${r.k} | ${r.method} | ${pm(r.rprec)} | ${pm(r.ndcg)} | ${vs} |`);
  }
  console.log('\n| method | HR@10 | vs session co-occurrence (paired diff) |');
  console.log('|---|---|---|');
  const sco = s.rows.find((x) => x.method === 'session co-occurrence')!;
  for (const r of s.rows)
    console.log(
      `| ${r.method} | ${pm(r.hit)} | ${r === sco ? '' : `${pct(r.hit.mean, sco.hit.mean)} (${f4(r.hit.minus(sco.hit).mean)} ± ${f4(r.hit.minus(sco.hit).se)})`} |`,
    );
  console.log('');
}

if (only.has('continuation')) {
  const prep = prepareContinuationFrom(mpd!, split, log);
  const { rows, timings } = runContinuation(prep);
  console.log(`## Playlist continuation (MPD subset; ${prep.held.length} held-out playlists of 35+ tracks; rank 500)\n`);
  console.log(
    `Engine built from the training playlists in ${(prep.buildMs / 1000).toFixed(2)} s (+${prep.heapMb.toFixed(0)} MB heap); one ranking of 500: p50 ${percentile(timings, 50).toFixed(1)} ms, p99 ${percentile(timings, 99).toFixed(1)} ms.\n`,
  );
  console.log('| seeds | method | R-precision | NDCG@500 | clicks (lower is better) |');
  console.log('|---|---|---|---|---|');
  for (const k of [...new Set(rows.map((r) => r.k))]) {
    const co = rows.find((r) => r.k === k && r.method === 'co-occurrence')!;
    for (const r of rows.filter((x) => x.k === k)) {
      const vs = r.method === 'engine' ? ` (${pct(r.rprec, co.rprec)})` : '';
      const vsN = r.method === 'engine' ? ` (${pct(r.ndcg, co.ndcg)})` : '';
      console.log(`| ${k} | ${r.method} | ${f4(r.rprec)}${vs} | ${f4(r.ndcg)}${vsN} | ${r.clicks.toFixed(2)} |`);
    }
  }
  console.log('');
}

if (only.has('sessions')) {
  const prep = prepareSessions(sessions!, split, log);
  const step = Number(values.step);
  const r = runSessions(prep, undefined, true, step);
  console.log(
    `## Next track in a session (sessions sample; ${prep.held.length} held-out sessions, every ${step === 1 ? '' : `${step}${step === 2 ? 'nd' : step === 3 ? 'rd' : 'th'} `}prefix: ${r.queries} predictions)\n`,
  );
  console.log(
    `Target: the next track the listener did not skip (skip_2). Like a radio, nothing already played in the session is suggested, so the ${((100 * r.repeats) / r.queries).toFixed(1)}% of targets that repeat an earlier track of the session count as misses for every method.\n`,
  );
  console.log('| method | hit rate@10 | NDCG@10 |');
  console.log('|---|---|---|');
  const co = r.rows.find((x) => x.method === 'co-occurrence')!;
  for (const row of r.rows) {
    const vs = row.method.startsWith('engine') ? ` (${pct(row.hit, co.hit)})` : '';
    const vsN = row.method.startsWith('engine') ? ` (${pct(row.ndcg, co.ndcg)})` : '';
    console.log(`| ${row.method} | ${f4(row.hit)}${vs} | ${f4(row.ndcg)}${vsN} |`);
  }
  const d = r.paired;
  console.log(
    `\nFeedback vs no feedback, paired over the same predictions: hit rate ${d.hit >= 0 ? '+' : ''}${f4(d.hit)} ± ${f4(d.hitSe)} (one standard error), NDCG ${d.ndcg >= 0 ? '+' : ''}${f4(d.ndcg)} ± ${f4(d.ndcgSe)}; feedback changed ${(100 * d.changed).toFixed(1)}% of the top-10 hits (${(100 * d.gained).toFixed(2)}% gained, ${(100 * d.lost).toFixed(2)}% lost).\n`,
  );
}

if (only.has('context')) {
  const rows = contextEval(sessions!, split);
  console.log(`## Context (sessions sample; ${rows[0]!.n} held-out sessions; rank the 6 kinds of listening for the session's start)\n`);
  console.log('| model | right kind first | MRR | log-likelihood | right kind ranked higher / lower than context-free |');
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.model} | ${f4(r.acc1)} | ${f4(r.mrr)} | ${r.logLik.toFixed(4)} | ${(100 * r.better).toFixed(1)}% / ${(100 * r.worse).toFixed(1)}% |`);
  const tracks = contextTrackEval(sessions!, split);
  console.log(`\nThe tracks a contextual queue starts from (the population prior for a listener without history; ${tracks[0]!.n} held-out sessions):\n`);
  console.log("| context given | first kept track in top 10 | in top 100 | share of the session's kept tracks in the top 100 |");
  console.log('|---|---|---|---|');
  const base = tracks[0]!;
  for (const r of tracks) {
    const vs = r === base ? '' : ` (${pct(r.hit100, base.hit100)})`;
    console.log(`| ${r.model} | ${f4(r.hit10)} | ${f4(r.hit100)}${vs} | ${f4(r.recall100)} |`);
  }
  console.log('');
}

if (only.has('radio')) {
  const r = radioBench(mpd!.tracks, mpd!.playlists, sessions!);
  console.log('## The engine on all the data (MPD subset + sessions sample)\n');
  console.log(
    `${r.tracks.toLocaleString('en')} tracks, ${r.baskets.toLocaleString('en')} playlists and sessions: built in ${(r.buildMs / 1000).toFixed(1)} s, +${r.heapMb.toFixed(0)} MB heap (process RSS ${r.rssMb.toFixed(0)} MB with the raw data loaded).`,
  );
  console.log(
    `One radio batch of 20 (track, artist and playlist stations, ${r.batches} batches, ${r.meanItems.toFixed(1)} tracks each): p50 ${r.p50.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms.\n`,
  );
}
log(`eval took ${((performance.now() - started) / 1000).toFixed(0)} s`);

function loadavg(): string {
  return osLoad()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}
