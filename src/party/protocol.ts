// The party socket's messages (WS /ws/party/{partyId}), both directions, and the REST
// schemas of /parties. Served in /asyncapi.json and /openapi.json. Rules: docs/SPEC.md [PA*].
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { PartyState } from '../model/party.ts';
import { AckMessage, AuthMessage, AuthOkMessage, ErrorMessage, PROTOCOL_VERSION } from '../realtime/protocol.ts';

const Ts = (description = 'Epoch milliseconds (server clock)') => Type.Number({ description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const ItemId = Type.String({ minLength: 1, maxLength: 64 });

/** Every sequenced party event carries this envelope. */
const envelope = {
  partyId: Type.String(),
  sequenceNumber: Type.Integer({ description: "The party's own gapless sequence number" }),
  stream: Type.Literal('party'),
  timestamp: Ts('When the server accepted the change (epoch ms, server clock)'),
  userId: Type.String({ description: 'The member concerned (member_*), else who made the change' }),
  deviceId: Nullable(Type.String()),
};

export const TimelineFields = {
  position: Type.Number({ description: 'Playback position in ms at server time `at`' }),
  isPlaying: Type.Boolean(),
  at: Ts('Server time (epoch ms) from which this state holds: every member acts at this instant on its own clock'),
  rate: Type.Number({ description: 'Playback rate from `at` on (1 = normal)' }),
  itemId: Nullable(Type.String()),
  trackId: Nullable(Type.String()),
};

// ---- server -> client ----

export const PartyHelloMessage = Type.Object(
  {
    type: Type.Literal('hello'),
    protocolVersion: Type.Literal(PROTOCOL_VERSION),
    connectionId: Type.String(),
    userId: Type.String(),
    deviceId: Type.String(),
    stream: Type.Literal('party'),
    streamId: Type.String({ description: 'The party id' }),
    sequenceNumber: Type.Integer({ description: "The party's head when the socket opened" }),
    serverTime: Ts(),
  },
  { $id: 'PartyHelloMessage', description: 'First message on a party socket [PA2]' },
);

export const PartySnapshotMessage = Type.Object(
  {
    type: Type.Literal('snapshot'),
    stream: Type.Literal('party'),
    partyId: Type.String(),
    sequenceNumber: Type.Integer(),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description: 'The party as GET /parties/{partyId} answers it, with playback.positionNow at playback.serverTime',
    }),
    reason: Type.Union([Type.Literal('initial'), Type.Literal('too_far_behind'), Type.Literal('ahead_of_server')]),
  },
  { $id: 'PartySnapshotMessage', description: 'The party state instead of a replay; gives the exact position for now [PA4]' },
);

export const PlaybackSyncMessage = Type.Object(
  {
    type: Type.Literal('playback_sync'),
    ...envelope,
    ...TimelineFields,
    action: Type.String({ description: 'play, pause, seek, next, previous, set_item or sync' }),
    leadMs: Type.Number({ description: "How far ahead of `timestamp` it was scheduled: the slowest member's one-way delay plus a margin" }),
    hostId: Type.String(),
  },
  { $id: 'PlaybackSyncMessage', description: "The host's command, scheduled ahead: from server time `at` play `position` at `rate` [PA7]" },
);

export const MemberJoinedMessage = Type.Object(
  { type: Type.Literal('member_joined'), ...envelope, deviceInfo: Type.Record(Type.String(), Type.Unknown()) },
  { $id: 'MemberJoinedMessage', description: 'A member joined (with the invite code) [PA1]' },
);

export const MemberLeftMessage = Type.Object(
  { type: Type.Literal('member_left'), ...envelope, reason: Type.Literal('left') },
  { $id: 'MemberLeftMessage', description: "A member left; the member's own sockets are closed after it [PA3]" },
);

export const HostChangedMessage = Type.Object(
  {
    type: Type.Literal('host_changed'),
    ...envelope,
    hostId: Type.String(),
    previousHostId: Type.String(),
    reason: Type.Union([Type.Literal('handed_over'), Type.Literal('host_left')]),
  },
  { $id: 'HostChangedMessage', description: 'Hosting moved to another member [PA3]' },
);

export const SettingsChangedMessage = Type.Object(
  { type: Type.Literal('settings_changed'), ...envelope, allowMemberAdds: Type.Boolean() },
  { $id: 'SettingsChangedMessage', description: 'The host let members add tracks, or stopped it [PA5]' },
);

export const PartyCreatedMessage = Type.Object(
  {
    type: Type.Literal('party_created'),
    ...envelope,
    queueId: Type.String(),
    hostId: Type.String(),
    inviteCode: Type.String(),
    allowMemberAdds: Type.Boolean(),
    playback: Type.Object(TimelineFields),
  },
  { $id: 'PartyCreatedMessage', description: 'Sequence number 1 of every party (seen when replaying from 0)' },
);

export const PartyEndedMessage = Type.Object(
  { type: Type.Literal('party_ended'), ...envelope, reason: Type.Union([Type.Literal('ended_by_host'), Type.Literal('empty')]) },
  { $id: 'PartyEndedMessage', description: 'The party is over; sockets are closed with 4404 after it [PA3]' },
);

export const QueueUpdatedMessage = Type.Object(
  {
    type: Type.Literal('queue_updated'),
    partyId: Type.String(),
    queueId: Type.String(),
    queueVersion: Type.Integer({ description: "The queue's own sequence number; keep the highest" }),
    currentItemId: Nullable(Type.String()),
    itemCount: Type.Integer({ description: 'Items in the whole party queue' }),
    window: Nullable(
      Type.Object(
        { offset: Type.Integer(), limit: Type.Integer(), nextCursor: Nullable(Type.String()) },
        { description: 'Where `tracks` sits in the play order; page the rest over GET /queues/{id}?cursor= ([QW7])' },
      ),
    ),
    tracks: Type.Array(Type.Object({ itemId: Type.String(), trackId: Type.String(), addedBy: Type.String() }), {
      description: 'Up to 200 items of the party queue in play order, around the current one',
    }),
    timestamp: Ts(),
  },
  { $id: 'QueueUpdatedMessage', description: 'The party queue changed (sent on connect, then after each change); not in the party sequence [PA5]' },
);

export const LatencyPongMessage = Type.Object(
  {
    type: Type.Literal('latency_measurement'),
    ping: Type.Number({ description: "The member's ping, echoed" }),
    pong: Type.Number({ description: 'Server clock (epoch ms) when the ping was answered' }),
  },
  { $id: 'LatencyPongMessage', description: 'Answer to a ping, sent at once [PA6]' },
);

export const SyncCorrectionMessage = Type.Object(
  {
    type: Type.Literal('sync_correction'),
    partyId: Type.String(),
    action: Type.Union([Type.Literal('seek'), Type.Literal('rate')], {
      description: 'seek: jump to the timeline position for now; rate: play at rate * adjustRate for durationMs',
    }),
    errorMs: Type.Number({ description: 'How far the reported position was off (positive: ahead)' }),
    adjustRate: Type.Optional(Type.Number()),
    durationMs: Type.Optional(Type.Number()),
    ...TimelineFields,
    sequenceNumber: Type.Integer({ description: 'The playback_sync the timeline comes from' }),
    followDelayMs: Type.Number({ description: 'The member plays this far behind the timeline (0 unless degraded)' }),
    serverTime: Ts(),
  },
  { $id: 'SyncCorrectionMessage', description: 'A position report was off by more than the threshold [PA9]' },
);

export const SyncDegradedMessage = Type.Object(
  {
    type: Type.Literal('sync_degraded'),
    partyId: Type.String(),
    degraded: Type.Boolean({ description: 'false: the link recovered and the member follows the timeline exactly again' }),
    followDelayMs: Type.Number({ description: 'Play the timeline this many ms late: position(at server time t - followDelayMs)' }),
    oneWayMs: Type.Number({ description: "The member's measured server-to-member delay (p90)" }),
    maxLeadMs: Type.Number({ description: 'The most the party waits for a member' }),
  },
  { $id: 'SyncDegradedMessage', description: "The member's link is too slow for the party schedule; it follows with a bigger delay [PA8]" },
);

// ---- client -> server ----

/** A member's clock reading in ms: any value a double holds exactly (its epoch may be anything). */
const ClientClock = (description?: string) =>
  Type.Number({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, ...(description ? { description } : {}) });

export const LatencyPingMessage = Type.Object(
  {
    type: Type.Literal('latency_measurement'),
    ping: ClientClock("The member's clock (ms) when sending"),
    prev: Type.Optional(
      Type.Object(
        {
          ping: ClientClock(),
          pong: ClientClock(),
          received: ClientClock("The member's clock when that pong arrived"),
        },
        { additionalProperties: false, description: "The previous exchange, so the server can estimate this member's clock offset and delays too" },
      ),
    ),
  },
  { $id: 'LatencyPingMessage', additionalProperties: false, description: 'NTP-style clock exchange: answered at once with the server clock [PA6]' },
);

export const PlaybackSyncCommand = Type.Object(
  {
    type: Type.Literal('playback_sync'),
    mutationId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          'Echoed in the ack; the command is applied at most once per member and mutationId, a repeat answers the first ack with replayed: true [PA11]',
      }),
    ),
    action: Type.Optional(
      Type.Union([Type.Literal('play'), Type.Literal('pause'), Type.Literal('seek'), Type.Literal('next'), Type.Literal('previous'), Type.Literal('sync')]),
    ),
    position: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400_000 })),
    isPlaying: Type.Optional(Type.Boolean()),
    rate: Type.Optional(Type.Number({ minimum: 0.25, maximum: 4 })),
    itemId: Type.Optional(ItemId),
  },
  {
    $id: 'PlaybackSyncCommand',
    additionalProperties: false,
    description: 'Host only: play, pause, seek, next... Absent fields keep their value; the answer is an ack with the sequence number and `at` [PA7]',
  },
);

export const PositionReportMessage = Type.Object(
  {
    type: Type.Literal('position_report'),
    position: Type.Number({ minimum: 0, maximum: 86_400_000, description: "The member player's position (ms)..." }),
    timestamp: ClientClock("...at this time on the member's clock"),
    itemId: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  },
  { $id: 'PositionReportMessage', additionalProperties: false, description: 'Answered with sync_correction when off by more than the threshold [PA9]' },
);

export const PartyClientMessage = Type.Union([LatencyPingMessage, PlaybackSyncCommand, PositionReportMessage, AuthMessage]);
export type PartyClientMessage = Static<typeof PartyClientMessage>;

export const partyServerMessages: TSchema[] = [
  PartyHelloMessage,
  PartySnapshotMessage,
  PlaybackSyncMessage,
  MemberJoinedMessage,
  MemberLeftMessage,
  HostChangedMessage,
  SettingsChangedMessage,
  PartyCreatedMessage,
  PartyEndedMessage,
  QueueUpdatedMessage,
  LatencyPongMessage,
  SyncCorrectionMessage,
  SyncDegradedMessage,
  AckMessage,
  ErrorMessage,
  AuthOkMessage,
];
export const partyClientMessages: TSchema[] = [LatencyPingMessage, PlaybackSyncCommand, PositionReportMessage, AuthMessage];

// ---- REST ----

const DeviceLink = Type.Object({
  deviceId: Type.String(),
  connectionId: Type.String(),
  offsetMs: Type.Number({ description: "Server clock minus the device's clock, as the server estimates it" }),
  rttMs: Type.Number(),
  oneWayMs: Type.Number({ description: 'Server-to-device delay planned for (p90)' }),
  degraded: Type.Boolean(),
  followDelayMs: Type.Number(),
  samples: Type.Integer(),
  positionErrorMs: Nullable(
    Type.Number({
      description:
        "[PA9] The device's latest position error as the server measured it from its position_report: its player's position minus the party timeline's at that moment, in ms (+ = ahead); null before its first report",
    }),
  ),
  positionErrorAt: Nullable(Ts('When the server measured positionErrorMs (server time)')),
});

export interface PartyDeviceView {
  deviceId: string;
  connectionId: string;
  offsetMs: number;
  rttMs: number;
  oneWayMs: number;
  degraded: boolean;
  followDelayMs: number;
  samples: number;
  /** [PA9] The latest position error measured from the device's reports (ms), null before any. */
  positionErrorMs: number | null;
  /** Server time (epoch ms) of that measurement. */
  positionErrorAt: number | null;
}

/** The public shape of a party ([PA1]). */
export interface PartyView {
  id: string;
  queueId: string;
  hostId: string;
  createdBy: string;
  inviteCode: string;
  allowMemberAdds: boolean;
  status: 'active' | 'ended';
  sequenceNumber: number;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  playback: PartyState['playback'] & { serverTime: number; positionNow: number };
  members: { userId: string; joinedAt: string; isHost: boolean; online: boolean; deviceInfo: Record<string, unknown>; devices: PartyDeviceView[] }[];
}

export const PartySchema = Type.Object({
  id: Type.String(),
  queueId: Type.String(),
  hostId: Type.String(),
  createdBy: Type.String(),
  inviteCode: Type.String({ description: 'Give it to friends: POST /parties/{id}/join {inviteCode}' }),
  allowMemberAdds: Type.Boolean(),
  status: Type.Union([Type.Literal('active'), Type.Literal('ended')]),
  sequenceNumber: Type.Integer({ description: "The party's last sequence number" }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  endedAt: Nullable(Type.String()),
  playback: Type.Object({
    ...TimelineFields,
    sequenceNumber: Type.Integer(),
    serverTime: Ts('When this answer was made'),
    positionNow: Type.Number({ description: 'The position at serverTime' }),
  }),
  members: Type.Array(
    Type.Object({
      userId: Type.String(),
      joinedAt: Type.String(),
      isHost: Type.Boolean(),
      online: Type.Boolean({ description: 'A party socket of the member is open on some instance' }),
      deviceInfo: Type.Record(Type.String(), Type.Unknown()),
      devices: Type.Array(DeviceLink),
    }),
  ),
});

export const PartyIdParams = Type.Object({ partyId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }) });

export const CreatePartyBody = Type.Object(
  { queueId: Type.String({ minLength: 1, maxLength: 64 }), allowMemberAdds: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

export const JoinPartyBody = Type.Object(
  { inviteCode: Type.String({ minLength: 1, maxLength: 64 }), deviceInfo: Type.Optional(Type.Record(Type.String(), Type.Unknown())) },
  { additionalProperties: false },
);

export const HostBody = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

export const SettingsBody = Type.Object({ allowMemberAdds: Type.Boolean() }, { additionalProperties: false });

/** A copy without its $id, for use in a second validator (ids must be unique per validator). */
function withoutId<T extends TSchema>(s: T): T {
  const { $id: _id, ...rest } = s;
  return rest as T;
}

export const PlaybackBody = withoutId(Type.Omit(PlaybackSyncCommand, ['type', 'mutationId'], { additionalProperties: false }));

export const PlaybackResponse = withoutId(PlaybackSyncMessage);
