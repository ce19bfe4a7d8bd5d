// TypeBox schemas of the playback and devices API: they validate requests and generate
// OpenAPI. None has an $id: shared schemas are added by the app, never by a plugin.
import { Type } from '@sinclair/typebox';
import { WIRE_LIMITS } from '../model/wire.ts';
import { MutationFields } from '../http/schemas.ts';
import { MAX_TRACK_ID_LENGTH } from '../queues/decide.ts';
import { MAX_EPOCH_MS, PLAYBACK_EVENT_TYPES } from './playback.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);
/**
 * No NUL and no lone surrogate: Postgres cannot store the one, and the other does not survive
 * UTF-8; refusing them here (400) keeps them from becoming a 500 or a silently changed id.
 * Ajv compiles patterns with the `u` flag, so a paired surrogate (an emoji) is one code point and passes.
 */
const storable = { pattern: '^[^\\u0000\\ud800-\\udfff]*$' };
const Str = (opts: { minLength?: number; maxLength: number; description?: string }) => Type.String({ ...opts, ...storable });
const DeviceId = Str({ minLength: 1, maxLength: 255, description: "The app's id for one device (install)" });
const QueueId = Str({ minLength: 1, maxLength: 64 });
const TrackId = Str({ minLength: 1, maxLength: MAX_TRACK_ID_LENGTH });
const ItemId = Str({ minLength: 1, maxLength: 64 });
const MutationId = Str({ minLength: 1, maxLength: 200, description: MutationFields.mutationId.description ?? '' });

export const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128, description: 'The caller, or `me`' }) });
export const DeviceParams = Type.Object({ userId: UserParams.properties.userId, deviceId: DeviceId });

export const PlaybackWriteHeaders = Type.Object({
  'idempotency-key': Type.Optional(Str({ minLength: 1, maxLength: 200, description: 'A retry returns the first answer' })),
  'x-device-id': Type.Optional(Type.String({ maxLength: 255, description: 'The requesting device' })),
});

/** Longest playback position accepted (7 days: audiobooks, long mixes). */
export const MAX_POSITION_SECONDS = 7 * 24 * 3600;

export const PlaybackWriteBody = Type.Object(
  {
    queueId: Type.Optional(Nullable(QueueId)),
    currentTrackId: Type.Optional(Nullable(TrackId)),
    itemId: Type.Optional(Nullable(ItemId)),
    position: Type.Number({ minimum: 0, maximum: MAX_POSITION_SECONDS, description: 'Seconds into the current track (fractions allowed; at most 7 days)' }),
    isPlaying: Type.Boolean(),
    deviceId: DeviceId,
    timestamp: Type.Union(
      [
        Type.String({ format: 'date-time', description: 'ISO 8601 with a time zone' }),
        Type.Number({ minimum: 0, maximum: MAX_EPOCH_MS, description: 'Epoch milliseconds' }),
      ],
      { description: "The device's clock when it took this state; an older one than the device sent before is refused (409)" },
    ),
    volume: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 100 }), Type.Null()])),
    rate: Type.Optional(Type.Number({ minimum: 0.25, maximum: 4, default: 1, description: 'Playback speed' })),
    mutationId: Type.Optional(MutationId),
  },
  { additionalProperties: false },
);

export const PlaybackStateResponse = Type.Object({
  queueId: Nullable(Type.String()),
  currentTrackId: Nullable(Type.String()),
  itemId: Nullable(Type.String()),
  position: Type.Number({ description: 'Seconds, extrapolated to serverTime while playing' }),
  isPlaying: Type.Boolean(),
  volume: Type.Union([Type.Number(), Type.Null()]),
  rate: Type.Number(),
  deviceId: Type.String({ description: 'The device this state is from' }),
  timestamp: Type.String({ format: 'date-time', description: "The device's clock when it took the state" }),
  updatedAt: Type.String({ format: 'date-time', description: 'Server time of the write' }),
  serverTime: Type.String({ format: 'date-time', description: 'When position was computed' }),
  activeDeviceId: Nullable(Type.String({ description: 'The device of the most recent write' })),
  sequenceNumber: Type.Integer({ description: 'The user sync event that wrote this state' }),
});

export const PlaybackQuery = Type.Object({
  exclude_device: Type.Optional(DeviceId),
});

export const TransferBody = Type.Object(
  {
    deviceId: DeviceId,
    play: Type.Optional(Type.Boolean({ description: 'Play or pause on the target; default: as it was' })),
    mutationId: Type.Optional(MutationId),
  },
  { additionalProperties: false },
);

export const DeviceBody = Type.Object(
  {
    name: Type.Optional(Str({ minLength: 1, maxLength: 200 })),
    type: Type.Optional(Str({ minLength: 1, maxLength: 50, description: 'e.g. phone, desktop, speaker, web' })),
  },
  { additionalProperties: false },
);

export const DeviceSchema = Type.Object({
  deviceId: Type.String(),
  name: Nullable(Type.String()),
  type: Nullable(Type.String()),
  online: Type.Boolean({ description: 'A socket of the device is open' }),
  lastSeen: Type.String({ format: 'date-time' }),
  firstSeen: Type.String({ format: 'date-time' }),
  isActive: Type.Boolean({ description: 'The device of the most recent playback write' }),
});

export const DevicesResponse = Type.Object({ devices: Type.Array(DeviceSchema, { description: 'Most recently seen first' }) });

export const SyncEventsQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Return events after this sequence number' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: WIRE_LIMITS.eventsPerPage, default: 100 })),
});

export const SyncEventSchema = Type.Object({
  userId: Type.String(),
  sequenceNumber: Type.Integer({ description: 'Gapless per user' }),
  // A plain string: the user stream may carry more types later, and an unknown literal
  // would fail serialisation instead of reaching a client that can skip it.
  type: Type.String({ description: PLAYBACK_EVENT_TYPES.join(', ') }),
  deviceId: Nullable(Type.String({ description: 'The device that caused the event' })),
  timestamp: Type.String({ format: 'date-time', description: 'Server time of the append' }),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const SyncEventsResponse = Type.Object({
  events: Type.Array(SyncEventSchema),
  version: Type.Integer({ description: "The user stream's version now" }),
  nextSince: Type.Integer({ description: 'Pass as since to read the next page' }),
  hasMore: Type.Boolean(),
});
