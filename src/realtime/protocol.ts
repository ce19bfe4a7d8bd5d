// The WebSocket protocol, both directions, in one place. Rules are in docs/SPEC.md
// (ids like [RT3]); the AsyncAPI document at /asyncapi.json is generated from these schemas.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AppError, statusOf } from '../errors.ts';

export const PROTOCOL_VERSION = 1;

/** Close codes: one table, documented in docs/SPEC.md and the AsyncAPI file. */
export const CloseCode = {
  normal: 1000, // e.g. the member left the party (party socket)
  goingAway: 1001, // the server is shutting down; reconnect with ?since
  slowConsumer: 4008, // the per-socket send buffer passed its bound
  /** Reserved, never sent: a bad `since` or other bad connect parameter is refused at the upgrade (HTTP 400). */
  badRequest: 4400,
  unauthorized: 4401, // the token expired while connected (seen at the next heartbeat), or was revoked [AU10]
  forbidden: 4403, // e.g. access to the queue was revoked (docs/SPEC.md [CO12])
  notFound: 4404, // the queue was deleted (queue socket), or the party ended (party socket)
  heartbeatTimeout: 4408, // no pong within the heartbeat interval
  tooManyMessages: 4429,
} as const;

/** Past this many missed events a resuming client gets one snapshot instead of the replay. */
export const DEFAULT_REPLAY_CAP = 500;

const Ts = Type.Number({ description: 'Epoch milliseconds (server clock)' });
const ErrorObject = Type.Object({ code: Type.String(), message: Type.String(), details: Type.Record(Type.String(), Type.Unknown()) });

/** The seed's QueueSyncMessage: every event of a stream is delivered in this envelope. */
export const EventMessage = Type.Object(
  {
    type: Type.String({ description: 'The event type: item_added, item_removed, item_moved, queue_cleared, ..., playback_sync, playback_transferred' }),
    queueId: Type.Union([Type.String(), Type.Null()]),
    userId: Type.String({ description: 'Who made the change' }),
    deviceId: Type.Union([Type.String(), Type.Null()]),
    timestamp: Ts,
    data: Type.Record(Type.String(), Type.Unknown()),
    sequenceNumber: Type.Integer({ description: "The stream's own gapless sequence number (the queue's version on queue streams)" }),
    stream: Type.Union([Type.Literal('queue'), Type.Literal('user')], { description: 'Which stream the sequence number belongs to' }),
  },
  { $id: 'EventMessage', description: 'A committed event, in order, never twice [RT2][RT4]' },
);

export const HelloMessage = Type.Object(
  {
    type: Type.Literal('hello'),
    protocolVersion: Type.Literal(PROTOCOL_VERSION),
    connectionId: Type.String(),
    userId: Type.String(),
    deviceId: Type.String({ description: 'The deviceId query parameter, or a generated one for this connection' }),
    stream: Type.Union([Type.Literal('queue'), Type.Literal('user')]),
    streamId: Type.String(),
    sequenceNumber: Type.Integer({ description: 'The stream head when the socket opened' }),
    serverTime: Ts,
  },
  { $id: 'HelloMessage', description: 'First message on every socket [RT1]' },
);

export const SnapshotMessage = Type.Object(
  {
    type: Type.Literal('snapshot'),
    stream: Type.Union([Type.Literal('queue'), Type.Literal('user')]),
    queueId: Type.Union([Type.String(), Type.Null()]),
    sequenceNumber: Type.Integer({ description: 'The state is as of this sequence number; events after it follow' }),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'queue: the header and the default window of items (the first 200; itemCount is the whole size, window.nextCursor pages the rest over GET /queues/{id}?cursor= [QW7]) plus itemKeys (itemId -> {key, shuffleKey?}: the order keys of the window items); user: {playback, devices}',
    }),
    reason: Type.Union([Type.Literal('initial'), Type.Literal('too_far_behind'), Type.Literal('ahead_of_server'), Type.Literal('log_trimmed')]),
  },
  { $id: 'SnapshotMessage', description: 'Current state instead of a replay [RT3]' },
);

export const AckMessage = Type.Object(
  {
    type: Type.Literal('ack'),
    mutationId: Type.String(),
    queueId: Type.Union([Type.String(), Type.Null()]),
    sequenceNumbers: Type.Array(Type.Integer(), { description: 'Assigned to the events of this command (empty if nothing changed)' }),
    version: Type.Integer(),
    replayed: Type.Boolean({ description: 'True when the mutation id had been applied before' }),
    result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    events: Type.Optional(
      Type.Array(Type.Record(Type.String(), Type.Unknown()), {
        description: 'Queue commands: the events appended (item ids, order keys), which are not sent back as new [RT5]',
      }),
    ),
  },
  { $id: 'AckMessage', description: "Answer to the socket's own command; its events are not sent back as new [RT5]" },
);

export const ErrorMessage = Type.Object(
  {
    type: Type.Literal('error'),
    mutationId: Type.Union([Type.String(), Type.Null()]),
    status: Type.Integer({ description: 'The HTTP status the same refusal gets from the REST API (404, 409, 429, ...)' }),
    error: ErrorObject,
  },
  { $id: 'ErrorMessage', description: 'A command or message that was refused; the socket stays open' },
);

/** The error message for a refusal (an AppError; anything else is an internal error, its text hidden). */
export function errorMessage(mutationId: string | null, err: unknown): Static<typeof ErrorMessage> {
  const e = err instanceof AppError ? err : new AppError('unavailable', 'internal', 'internal error');
  return { type: 'error', mutationId, status: statusOf[e.kind], error: { code: e.code, message: e.message, details: e.details } };
}

export const PresenceMessage = Type.Object(
  {
    type: Type.Literal('presence'),
    queueId: Type.Union([Type.String(), Type.Null()]),
    userId: Type.String(),
    deviceId: Type.String(),
    online: Type.Boolean(),
    timestamp: Ts,
  },
  { $id: 'PresenceMessage', description: 'A device of the user came online or went offline (not sequenced) [RT8]' },
);

export const SubscribedMessage = Type.Object(
  { type: Type.Literal('subscribed'), queueId: Type.String(), sequenceNumber: Type.Integer() },
  { $id: 'SubscribedMessage', description: 'A queue subscription on the sync socket is live' },
);

// ---- client -> server ----

export const CommandMessage = Type.Object(
  {
    type: Type.Literal('command'),
    mutationId: Type.String({ minLength: 1, maxLength: 200, description: 'Idempotency key: a retried command is applied once' }),
    op: Type.String({
      description:
        'add_tracks, remove_item, remove_items, move_item, clear, set_shuffle, set_repeat, set_current, next, previous, update_queue, delete_queue, ' +
        'vote_item, add_collaborator, set_collaborator_role, remove_collaborator, leave_queue, join_queue, transfer_ownership, set_visibility, update_settings, set_playback',
    }),
    queueId: Type.Optional(Type.String({ maxLength: 64, description: 'Required on the sync socket for queue ops; defaults to the socket queue' })),
    args: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'The REST body of the same operation' })),
  },
  { $id: 'CommandMessage', description: 'Same validation and permissions as REST [RT6]' },
);

export const SubscribeMessage = Type.Object(
  {
    type: Type.Literal('subscribe'),
    queueId: Type.String({ maxLength: 64 }),
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  },
  { $id: 'SubscribeMessage', description: "Sync socket only: also receive one queue's events (replay after since, as [RT2])" },
);

export const UnsubscribeMessage = Type.Object({ type: Type.Literal('unsubscribe'), queueId: Type.String({ maxLength: 64 }) }, { $id: 'UnsubscribeMessage' });

/** [AU11] A fresh token for an open socket, so a short-lived token does not cost a reconnect. */
export const AuthMessage = Type.Object(
  {
    type: Type.Literal('auth'),
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    mutationId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Echoed in auth_ok or the error, to tell the answer from others' })),
  },
  {
    $id: 'AuthMessage',
    additionalProperties: false,
    description:
      'A new token for the same user (any socket): the socket takes its expiry and scopes; answered auth_ok, or error (the old token stays in force until it expires) [AU11]',
  },
);

export const AuthOkMessage = Type.Object(
  {
    type: Type.Literal('auth_ok'),
    mutationId: Type.Union([Type.String(), Type.Null()]),
    expiresAt: Type.Union([Ts, Type.Null()], { description: "When the socket's token now expires" }),
    scopes: Type.Union([Type.Array(Type.String()), Type.Null()], { description: "null: the user's full rights" }),
  },
  { $id: 'AuthOkMessage', description: 'The socket now runs on the token of the last auth message [AU11]' },
);

export const ClientMessage = Type.Union([CommandMessage, SubscribeMessage, UnsubscribeMessage, AuthMessage]);
export type ClientMessage = Static<typeof ClientMessage>;

export const serverMessages: TSchema[] = [
  HelloMessage,
  EventMessage,
  SnapshotMessage,
  AckMessage,
  ErrorMessage,
  PresenceMessage,
  SubscribedMessage,
  AuthOkMessage,
];
export const clientMessages: TSchema[] = [CommandMessage, SubscribeMessage, UnsubscribeMessage, AuthMessage];
