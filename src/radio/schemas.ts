// TypeBox schemas of the radio, recommendations and contextual API.
import { Type } from '@sinclair/typebox';
import { ContextFields, literalUnion } from '../catalog/schemas.ts';
import { Id, TrackId } from '../queues/schemas.ts';
import { MIX_CONTEXTS, STATION_ID_PATTERN, USER_ID_PATTERN } from '../model/wire.ts';

export const UserRef = Type.String({ pattern: USER_ID_PATTERN, description: 'The caller (or "me")' });

export const Preferences = Type.Object(
  {
    familiarity: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: '0 = only tracks new to me, 1 = only ones I know' })),
    energy: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Target energy (when the catalog has audio features)' })),
    excludeArtists: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 50 })),
    genres: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20, description: 'Keep to these genres when the catalog has enough of them' }),
    ),
  },
  { additionalProperties: false },
);

export const StationParams = Type.Object({
  stationId: Type.String({
    maxLength: 300,
    pattern: STATION_ID_PATTERN,
    description: 'track:<id>, artist:<name>, genre:<name>, album:<id>, playlist:<id> or user:<id>',
  }),
});

export const Reason = Type.Object({
  kind: Type.String({ description: 'similar | liked | listeners | artist | album | genre | features | familiar | popular' }),
  text: Type.String({ description: 'e.g. "similar to X", "popular with listeners of Y", "because you liked Z"' }),
});

const ItemWithReason = Type.Object({ itemId: Type.String(), trackId: Type.String(), reason: Reason });

const Batch = {
  queue: Type.Ref('Queue'),
  events: Type.Array(Type.Ref('QueueEvent'), { description: 'The events appended (ordinary queue events)' }),
  items: Type.Array(ItemWithReason, { description: 'The tracks added, each with its reason' }),
};

export const BatchResponse = Type.Object(Batch);

export const RadioBody = Type.Object(
  {
    userId: UserRef,
    deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Recorded on the events when X-Device-Id is absent' })),
    preferences: Type.Optional(Preferences),
  },
  { additionalProperties: false },
);

export const RadioResponse = Type.Object({
  ...Batch,
  station: Type.Object({ id: Type.String(), kind: Type.String(), label: Type.String() }),
});

export const ExtendQuery = Type.Object({ count: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Tracks to append (default 10)' })) });
export const ExtendBody = Type.Object(
  { count: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Tracks to append (default 10; or ?count=)' })) },
  { additionalProperties: false },
);

export const RadioFeedbackBody = Type.Object(
  {
    trackId: TrackId,
    action: literalUnion(['skip', 'like', 'complete'] as const),
    position: Type.Number({ minimum: 0, maximum: 86_400, description: 'Seconds into the track' }),
    queueId: Type.Optional(Id),
  },
  { additionalProperties: false },
);

export const RadioFeedbackResponse = Type.Object({
  stationId: Type.String(),
  trackId: Type.String(),
  action: Type.String(),
  position: Type.Number(),
  affinity: Type.Object({
    track: Type.Number({ description: "The user's affinity to the track now" }),
    artist: Type.Union([Type.Number(), Type.Null()]),
    stationArtist: Type.Union([Type.Number(), Type.Null()], { description: 'The artist on this station: below 0 plays less, above 0 more' }),
  }),
});

export const RecoQueueBody = Type.Object(
  {
    context: literalUnion(MIX_CONTEXTS),
    seedTracks: Type.Optional(Type.Array(TrackId, { maxItems: 50 })),
    userId: UserRef,
    preferences: Type.Optional(Preferences),
  },
  { additionalProperties: false },
);

export const RecoQueueResponse = Type.Object({
  ...Batch,
  mixes: Type.Array(Type.Object({ queueId: Type.String(), name: Type.String(), label: Type.String() }), {
    description: 'Every queue made (daily_mix makes one per cluster of the taste; the first is `queue`)',
  }),
});

export const RefreshResponse = Type.Object({ ...Batch, kept: Type.Integer({ description: 'Items kept: the ones played so far' }) });

export const RecoFeedbackBody = Type.Object(
  {
    trackId: TrackId,
    context: Type.String({ minLength: 1, maxLength: 64, description: 'discover_weekly, daily_mix, album_radio, ...' }),
    feedback: literalUnion(['positive', 'negative', 'neutral'] as const),
    queueId: Type.Optional(Id),
  },
  { additionalProperties: false },
);

export const RecoFeedbackResponse = Type.Object({
  trackId: Type.String(),
  feedback: Type.String(),
  affinity: Type.Object({ track: Type.Number(), artist: Type.Union([Type.Number(), Type.Null()]) }),
});

export const ContextualBody = Type.Object(
  {
    context: Type.Object(ContextFields, { additionalProperties: false }),
    userId: UserRef,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 10 })),
  },
  { additionalProperties: false },
);

export const ContextualResponse = Type.Object({
  features: Type.Array(Type.String(), { description: 'The context as the model sees it' }),
  kinds: Type.Array(Type.Object({ kind: Type.String(), p: Type.Number() }), { description: 'Kinds of listening by probability in this context' }),
  personal: Type.Boolean({ description: "The user's own history weighed in (else population prior only)" }),
  suggestions: Type.Array(
    Type.Object({
      type: literalUnion(['queue', 'station', 'mix', 'playlist'] as const),
      name: Type.String(),
      kind: Type.String(),
      score: Type.Number(),
      reasons: Type.Array(Type.String()),
      queueId: Type.Optional(Type.String()),
      stationId: Type.Optional(Type.String()),
      context: Type.Optional(Type.String()),
      playlistId: Type.Optional(Type.String()),
      open: Type.Object({ method: Type.String(), path: Type.String(), body: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }),
    }),
  ),
});
