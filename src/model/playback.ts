// The shapes of playback as stored and carried: what a device reports, the stored record
// per device, and the events of a user's sync stream. Types and data only, no behaviour
// and no imports (see model/queue.ts): the playback domain re-exports them, the storage
// adapters store them, the bus carries the events.

export const PLAYBACK_EVENT_TYPES = ['playback_sync', 'playback_transferred'] as const;
export type PlaybackEventType = (typeof PLAYBACK_EVENT_TYPES)[number];

/** What a device reports. `timestamp` is the device's own clock (ISO), `position` is in seconds. */
export interface PlaybackState {
  queueId: string | null;
  currentTrackId: string | null;
  itemId: string | null;
  position: number;
  isPlaying: boolean;
  volume: number | null;
  rate: number;
  deviceId: string;
  timestamp: string;
}

/** The stored latest state of one device of a user. */
export interface PlaybackRecord {
  deviceId: string;
  state: PlaybackState;
  /**
   * The device's own clock at its last write (ms), for the stale rule. A transfer to the
   * device does not move it: the server clock is not the device's clock.
   */
  clientTs: number;
  /** Server time of the write (ms): `position` was true at this instant. */
  serverTs: number;
  /** The user sync event that wrote this record. */
  sequenceNumber: number;
}

/** A record as decided, before the store gives it the event's sequence number. */
export type NewPlaybackRecord = Omit<PlaybackRecord, 'sequenceNumber'>;

/** An event of a user's sync stream (playback and devices), gapless per user. */
export type UserEvent = {
  userId: string;
  sequenceNumber: number;
  type: string;
  /** The device that caused the event, when known. */
  deviceId: string | null;
  /** Server time of the append (ISO). */
  timestamp: string;
  data: Record<string, unknown>;
};
