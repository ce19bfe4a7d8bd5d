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
 */
export function mergeReasons(old: Record<string, Reason> | undefined, items: BatchItem[], queueTracks: ReadonlySet<string> | null): Record<string, Reason> {
  // One pass over each, no Map of the old reasons (issue 24: this was ~3% of the server's CPU
  // under 8 listeners, an extend merging 50 into up to 200).
  const fresh = new Map<string, Reason>();
  for (const i of items) {
    fresh.delete(i.trackId);
    fresh.set(i.trackId, i.reason);
  }
  const kept: [string, Reason][] = [];
  if (old) for (const t of Object.keys(old)) if (!fresh.has(t) && (queueTracks === null || queueTracks.has(t))) kept.push([t, old[t]!]);
  for (const [t, r] of fresh) if (queueTracks === null || queueTracks.has(t)) kept.push([t, r]);
  return Object.fromEntries(kept.length > MAX_REASONS ? kept.slice(-MAX_REASONS) : kept);
}
