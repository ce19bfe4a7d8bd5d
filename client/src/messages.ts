// What the server sends on its sockets, as the protocol modules define it (src/realtime/protocol.ts,
// src/party/protocol.ts): one discriminated union per socket, and the one place where a frame's
// text becomes a typed message. The server validates what it sends against the same schemas
// (its AsyncAPI document is generated from them), so a frame is trusted once it parses to an
// object with a `type`; anything else is dropped.
import type { Static } from '@sinclair/typebox';
import type {
  HostChangedMessage,
  LatencyPongMessage,
  MemberJoinedMessage,
  MemberLeftMessage,
  PartyCreatedMessage,
  PartyEndedMessage,
  PartyHelloMessage,
  PartySnapshotMessage,
  PartyView,
  PlaybackSyncMessage,
  QueueUpdatedMessage,
  SettingsChangedMessage,
  SyncCorrectionMessage,
  SyncDegradedMessage,
} from '../../src/party/protocol.ts';
import type {
  AckMessage,
  AuthOkMessage,
  ErrorMessage,
  EventMessage,
  HelloMessage,
  PresenceMessage,
  SnapshotMessage,
  SubscribedMessage,
} from '../../src/realtime/protocol.ts';
import type { QueueWindowAnswer } from './api.ts';

export type Ack = Static<typeof AckMessage>;
export type ErrorMsg = Static<typeof ErrorMessage>;
type AuthOk = Static<typeof AuthOkMessage>;

// ---- the sync socket (/ws/sync/{userId}) ----

/** A committed event of the user stream or of a subscribed queue (any `type` but the control messages'). */
export type SyncEvent = Static<typeof EventMessage>;
type Snapshot = Static<typeof SnapshotMessage>;
/**
 * A sync-socket snapshot, by stream: a queue's `data` is its header and window as
 * GET /queues/{id}?keys=true answers it (the schema's description); the user stream's is
 * {playback, devices}.
 */
export type SyncSnapshot =
  | (Omit<Snapshot, 'stream' | 'queueId' | 'data'> & { stream: 'queue'; queueId: string; data: QueueWindowAnswer })
  | (Omit<Snapshot, 'stream' | 'data'> & { stream: 'user'; data: Snapshot['data'] });
/** The sync socket's messages other than events: each with its own literal `type`. */
export type SyncControl =
  | Static<typeof HelloMessage>
  | SyncSnapshot
  | Ack
  | ErrorMsg
  | Static<typeof PresenceMessage>
  | Static<typeof SubscribedMessage>
  | AuthOk;
export type SyncMessage = SyncControl | SyncEvent;

const SYNC_CONTROL: ReadonlySet<string> = new Set<SyncControl['type']>(['hello', 'snapshot', 'ack', 'error', 'presence', 'subscribed', 'auth_ok']);

/** Whether a sync-socket message is a control message (else an event: its `type` is the event's). */
export function isSyncControl(m: SyncMessage): m is SyncControl {
  return SYNC_CONTROL.has(m.type);
}

// ---- the party socket (/ws/party/{partyId}) ----

export type PartyHello = Static<typeof PartyHelloMessage>;
/** A party snapshot: its `data` is the party as GET /parties/{partyId} answers it (the schema's description). */
export type PartySnapshot = Omit<Static<typeof PartySnapshotMessage>, 'data'> & { data: PartyView };
export type PlaybackSync = Static<typeof PlaybackSyncMessage>;
export type MemberJoined = Static<typeof MemberJoinedMessage>;
export type MemberLeft = Static<typeof MemberLeftMessage>;
export type HostChanged = Static<typeof HostChangedMessage>;
export type SettingsChanged = Static<typeof SettingsChangedMessage>;
export type PartyCreated = Static<typeof PartyCreatedMessage>;
export type PartyEnded = Static<typeof PartyEndedMessage>;
export type QueueUpdated = Static<typeof QueueUpdatedMessage>;
export type LatencyPong = Static<typeof LatencyPongMessage>;
export type SyncCorrection = Static<typeof SyncCorrectionMessage>;
export type SyncDegraded = Static<typeof SyncDegradedMessage>;

/** The sequenced party events (flat: the event's data spread over its envelope). */
export type PartySequenced = PlaybackSync | MemberJoined | MemberLeft | HostChanged | SettingsChanged | PartyCreated | PartyEnded;

export type PartyMessage = PartyHello | PartySnapshot | PartySequenced | QueueUpdated | LatencyPong | SyncCorrection | SyncDegraded | Ack | ErrorMsg | AuthOk;

const SEQUENCED: ReadonlySet<string> = new Set<PartySequenced['type']>([
  'party_created',
  'member_joined',
  'member_left',
  'host_changed',
  'settings_changed',
  'playback_sync',
  'party_ended',
]);

export function isPartySequenced(m: PartyMessage): m is PartySequenced {
  return SEQUENCED.has(m.type);
}

// ---- the decoding edge ----

/**
 * A frame's text as a message of the socket's union `M`, or null when it is not JSON or not an
 * object with a string `type`. The one place a parsed frame is taken at the protocol's word.
 */
export function decodeFrame<M extends { type: string }>(data: unknown): M | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof data === 'string' ? data : String(data));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || !('type' in parsed) || typeof parsed.type !== 'string') return null;
  return parsed as M;
}
