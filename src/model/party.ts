// The shapes of a listening party as stored and carried: its state, its events and their
// payloads, and the timeline. Types only, no behaviour and no imports (see
// model/queue.ts): the party domain re-exports them, the bus carries the events.

/** From server time `at` on, playback is at `position` and advances at `rate` while playing. */
export interface Timeline {
  position: number;
  at: number;
  isPlaying: boolean;
  rate: number;
  itemId: string | null;
}

export type PartyStatus = 'active' | 'ended';

export interface PartyMember {
  userId: string;
  joinedAt: string;
  deviceInfo: Record<string, unknown>;
}

/** The party timeline plus what it plays. */
export interface PartyPlayback extends Timeline {
  trackId: string | null;
  /** The event that set it (0 before any). */
  sequenceNumber: number;
}

export interface PartyState {
  id: string;
  queueId: string;
  /** Who created the party; queue edits made for the party run as this user (the host's queue). */
  createdBy: string;
  hostId: string;
  inviteCode: string;
  allowMemberAdds: boolean;
  status: PartyStatus;
  /** Sequence number of the last event. */
  version: number;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  /** Current members in join order; the host is one of them. */
  members: PartyMember[];
  playback: PartyPlayback;
}

export type PlaybackAction = 'play' | 'pause' | 'seek' | 'next' | 'previous' | 'set_item' | 'sync';

export interface PartyEventData {
  party_created: { queueId: string; hostId: string; inviteCode: string; allowMemberAdds: boolean; playback: Omit<PartyPlayback, 'sequenceNumber'> };
  member_joined: { userId: string; deviceInfo: Record<string, unknown> };
  member_left: { userId: string; reason: 'left' };
  host_changed: { hostId: string; previousHostId: string; reason: 'handed_over' | 'host_left' };
  settings_changed: { allowMemberAdds: boolean };
  playback_sync: Omit<PartyPlayback, 'sequenceNumber'> & { action: PlaybackAction; leadMs: number; hostId: string };
  party_ended: { reason: 'ended_by_host' | 'empty' };
}

export type PartyEventType = keyof PartyEventData;
export type PartyEventBody = { [K in PartyEventType]: { type: K; data: PartyEventData[K] } }[PartyEventType];

/** A stored party event: the body plus its envelope. */
export type PartyEvent = PartyEventBody & {
  partyId: string;
  sequenceNumber: number;
  /** Who caused it. */
  userId: string;
  deviceId: string | null;
  /** ISO 8601, server time. */
  timestamp: string;
};
