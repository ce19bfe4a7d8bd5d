// Scratch diagnostic (issue 24 round 7, hr): the user station against session co-occurrence
// per segment (prefix length, the last play's context type, whether the last play was
// skipped), on the tuning split; and the union of both top 10s.
import { parseStation, resolveStation } from '../../src/reco/stations.ts';
import { stationBatch } from '../../src/radio/batch.ts';
import { cooccurrence } from './baselines.ts';
import { bucket, loadMpd, loadSessions, splitOf } from './data.ts';
import { prepareSessions } from './sessions.ts';
import { buildServerLike, ingestPrefix, nextTrackCase } from './stations.ts';

const [mpd, sessions] = await Promise.all([loadMpd(), loadSessions()]);
const reco = buildServerLike(mpd, sessions, 'tune');
const prepS = prepareSessions(sessions, 'tune', () => {});
const { test } = splitOf('tune');
const held = sessions.filter((s) => test(bucket(`session:${s.id}`)));
const seg = new Map<string, number[]>(); // n, station, co, union, st20, co-only, st-only
const add = (k: string, v: number[]) => {
  const a = seg.get(k) ?? new Array(v.length).fill(0);
  for (let i = 0; i < v.length; i++) a[i] += v[i]!;
  seg.set(k, a);
};
/** Library vote: sessions sharing >= minShared distinct tracks with the whole prefix vote for their tracks by shared^p. */
function library(prefix: number[], exclude: Set<number>, o: { minShared: number; p: number; sameCtx: number; ctx: number; postings: number }): string[] {
  const bk = reco.engine.baskets;
  const shared = new Map<number, number>();
  for (const t of new Set(prefix)) {
    const post = bk.of(t);
    for (let k = 0; k < Math.min(post.length, o.postings); k++) {
      const b = post[post.length - 1 - k]!;
      if (bk.dead[b] || bk.kind[b] !== 1) continue;
      shared.set(b, (shared.get(b) ?? 0) + 1);
    }
  }
  const score = new Map<number, number>();
  for (const [b, n] of shared) {
    if (n < o.minShared) continue;
    const L = bk.count[b]!;
    if (n >= L - 1) continue; // the listener's own
    const w = (n ** o.p * (o.ctx !== 0 && bk.context[b] !== o.ctx ? o.sameCtx : 1)) / Math.sqrt(L);
    for (const j of bk.items(b)) if (!exclude.has(j)) score.set(j, (score.get(j) ?? 0) + w);
  }
  return [...score]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 10)
    .map(([t]) => reco.engine.catalog.id(t));
}
const LIB: Record<string, { minShared: number; p: number; sameCtx: number; postings: number }> = {
  'lib m1 p1': { minShared: 1, p: 1, sameCtx: 1, postings: 1000 },
  'lib m1 p2': { minShared: 1, p: 2, sameCtx: 1, postings: 1000 },
  'lib m2 p2': { minShared: 2, p: 2, sameCtx: 1, postings: 1000 },
  'lib m1 p3': { minShared: 1, p: 3, sameCtx: 1, postings: 1000 },
  'lib m1 p2 c.25': { minShared: 1, p: 2, sameCtx: 0.25, postings: 1000 },
};
const start = Date.parse('2026-01-01T12:00:00Z');
const cat = prepS.engine.catalog;
for (const s of held) {
  const c = nextTrackCase(s);
  if (!c) continue;
  const flags = process.env.FLAGS === '1';
  const userId = `d-${s.id}`;
  ingestPrefix(reco, userId, s, c.prefix, flags, start);
  const resolved = resolveStation(reco, parseStation('user:me')!, reco.peekProfile(userId));
  const st = stationBatch(reco, {
    userId,
    stationId: 'user:me',
    resolved,
    preferences: {},
    count: 20,
    queueTracks: [],
    salt: 'x',
    stationHistory: [],
    userRecent: c.prefix,
  }).map((i) => i.trackId);
  const idx = c.prefix.map((id) => cat.ensure(id));
  const co = cooccurrence(prepS.engine, idx, 10, new Set(idx)).map((x) => cat.id(x));
  const h = st.slice(0, 10).includes(c.target) ? 1 : 0;
  const h20 = st.includes(c.target) ? 1 : 0;
  const hc = co.includes(c.target) ? 1 : 0;
  const rc = reco.engine.catalog;
  const pi = c.prefix.map((id) => rc.lookup(id)!);
  const lib = Object.values(LIB).map((o) =>
    library(pi, new Set(pi), { ...o, ctx: reco.engine.baskets.findContext(s.contextTypes[c.prefix.length - 1]) }).includes(c.target) ? 1 : 0,
  );
  const row = [1, h, hc, h || hc ? 1 : 0, h20, hc && !h ? 1 : 0, h && !hc ? 1 : 0, ...lib];
  const t = c.prefix.length;
  add('all', row);
  add(`len ${t <= 3 ? t : t <= 6 ? '4-6' : t <= 10 ? '7-10' : '11+'}`, row);
  add(`ctx ${s.contextTypes[t - 1]}`, row);
  add(`last ${s.skipped[t - 1] ? 'skipped' : 'kept'}`, row);
  add(`target ${c.prefix.includes(c.target) ? 'repeat' : !(cat.popularity[cat.lookup(c.target) ?? -1]! > 0) ? 'unseen' : 'seen'}`, row);
}
console.log('segment                         n  station  co  union  station@20  co-only  station-only', Object.keys(LIB).join('  '));
for (const [k, v] of [...seg].sort()) console.log(k.padEnd(28), v.map((x, i) => (i === 0 ? String(x) : (x / v[0]!).toFixed(3))).join('  '));
