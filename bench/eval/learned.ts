// Issue 24 round 9: a learned ranker for the user station (next track), tuning split only.
// Not kept in the engine (see bench/README.md, "Issue 24 round 9"): the engine's per-candidate
// features and the scorer hook are `bench/eval/learned-engine.patch`; apply it first
// (`git apply bench/eval/learned-engine.patch`; with the hook unset the answers are main's).
//   node bench/eval/learned.ts dump [--out FILE] [--extra N]   the station's candidates and
//        their features (engine LEARNED.sink) for every held-out session of the tuning split,
//        with and without skip flags, the same prefix and listeners as next-track.ts; --extra:
//        up to N more (longer) prefixes of each train-half session, as more training data
//   node bench/eval/learned.ts station --model FILE  the user station on the EVAL half of
//        those sessions with the trained model as the engine's session scorer (LEARNED.ranker),
//        paired with `current` on the same listeners
// Training (offline, on the dump's TRAIN half): bench/eval/learned-train.ts. The halves are
// a seeded split of the tuning split's held-out sessions (`half` below).
import { writeFileSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as engineModule from '../../src/reco/engine.ts';
import { Stat } from './api.ts';
import { cooccurrence } from './baselines.ts';
import { bucket, loadMpd, loadSessions, splitOf } from './data.ts';
import { prepareSessions } from './sessions.ts';
import { buildServerLike, ingestPrefix, nextTrackCase, userStation } from './stations.ts';
import { type Model, predict } from './ranker.ts';

/** The patch's hook: `sink` sees each fully scored candidate's features of a session call, `ranker` replaces its score (exp of its answer). */
interface Hook {
  sink: ((track: number, f: Float64Array) => void) | null;
  ranker: ((f: Float64Array) => number) | null;
}
const patched = engineModule as unknown as { LEARNED?: Hook; SESSION_FEATURES?: readonly string[] };
if (!patched.LEARNED || !patched.SESSION_FEATURES) throw new Error('apply bench/eval/learned-engine.patch first');
const LEARNED = patched.LEARNED;
const SESSION_FEATURES = patched.SESSION_FEATURES;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: '/tmp/learned-dump' },
    model: { type: 'string' },
    sessions: { type: 'string', default: '5000' },
    extra: { type: 'string', default: '0' },
  },
});
const mode = positionals[0];
if (mode !== 'dump' && mode !== 'station') throw new Error('usage: learned.ts dump|station');
/** The seeded half a held-out session of the tuning split falls in: 0 = train the ranker, 1 = evaluate it. */
export const half = (sessionId: string) => bucket(`learned-half:${sessionId}`) % 2;
/** Candidates kept per prefix in the dump (by the current blend; the target is kept wherever it ranks). */
const KEEP = 300;
const NF = SESSION_FEATURES.length;
const K = 10;

const log = (s: string) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const [mpd, sessions] = await Promise.all([loadMpd(), loadSessions()]);
const reco = buildServerLike(mpd, sessions, 'tune');
const prepS = prepareSessions(sessions, 'tune', log);
log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const { test } = splitOf('tune');
const held = sessions.filter((s) => test(bucket(`session:${s.id}`))).slice(0, Number(values.sessions));
const start = Date.parse('2026-01-01T12:00:00Z');
const cat = prepS.engine.catalog;
const f4 = (x: number) => x.toFixed(4);
const show = (name: string, s: Stat, co: Stat, cur?: Stat) => {
  const d = s.minus(co);
  const vc = cur && cur !== s ? s.minus(cur) : null;
  console.log(
    `${name.padEnd(28)} ${f4(s.mean)} ± ${f4(s.se)}  x${(s.mean / co.mean).toFixed(3)}  vs co ${f4(d.mean)} ± ${f4(d.se)}${vc ? `  vs current ${vc.mean >= 0 ? '+' : ''}${f4(vc.mean)} ± ${f4(vc.se)}` : ''}`,
  );
};

if (mode === 'dump') {
  // Per prefix (x2 flags): its half, flags, the station's hit, co-occurrence's hit, the
  // candidates' count, then per candidate: label and features (Float32).
  const meta: { id: string; half: number; flags: boolean; n: number; hit: number; co: number; repeat: number; reached: number; extra: boolean }[] = [];
  const rows: Float32Array[] = [];
  let cands: { track: number; f: Float32Array }[] = [];
  let capturing = false;
  // Only the batch's first engine call is kept (the station's own seeds; a second one is rare).
  LEARNED.sink = (track, f) => {
    if (capturing) cands.push({ track, f: Float32Array.from(f) });
  };
  const first = reco.engine.score.bind(reco.engine);
  reco.engine.score = (seeds, o) => {
    const r = first(seeds, o);
    capturing = false;
    return r;
  };
  const one = (s: (typeof held)[number], prefix: string[], target: string, tag: string, extra: boolean) => {
    const idx = prefix.map((id) => cat.ensure(id));
    const coHit = cooccurrence(prepS.engine, idx, K, new Set(idx))
      .map((x) => cat.id(x))
      .includes(target)
      ? 1
      : 0;
    for (const flags of [true, false]) {
      const userId = `eval-s-${s.id}${tag}-${flags ? 'skips' : 'plays'}`;
      ingestPrefix(reco, userId, s, prefix, flags, start);
      cands = [];
      capturing = true;
      const out = userStation(reco, userId, prefix);
      capturing = false;
      const tgt = reco.engine.catalog.lookup(target) ?? -2;
      cands.sort((a, b) => b.f[11]! - a.f[11]! || a.track - b.track);
      const keep = cands.slice(0, KEEP);
      const ti = cands.findIndex((x) => x.track === tgt);
      if (ti >= KEEP) keep.push(cands[ti]!);
      const block = new Float32Array(keep.length * (NF + 1));
      keep.forEach((x, i) => {
        block[i * (NF + 1)] = x.track === tgt ? 1 : 0;
        block.set(x.f, i * (NF + 1) + 1);
      });
      rows.push(block);
      meta.push({
        id: s.id,
        half: half(s.id),
        flags,
        n: keep.length,
        hit: out.slice(0, K).includes(target) ? 1 : 0,
        co: coHit,
        repeat: prefix.includes(target) ? 1 : 0,
        reached: ti >= 0 ? ti + 1 : 0,
        extra,
      });
    }
  };
  for (const s of held) {
    const c = nextTrackCase(s);
    if (c) one(s, c.prefix, c.target, '', false);
  }
  // More training prefixes: up to --extra more of each TRAIN-half session, after the
  // seeded one and in increasing length (a prefix's own session is ingested as a listener's
  // basket; a longer one ingested before a shorter one would hold the shorter one's next track).
  const extra = Number(values.extra);
  if (extra > 0)
    for (const s of held) {
      if (half(s.id) !== 0) continue;
      const c = nextTrackCase(s);
      if (!c) continue;
      const t0 = c.prefix.length;
      const ts: number[] = [];
      for (let t = t0 + 1; t < s.tracks.length; t++) if (bucket(`learned-extra:${s.id}:${t}`) < 50) ts.push(t);
      for (const t of ts.slice(0, extra)) {
        let j = t;
        while (j < s.tracks.length && s.skipped[j]) j++;
        if (j >= s.tracks.length) break;
        one(s, s.tracks.slice(0, t), s.tracks[j]!, `-x${t}`, true);
      }
    }
  const total = rows.reduce((a, r) => a + r.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const r of rows) {
    all.set(r, o);
    o += r.length;
  }
  writeFileSync(`${values.out}.bin`, all);
  writeFileSync(`${values.out}.json`, JSON.stringify({ features: SESSION_FEATURES, keep: KEEP, meta }));
  log(`${meta.length} prefixes, ${total / (NF + 1)} candidates -> ${values.out}.bin/.json (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
} else {
  if (!values.model) throw new Error('--model FILE');
  const model = JSON.parse(readFileSync(values.model, 'utf8')) as Model;
  const stats = { cur: [new Stat(), new Stat()], learned: [new Stat(), new Stat()], co: new Stat() };
  let prefixes = 0;
  for (const s of held) {
    if (half(s.id) !== 1) continue;
    const c = nextTrackCase(s);
    if (!c) continue;
    const { prefix, target } = c;
    prefixes++;
    for (const [fi, flags] of [true, false].entries()) {
      const userId = `eval-s-${s.id}-${flags ? 'skips' : 'plays'}`;
      ingestPrefix(reco, userId, s, prefix, flags, start);
      LEARNED.ranker = null;
      stats.cur[fi]!.add(userStation(reco, userId, prefix).slice(0, K).includes(target) ? 1 : 0);
      LEARNED.ranker = (f) => predict(model, f);
      stats.learned[fi]!.add(userStation(reco, userId, prefix).slice(0, K).includes(target) ? 1 : 0);
      LEARNED.ranker = null;
    }
    const idx = prefix.map((id) => cat.ensure(id));
    stats.co.add(
      cooccurrence(prepS.engine, idx, K, new Set(idx))
        .map((x) => cat.id(x))
        .includes(target)
        ? 1
        : 0,
    );
  }
  console.log(`eval half of the tuning split, ${prefixes} prefixes, model ${values.model}`);
  show('co-occurrence', stats.co, stats.co);
  for (const fi of [0, 1]) {
    const tag = fi === 0 ? 'skips' : 'plays';
    show(`current ${tag}`, stats.cur[fi]!, stats.co);
    show(`learned ${tag}`, stats.learned[fi]!, stats.co, stats.cur[fi]);
  }
}
