// Context: for each held-out session, rank the six kinds of listening (the sessions'
// context_type: your own collection, albums/artists, editorial playlists, radio, mixes
// made for you, charts) with the contextual model given only what a client knows up
// front (hour of day, weekday or weekend), against the context-free ranking (the kinds'
// overall shares). The right kind ranked higher = the appropriate queue suggested first.
import { contextFeatures, ContextModel, CONTEXT_KINDS } from '../../src/reco/context.ts';
import { ContextTracks } from '../../src/reco/context-tracks.ts';
import { bucket, splitOf, type Session, type SplitName } from './data.ts';
import { Mean } from './metrics.ts';

export interface ContextRow {
  model: string;
  acc1: number;
  mrr: number;
  /** Mean log-likelihood of the right kind (nats; higher is better). */
  logLik: number;
  /** Share of sessions where the right kind is ranked strictly higher than by the context-free model. */
  better: number;
  worse: number;
  n: number;
}

export function contextEval(sessions: Session[], split: SplitName): ContextRow[] {
  const { test, train } = splitOf(split);
  const model = new ContextModel();
  const held: Session[] = [];
  for (const s of sessions) {
    const b = bucket(`session:${s.id}`);
    if (train(b)) model.observe(s.contextType, contextFeatures({ hour: s.hour, dow: s.dow }), null);
    else if (test(b)) held.push(s);
  }
  const variants: [string, (s: Session) => string[]][] = [
    ['context-free (overall shares)', () => []],
    ['hour of day', (s) => contextFeatures({ hour: s.hour })],
    ['hour of day + weekday/weekend', (s) => contextFeatures({ hour: s.hour, dow: s.dow })],
  ];
  const rankOf = (features: string[], truth: string) => {
    const r = model.rank(features, null, CONTEXT_KINDS);
    const i = r.findIndex((k) => k.kind === truth);
    return { rank: i + 1, p: r[i]?.p ?? 1e-9 };
  };
  const baseRanks = held.map((s) => rankOf([], s.contextType).rank);
  return variants.map(([name, f]) => {
    const acc = new Mean();
    const mrr = new Mean();
    const ll = new Mean();
    let better = 0;
    let worse = 0;
    held.forEach((s, i) => {
      const { rank, p } = rankOf(f(s), s.contextType);
      acc.add(rank === 1 ? 1 : 0);
      mrr.add(1 / rank);
      ll.add(Math.log(p));
      if (rank < baseRanks[i]!) better++;
      if (rank > baseRanks[i]!) worse++;
    });
    return { model: name, acc1: acc.value, mrr: mrr.value, logLik: ll.value, better: better / held.length, worse: worse / held.length, n: held.length };
  });
}

export interface ContextTrackRow {
  model: string;
  hit10: number;
  hit100: number;
  /** Share of the session's kept tracks among the 100. */
  recall100: number;
  n: number;
}

/**
 * What the context says about the tracks: for each held-out session, the 100 tracks most
 * typical of its context (the population prior a contextual queue starts from for a
 * listener without history) against the 100 most popular overall. Target: the session's
 * first kept track, and all its kept tracks.
 */
export function contextTrackEval(sessions: Session[], split: SplitName): ContextTrackRow[] {
  const { test, train } = splitOf(split);
  const ids = new Map<string, number>();
  const id = (t: string) => {
    let i = ids.get(t);
    if (i === undefined) ids.set(t, (i = ids.size));
    return i;
  };
  const model = new ContextTracks();
  const held: Session[] = [];
  for (const s of sessions) {
    const b = bucket(`session:${s.id}`);
    if (train(b)) {
      const f = contextFeatures({ hour: s.hour, dow: s.dow });
      s.tracks.forEach((t, i) => {
        if (!s.skipped[i]) model.observe(id(t), [...f, `kind:${s.contextTypes[i]}`]);
      });
    } else if (test(b)) held.push(s);
  }
  const variants: [string, (s: Session) => string[]][] = [
    ['context-free (popular overall)', () => []],
    ['hour of day + weekday/weekend', (s) => contextFeatures({ hour: s.hour, dow: s.dow })],
    ['+ the kind of listening (context_type)', (s) => [...contextFeatures({ hour: s.hour, dow: s.dow }), `kind:${s.contextType}`]],
  ];
  const cache = new Map<string, Set<number>[]>();
  return variants.map(([name, f]) => {
    const h10 = new Mean();
    const h100 = new Mean();
    const rec = new Mean();
    for (const s of held) {
      const kept = s.tracks.filter((_, i) => !s.skipped[i]);
      if (kept.length === 0) continue;
      const features = f(s);
      const key = features.join('|');
      let tops = cache.get(key);
      if (!tops) {
        const top = model.top(features, 100).map((x) => x.track);
        cache.set(key, (tops = [new Set(top.slice(0, 10)), new Set(top)]));
      }
      const first = ids.get(kept[0]!);
      h10.add(first !== undefined && tops[0]!.has(first) ? 1 : 0);
      h100.add(first !== undefined && tops[1]!.has(first) ? 1 : 0);
      const distinct = [...new Set(kept)];
      rec.add(distinct.filter((t) => ids.has(t) && tops![1]!.has(ids.get(t)!)).length / distinct.length);
    }
    return { model: name, hit10: h10.value, hit100: h100.value, recall100: rec.value, n: h10.n };
  });
}
