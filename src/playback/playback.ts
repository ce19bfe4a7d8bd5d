// The playback domain: what each device last reported, which device is active, and
// the pure decider that turns a write or a transfer into one user sync event.
// Nothing here does I/O; the server time arrives as a parameter.
import { conflict, invalid, notFound } from '../errors.ts';

export * from '../model/playback.ts';
import type { NewPlaybackRecord, PlaybackEventType, PlaybackRecord, PlaybackState } from '../model/playback.ts';

export interface PlaybackDecision {
  type: PlaybackEventType;
  data: Record<string, unknown>;
  record: NewPlaybackRecord;
}

/** The state answered by the API: the stored state plus when, from where, and at what sequence. */
export interface PlaybackView extends PlaybackState {
  updatedAt: string;
  serverTime: string;
  activeDeviceId: string | null;
  sequenceNumber: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The largest distance from the epoch a JavaScript Date can hold, in ms. */
export const MAX_EPOCH_MS = 8.64e15;

/** A client time, ISO string or epoch ms, as whole epoch ms (sub-ms precision is dropped). */
export function parseClientTime(t: string | number): number {
  const ms = typeof t === 'number' ? Math.floor(t) : Date.parse(t);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_EPOCH_MS) {
    throw invalid('invalid_timestamp', 'timestamp must be an ISO 8601 date-time or epoch milliseconds', { timestamp: t });
  }
  return ms;
}

/** The active device wrote last: highest sequence number (a transfer writes the target's record). */
export function activeRecord(records: readonly PlaybackRecord[]): PlaybackRecord | null {
  let best: PlaybackRecord | null = null;
  for (const r of records) if (!best || r.sequenceNumber > best.sequenceNumber) best = r;
  return best;
}

/** The newest state by server time among devices other than `excludeDeviceId` (sequence breaks ties). */
export function latestRecord(records: readonly PlaybackRecord[], excludeDeviceId?: string): PlaybackRecord | null {
  let best: PlaybackRecord | null = null;
  for (const r of records) {
    if (r.deviceId === excludeDeviceId) continue;
    if (!best || r.serverTs > best.serverTs || (r.serverTs === best.serverTs && r.sequenceNumber > best.sequenceNumber)) best = r;
  }
  return best;
}

/**
 * Where playback is at `now`: while playing, the position moves on at `rate` from the
 * server time of the write. A `now` before the write (clocks of two instances) counts as no time.
 */
export function extrapolate(state: Pick<PlaybackState, 'position' | 'isPlaying' | 'rate'>, serverTs: number, now: number): number {
  if (!state.isPlaying) return state.position;
  return state.position + (Math.max(0, now - serverTs) / 1000) * state.rate;
}

/** A write from `state.deviceId`, decided against every device's stored record. */
export function decideWrite(records: readonly PlaybackRecord[], state: PlaybackState, clientTs: number, now: number): PlaybackDecision {
  const own = records.find((r) => r.deviceId === state.deviceId);
  // Only the device's own earlier write can make this one stale: another device's clock
  // says nothing about this one's, and a handoff must never be refused for clock skew.
  if (own && clientTs < own.clientTs) {
    throw conflict('stale_playback_state', 'this device already stored a newer playback state', {
      storedTimestamp: iso(own.clientTs),
      receivedTimestamp: iso(clientTs),
    });
  }
  const record: NewPlaybackRecord = { deviceId: state.deviceId, state, clientTs, serverTs: now };
  const active = activeRecord(records);
  if (active && active.deviceId !== state.deviceId) {
    return { type: 'playback_transferred', data: { fromDeviceId: active.deviceId, toDeviceId: state.deviceId, state }, record };
  }
  return { type: 'playback_sync', data: { state }, record };
}

/**
 * Move the current playback to `targetDeviceId`: the newest state with its position carried
 * to `now`, playing when `play` says so (else as it was). The caller checks the target is known.
 */
export function decideTransfer(records: readonly PlaybackRecord[], targetDeviceId: string, play: boolean | undefined, now: number): PlaybackDecision {
  const current = latestRecord(records);
  if (!current) throw notFound('no_playback_state', 'there is no playback state to transfer');
  const from = activeRecord(records)!.deviceId;
  const state: PlaybackState = {
    ...current.state,
    position: extrapolate(current.state, current.serverTs, now),
    isPlaying: play ?? current.state.isPlaying,
    deviceId: targetDeviceId,
    timestamp: iso(now),
  };
  const target = records.find((r) => r.deviceId === targetDeviceId);
  return {
    type: 'playback_transferred',
    data: { fromDeviceId: from, toDeviceId: targetDeviceId, state },
    // A target that never wrote gets the earliest client time, so its first own write is never stale.
    record: { deviceId: targetDeviceId, state, clientTs: target?.clientTs ?? -MAX_EPOCH_MS, serverTs: now },
  };
}

/** The API's view of a record at `now`, with the position extrapolated to then. */
export function toView(record: PlaybackRecord, activeDeviceId: string | null, now: number): PlaybackView {
  return {
    ...record.state,
    position: extrapolate(record.state, record.serverTs, now),
    updatedAt: iso(record.serverTs),
    serverTime: iso(Math.max(now, record.serverTs)),
    activeDeviceId,
    sequenceNumber: record.sequenceNumber,
  };
}
