// What a radio or recommendations queue keeps in its metadata: how it was made (station
// or context, seeds, preferences) and a short reason per track, so any device showing
// the queue can say why a track is there. Reasons are kept for the newest tracks only.
import type { QueueState } from '../queues/queue.ts';
import type { Reason } from '../reco/stations.ts';
import type { BatchItem, Preferences } from './batch.ts';

/** Reasons kept per queue (by track id; a track is not repeated within the no-repeat window). */
export const MAX_REASONS = 200;

export interface RadioMeta {
  stationId: string;
  label: string;
  /** The user the station plays for (the creator). */
  userId: string;
  preferences: Preferences;
  batches: number;
  reasons: Record<string, Reason>;
}

export interface MixMeta {
  context: 'discover_weekly' | 'daily_mix' | 'album_radio';
  label: string;
  userId: string;
  seedTracks: string[];
  preferences: Preferences;
  /** Daily mix: the number of this mix among the user's mixes (1-based). */
  mix?: number;
  refreshable: true;
  batches: number;
  reasons: Record<string, Reason>;
}

export function radioMeta(state: Pick<QueueState, 'metadata'>): RadioMeta | null {
  const m = state.metadata.radio as RadioMeta | undefined;
  return m && typeof m === 'object' && typeof m.stationId === 'string' ? m : null;
}

export function mixMeta(state: Pick<QueueState, 'metadata'>): MixMeta | null {
  const m = state.metadata.recommendations as MixMeta | undefined;
  return m && typeof m === 'object' && typeof m.context === 'string' ? m : null;
}

/**
 * The reasons with the new batch's added (a track already there moves to the end, with its
 * new reason), trimmed to the tracks still in the queue and to the newest MAX_REASONS.
 *
 * The object is built in V8's dictionary mode and equal reasons share one frozen object
 * (issue 24 round 6): keyed by track id, a fast-mode object gets a hidden class of its own
 * per key (70,000 reasons in the queue cache were 86,000 hidden classes, ~8 MB with their
 * descriptors), and most reasons of a station repeat a few texts. Same keys, order and JSON.
 */
export function mergeReasons(old: Record<string, Reason> | undefined, items: BatchItem[], queueTracks: ReadonlySet<string> | null): Record<string, Reason> {
  // One pass over each, no Map of the old reasons (issue 24: this was ~3% of the server's CPU
  // under 8 listeners, an extend merging 50 into up to 200).
  const fresh = new Map<string, Reason>();
  for (const i of items) {
    fresh.delete(i.trackId);
    fresh.set(i.trackId, i.reason);
  }
  let keep = 0;
  const oldKeys = old ? Object.keys(old) : [];
  for (const t of oldKeys) if (!fresh.has(t) && (queueTracks === null || queueTracks.has(t))) keep++;
  for (const t of fresh.keys()) if (queueTracks === null || queueTracks.has(t)) keep++;
  // The first `skip` kept are the oldest past MAX_REASONS.
  let skip = keep - MAX_REASONS;
  const out = dictionary<Reason>();
  for (const t of oldKeys) if (!fresh.has(t) && (queueTracks === null || queueTracks.has(t)) && skip-- <= 0) out[t] = old![t]!;
  for (const [t, r] of fresh) if ((queueTracks === null || queueTracks.has(t)) && skip-- <= 0) out[t] = shared(r);
  return out;
}

/**
 * An empty plain object (Object.prototype, JSON as usual) in V8's dictionary mode: deleting a
 * property that is not the last added one turns an object's properties into one hash
 * table, and properties added afterwards go there instead of each making a hidden class.
 */
export function dictionary<T>(): Record<string, T> {
  const o: Record<string, T | undefined> = { a: undefined, b: undefined };
  delete o.a;
  delete o.b;
  return o as Record<string, T>;
}

/** Reasons met lately, by kind and text: one frozen object each. */
const reasonPool = new Map<string, Reason>();
/** Enough for the distinct reasons of many stations' batches; the pool starts over past it. */
export const REASON_POOL = 20_000;

/** The pool's equal reason (frozen), or `r` as it stands when it has more than kind and text. */
export function shared(r: Reason): Reason {
  if (Object.isFrozen(r)) return r;
  const k = `${r.kind}\n${r.text}`;
  const had = reasonPool.get(k);
  if (had !== undefined) return had;
  if (Object.keys(r).length !== 2) return r;
  if (reasonPool.size >= REASON_POOL) reasonPool.clear();
  const f = Object.freeze({ kind: r.kind, text: r.text });
  reasonPool.set(k, f);
  return f;
}
