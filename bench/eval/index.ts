// `npm run eval` — the offline evaluation of the recommendation engine on the real
// data in ../shared/data (read in place), on a fixed development split (a seeded hash
// of the playlist / session id; see data.ts). Prints Markdown tables for the README.
// Options: --split dev|tune (tune: another held-out split, used to choose blends),
// --step N (evaluate every Nth prefix of a held-out session; default 2), --only a,b
// (continuation, sessions, context, radio). Takes minutes; run it niced.
import { parseArgs } from 'node:util';
import { prepareContinuationFrom, runContinuation } from './continuation.ts';
import { contextEval, contextTrackEval } from './context.ts';
import { DATA_DIR, loadMpd, loadSessions, type SplitName } from './data.ts';
import { radioBench } from './radio.ts';
import { prepareSessions, runSessions } from './sessions.ts';

const { values } = parseArgs({ options: { split: { type: 'string', default: 'dev' }, step: { type: 'string', default: '2' }, only: { type: 'string' } } });
const split = values.split as SplitName;
if (split !== 'dev' && split !== 'tune') throw new Error('--split is dev or tune');
const only = new Set((values.only ?? 'continuation,sessions,context,radio').split(','));
const f4 = (x: number) => x.toFixed(4);
const pct = (x: number, base: number) => `${x >= base ? '+' : ''}${(((x - base) / base) * 100).toFixed(0)}%`;
const started = performance.now();
const log = (s: string) => process.stderr.write(`${s}\n`);

console.log(`# Evaluation (split: ${split}; data: ${DATA_DIR})\n`);
const mpd = only.has('continuation') || only.has('radio') ? await loadMpd() : null;
const sessions = only.has('sessions') || only.has('context') || only.has('radio') ? await loadSessions() : null;

if (only.has('continuation')) {
  const prep = prepareContinuationFrom(mpd!, split, log);
  const { rows, timings } = runContinuation(prep);
  console.log(`## Playlist continuation (MPD subset; ${prep.held.length} held-out playlists of 35+ tracks; rank 500)\n`);
  console.log(`Engine built from the training playlists in ${(prep.buildMs / 1000).toFixed(2)} s (+${prep.heapMb.toFixed(0)} MB heap); one ranking of 500: p50 ${percentile(timings, 50).toFixed(1)} ms, p99 ${percentile(timings, 99).toFixed(1)} ms.\n`);
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
  console.log(`## Next track in a session (sessions sample; ${prep.held.length} held-out sessions, every ${step === 1 ? '' : `${step}${step === 2 ? 'nd' : step === 3 ? 'rd' : 'th'} `}prefix: ${r.queries} predictions)\n`);
  console.log(`Target: the next track the listener did not skip (skip_2). Like a radio, nothing already played in the session is suggested, so the ${(100 * r.repeats / r.queries).toFixed(1)}% of targets that repeat an earlier track of the session count as misses for every method.\n`);
  console.log('| method | hit rate@10 | NDCG@10 |');
  console.log('|---|---|---|');
  const co = r.rows.find((x) => x.method === 'co-occurrence')!;
  for (const row of r.rows) {
    const vs = row.method.startsWith('engine') ? ` (${pct(row.hit, co.hit)})` : '';
    const vsN = row.method.startsWith('engine') ? ` (${pct(row.ndcg, co.ndcg)})` : '';
    console.log(`| ${row.method} | ${f4(row.hit)}${vs} | ${f4(row.ndcg)}${vsN} |`);
  }
  const d = r.paired;
  console.log(`\nFeedback vs no feedback, paired over the same predictions: hit rate ${d.hit >= 0 ? '+' : ''}${f4(d.hit)} ± ${f4(d.hitSe)} (one standard error), NDCG ${d.ndcg >= 0 ? '+' : ''}${f4(d.ndcg)} ± ${f4(d.ndcgSe)}; feedback changed ${(100 * d.changed).toFixed(1)}% of the top-10 hits (${(100 * d.gained).toFixed(2)}% gained, ${(100 * d.lost).toFixed(2)}% lost).\n`);
}

if (only.has('context')) {
  const rows = contextEval(sessions!, split);
  console.log(`## Context (sessions sample; ${rows[0]!.n} held-out sessions; rank the 6 kinds of listening for the session's start)\n`);
  console.log('| model | right kind first | MRR | log-likelihood | right kind ranked higher / lower than context-free |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.model} | ${f4(r.acc1)} | ${f4(r.mrr)} | ${r.logLik.toFixed(4)} | ${(100 * r.better).toFixed(1)}% / ${(100 * r.worse).toFixed(1)}% |`);
  const tracks = contextTrackEval(sessions!, split);
  console.log(`\nThe tracks a contextual queue starts from (the population prior for a listener without history; ${tracks[0]!.n} held-out sessions):\n`);
  console.log('| context given | first kept track in top 10 | in top 100 | share of the session\'s kept tracks in the top 100 |');
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
  console.log(`${r.tracks.toLocaleString('en')} tracks, ${r.baskets.toLocaleString('en')} playlists and sessions: built in ${(r.buildMs / 1000).toFixed(1)} s, +${r.heapMb.toFixed(0)} MB heap (process RSS ${r.rssMb.toFixed(0)} MB with the raw data loaded).`);
  console.log(`One radio batch of 20 (track, artist and playlist stations, ${r.batches} batches, ${r.meanItems.toFixed(1)} tracks each): p50 ${r.p50.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms.\n`);
}
log(`eval took ${((performance.now() - started) / 1000).toFixed(0)} s`);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}
