// TypeBox schemas of the queue API: they validate requests and generate OpenAPI.
import { Type, type TLiteral } from '@sinclair/typebox';
import { MutationFields } from '../http/schemas.ts';
import { MAX_TRACK_ID_LENGTH } from './decide.ts';
import { COLLABORATOR_ROLES, DEFAULT_WINDOW, JOIN_VIA, MAX_WINDOW, QUEUE_EVENT_TYPES, QUEUE_TYPES, REPEAT_MODES } from './queue.ts';
import { USER_ID_PATTERN, WIRE_LIMITS } from '../model/wire.ts';

const literalUnion = <T extends string>(values: readonly T[], description?: string) =>
  Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T>[], description ? { description } : {});

export const TrackId = Type.String({ minLength: 1, maxLength: MAX_TRACK_ID_LENGTH, description: "An opaque id from the app's catalog" });
export const Tracks = Type.Array(TrackId, { maxItems: WIRE_LIMITS.tracksPerAdd });
/** Queue and item ids: server-made UUIDs; the pattern keeps odd bytes out of the stores. */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });
const ItemId = Id;
/** Sequence numbers are 32-bit in the stores. */
export const MAX_SEQUENCE = 2_147_483_647;
const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON kept with the queue' });

export const QueueIdParams = Type.Object({ queueId: Id });
export const ItemParams = Type.Object({ queueId: Id, itemId: ItemId });

const Placement = {
  position: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'Index in the play order; past the end appends' })),
  afterItemId: Type.Optional(ItemId),
  beforeItemId: Type.Optional(ItemId),
};

export const QueueItemSchema = Type.Object({
  itemId: Type.String(),
  trackId: Type.String(),
  addedBy: Type.String(),
  addedAt: Type.String({ format: 'date-time' }),
});

export const QueueWindowSchema = Type.Object(
  {
    offset: Type.Integer({ description: 'Index in the play order of the first item of `items`' }),
    limit: Type.Integer({ description: 'The most items this window could hold' }),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` to read the items after this window; null at the end ([QW3])' }),
  },
  { $id: 'QueueWindow' },
);

/** [QW2] Which window of the items GET /queues/{id} answers; at most one of offset, after, around, cursor. */
export const WindowQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WINDOW, default: DEFAULT_WINDOW, description: 'Items in the window (at most 1,000)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'Start at this index of the play order' })),
  after: Type.Optional(ItemId),
  around: Type.Optional(Type.Literal('current', { description: 'Centre the window on the current item' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 600, description: 'A nextCursor from an earlier window' })),
  keys: Type.Optional(
    Type.Boolean({
      description: 'Also answer `itemKeys`: the order keys of the window items, as in a socket snapshot ([QW7]), for clients that keep their own copy',
    }),
  ),
});

/** Order keys of a window's items (itemId -> {key, shuffleKey?}): what later item_added / item_moved events place against. */
export const ItemKeysSchema = Type.Record(Type.String(), Type.Object({ key: Type.String(), shuffleKey: Type.Optional(Type.String()) }), {
  description: 'itemId -> order keys of the window items (only with ?keys=true)',
});

export const QueueSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    type: literalUnion(QUEUE_TYPES),
    ownerId: Type.String(),
    version: Type.Integer({ description: 'Sequence number of the last event' }),
    itemCount: Type.Integer({ description: 'Items in the whole queue; `items` holds a window of them ([QW1])' }),
    items: Type.Array(QueueItemSchema, { description: 'A window of the play order (shuffled order while shuffle is on): by default its first 200 items' }),
    window: Type.Ref('QueueWindow'),
    currentItemId: Type.Union([Type.String(), Type.Null()]),
    currentIndex: Type.Union([Type.Integer(), Type.Null()]),
    shuffle: Type.Boolean(),
    repeat: literalUnion(REPEAT_MODES),
    history: Type.Array(Type.Object({ itemId: Type.String(), trackId: Type.String(), playedAt: Type.String() }), {
      description: 'Items played before, most recent last (at most 100)',
    }),
    metadata: Metadata,
    isPublic: Type.Boolean({ description: 'Readable by any user (as a viewer) and joinable as a viewer' }),
    settings: Type.Object({
      fairOrder: Type.Boolean({ description: "Adds without a placement interleave contributors' tracks round-robin" }),
      voteOrder: Type.Boolean({ description: 'Upcoming items are ordered by vote score' }),
    }),
    collaborators: Type.Array(Type.Ref('Collaborator'), { description: 'Everyone but the owner, in join order' }),
    votes: Type.Array(
      Type.Object({ itemId: Type.String(), score: Type.Integer(), votes: Type.Array(Type.Object({ userId: Type.String(), vote: Type.Integer() })) }),
      { description: 'Items of the window that have votes, in play order' },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Queue' },
);

export const UserId = Type.String({ pattern: USER_ID_PATTERN, description: 'A user id, as in tokens' });
export const CollaboratorRoleSchema = literalUnion(
  COLLABORATOR_ROLES,
  'admin: manage contributors and viewers, edit, control; contributor: add, remove/move own additions, vote; viewer: read',
);

export const CollaboratorSchema = Type.Object(
  {
    userId: Type.String(),
    role: CollaboratorRoleSchema,
    via: literalUnion(JOIN_VIA, 'How they joined'),
    joinedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Collaborator' },
);

export const EventSchema = Type.Object(
  {
    sequenceNumber: Type.Integer({ description: 'Gapless per queue; equals the queue version after the event' }),
    type: literalUnion(QUEUE_EVENT_TYPES),
    queueId: Type.String(),
    userId: Type.String(),
    deviceId: Type.Union([Type.String(), Type.Null()]),
    timestamp: Type.String({ format: 'date-time', description: 'Server time of the append' }),
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { $id: 'QueueEvent' },
);

export const WriteResponse = Type.Object({
  queue: Type.Optional(Type.Ref('Queue', { description: 'The header and the default window after the write; left out with Prefer: return=minimal ([QW5])' })),
  events: Type.Array(Type.Ref('QueueEvent'), { description: 'The events this request appended (empty when nothing changed)' }),
  version: Type.Integer({ description: 'The queue version after the write' }),
});

export const CreateQueueBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.Optional(literalUnion(QUEUE_TYPES)),
    tracks: Type.Optional(Tracks),
    metadata: Type.Optional(Metadata),
    mutationId: MutationFields.mutationId,
  },
  { additionalProperties: false },
);

export const UpdateQueueBody = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), metadata: Type.Optional(Metadata), ...MutationFields },
  { additionalProperties: false },
);

export const AddTracksBody = Type.Object(
  { tracks: Tracks, ...Placement, addedBy: Type.Optional(Type.String({ description: 'Must be the caller when given' })), ...MutationFields },
  { additionalProperties: false },
);

export const RemoveItemsBody = Type.Object(
  { itemIds: Type.Array(ItemId, { minItems: 1, maxItems: WIRE_LIMITS.tracksPerAdd }), ...MutationFields },
  { additionalProperties: false },
);

export const MoveItemBody = Type.Object({ ...Placement, ...MutationFields }, { additionalProperties: false });
export const ClearBody = Type.Object(
  { upcomingOnly: Type.Optional(Type.Boolean({ description: 'Keep the current item and those before it' })), ...MutationFields },
  { additionalProperties: false },
);
export const ShuffleBody = Type.Object({ shuffle: Type.Boolean(), ...MutationFields }, { additionalProperties: false });
export const RepeatBody = Type.Object({ repeat: literalUnion(REPEAT_MODES), ...MutationFields }, { additionalProperties: false });
export const CurrentBody = Type.Object({ itemId: Type.Union([ItemId, Type.Null()]), ...MutationFields }, { additionalProperties: false });
export const NextBody = Type.Object(
  {
    reason: Type.Optional(literalUnion(['user', 'track_end'] as const, "track_end: the track finished (repeat 'one' replays it)")),
    ...MutationFields,
  },
  { additionalProperties: false },
);
export const PreviousBody = Type.Object({ ...MutationFields }, { additionalProperties: false });

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
});

export const ListResponse = Type.Object({
  queues: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      type: Type.String(),
      ownerId: Type.String(),
      version: Type.Integer(),
      itemCount: Type.Integer(),
      updatedAt: Type.String(),
      role: Type.String({ description: "The caller's role: owner, admin, contributor or viewer" }),
    }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const EventsQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, default: 0, description: 'Return events after this sequence number' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: WIRE_LIMITS.eventsPerPage, default: 100 })),
});

export const EventsResponse = Type.Object({
  events: Type.Array(Type.Ref('QueueEvent')),
  version: Type.Integer({ description: 'The queue version now' }),
  nextSince: Type.Integer({ description: 'Pass as since to read the next page' }),
  hasMore: Type.Boolean(),
  logStart: Type.Integer({
    description:
      'The first sequence number still in the log: 1 unless EVENT_RETENTION_DAYS trimmed older events ([QW9]); read the queue itself for the state before it',
  }),
});

// ---- collaboration (docs/SPEC.md [CO1]...) ----

export const CreateCollaborativeBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    tracks: Type.Optional(Tracks),
    isPublic: Type.Optional(Type.Boolean({ default: false })),
    collaborators: Type.Optional(Type.Array(UserId, { maxItems: WIRE_LIMITS.collaboratorsPerQueue, description: 'User ids added as contributors' })),
    metadata: Type.Optional(Metadata),
    mutationId: MutationFields.mutationId,
  },
  { additionalProperties: false },
);

export const UserParams = Type.Object({ queueId: Id, userId: UserId });

export const AddCollaboratorBody = Type.Object({ userId: UserId, permissionLevel: CollaboratorRoleSchema, ...MutationFields }, { additionalProperties: false });
export const SetRoleBody = Type.Object({ permissionLevel: CollaboratorRoleSchema, ...MutationFields }, { additionalProperties: false });
export const EmptyWriteBody = Type.Object({ ...MutationFields }, { additionalProperties: false });
export const TransferBody = Type.Object({ userId: UserId, ...MutationFields }, { additionalProperties: false });
export const VisibilityBody = Type.Object({ isPublic: Type.Boolean(), ...MutationFields }, { additionalProperties: false });
export const SettingsBody = Type.Object(
  { fairOrder: Type.Optional(Type.Boolean()), voteOrder: Type.Optional(Type.Boolean()), ...MutationFields },
  { additionalProperties: false },
);
export const VoteBody = Type.Object(
  { vote: Type.Union([Type.Literal(1), Type.Literal(-1), Type.Literal(0)], { description: '1 up, -1 down, 0 take the vote back' }), ...MutationFields },
  { additionalProperties: false },
);

export const CollaboratorsResponse = Type.Object({
  ownerId: Type.String(),
  isPublic: Type.Boolean(),
  yourRole: Type.String({ description: 'owner, admin, contributor or viewer (public queues: viewer for anyone)' }),
  collaborators: Type.Array(Type.Ref('Collaborator')),
  version: Type.Integer(),
});

export const HistoryQuery = Type.Object({
  before: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SEQUENCE, description: 'Entries with a sequence number below this; default: the newest' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
});

export const HistoryResponse = Type.Object({
  entries: Type.Array(
    Type.Object({
      sequenceNumber: Type.Integer(),
      action: Type.String({ description: 'add_track, remove_track, reorder, clear, or the event type' }),
      userId: Type.String({ description: 'Who did it' }),
      deviceId: Type.Union([Type.String(), Type.Null()]),
      timestamp: Type.String({ format: 'date-time' }),
      itemId: Type.Union([Type.String(), Type.Null()]),
      trackId: Type.Union([Type.String(), Type.Null()]),
      data: Type.Record(Type.String(), Type.Unknown()),
    }),
    { description: 'Newest first' },
  ),
  version: Type.Integer(),
  nextBefore: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as before for the next (older) page; null at the start of the log' }),
  logStart: Type.Integer({ description: 'The first sequence number still in the log (1 unless trimmed, [QW9])' }),
});
