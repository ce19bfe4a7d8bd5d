// TypeBox schemas of offline sync and offline preparation (docs/OFFLINE.md). A batch's
// changes are validated one by one (a bad change fails alone), so the request schema
// takes them as they come and OfflineChange is compiled by the service.
import { Type, type TLiteral } from '@sinclair/typebox';
import { MAX_EPOCH_MS } from '../playback/playback.ts';
import { SyncEventSchema } from '../playback/schemas.ts';
import { MAX_SEQUENCE } from '../queues/schemas.ts';

const literals = <T extends string>(values: readonly T[], description?: string) =>
  Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T>[], description ? { description } : {});

/** Changes one batch may carry; more is answered 413 too_many_changes. */
export const MAX_CHANGES = 1000;
/** Events returned per stream; `hasMore` says when the client must page with GET .../events. */
export const MAX_EVENTS_PER_STREAM = 1000;
/** Queues a client may name in lastSequences, and queues one batch may change. */
export const MAX_LAST_SEQUENCES = 100;
export const MAX_QUEUES_PER_BATCH = 100;
/** Events one answer carries in all; past it a queue's list is cut short (hasMore). */
export const MAX_EVENTS_TOTAL = 10_000;

export const QUEUE_ID_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';
const ClientTime = Type.Union([
  Type.String({ format: 'date-time', description: 'ISO 8601 with a time zone' }),
  Type.Number({ minimum: 0, maximum: MAX_EPOCH_MS, description: 'Epoch milliseconds' }),
]);

export const RESOURCE_TYPES = ['queue', 'playback'] as const;
export const RESOLUTIONS = ['server_wins', 'client_wins', 'merged', 'dropped'] as const;
export const OUTCOMES = ['applied', 'noop', 'merged', 'client_wins', 'superseded', 'skipped', 'server_wins', 'dropped', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** Outcomes counted in `synced`: the change's intent is on the server (now or before). */
export const SYNCED_OUTCOMES: ReadonlySet<Outcome> = new Set(['applied', 'noop', 'merged', 'client_wins', 'superseded', 'skipped']);

export const OfflineChange = Type.Object(
  {
    clientId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$', description: 'One install of the app' }),
    mutationId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Increasing per client' }),
    resourceType: literals(RESOURCE_TYPES),
    resourceId: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9._:@-]+$',
      description: 'The queue id, or for playback the user id (or `me`)',
    }),
    baseVersion: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'The queue version the client last saw' })),
    op: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'add_tracks, remove_item, remove_items, move_item, clear, set_shuffle, set_repeat, set_current, next, previous; set_playback',
    }),
    args: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'The REST body of the same operation; item ids may be "@<mutationId>:<index>"' }),
    ),
    clientTimestamp: ClientTime,
  },
  { additionalProperties: false, description: 'One change made offline' },
);

export const SyncBody = Type.Object(
  {
    changes: Type.Array(Type.Unknown(), { description: `OfflineChange objects in the order they were made; at most ${MAX_CHANGES}` }),
    lastSyncTimestamp: Type.Union([ClientTime, Type.Null()], {
      description: 'serverTime of the last sync: events after it are returned (null: from the start)',
    }),
    lastSequences: Type.Optional(
      Type.Object(
        {
          queues: Type.Optional(
            Type.Record(Type.String({ pattern: QUEUE_ID_PATTERN }), Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE }), {
              additionalProperties: false,
              maxProperties: MAX_LAST_SEQUENCES,
              description: 'Per queue, the last sequence number the client has: events after it are returned (wins over lastSyncTimestamp)',
            }),
          ),
          user: Type.Optional(
            Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "The last sequence number of the user's sync stream" }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    deviceId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'The syncing device (same as X-Device-Id): its sockets do not get these changes back' }),
    ),
  },
  { additionalProperties: false },
);

const ErrorObject = Type.Object({ code: Type.String(), message: Type.String(), details: Type.Record(Type.String(), Type.Unknown()) });

export const SyncResponse = Type.Object({
  synced: Type.Integer({ description: 'Changes whose intent is on the server: applied now (as sent or merged), or before' }),
  conflicts: Type.Array(
    Type.Object({
      change: Type.Unknown(),
      serverState: Type.Unknown({ description: 'The queue summary or the playback state the change met; null when the queue cannot be read' }),
      resolution: literals(RESOLUTIONS),
      reason: ErrorObject,
    }),
    { description: 'Changes not applied as sent (merged and client_wins ones were applied and are counted in synced)' },
  ),
  errors: Type.Array(Type.Object({ change: Type.Unknown(), error: ErrorObject }), { description: 'Changes that are malformed or not allowed' }),
  results: Type.Array(
    Type.Object({
      index: Type.Integer({ description: 'Position in changes' }),
      clientId: Type.Union([Type.String(), Type.Null()]),
      mutationId: Type.Union([Type.Integer(), Type.Null()]),
      outcome: literals(OUTCOMES),
      replayed: Type.Boolean({ description: 'Decided by an earlier sync; answered from its record' }),
      sequenceNumbers: Type.Array(Type.Integer()),
      itemIds: Type.Array(Type.String(), { description: 'Items the change added (to map local ids)' }),
    }),
    { description: 'One per change, in order' },
  ),
  events: Type.Object({
    queues: Type.Record(Type.String(), Type.Array(Type.Ref('QueueEvent'))),
    user: Type.Array(SyncEventSchema),
  }),
  hasMore: Type.Object({ queues: Type.Record(Type.String(), Type.Boolean()), user: Type.Boolean() }),
  versions: Type.Object({ queues: Type.Record(Type.String(), Type.Integer()), user: Type.Integer() }),
  queues: Type.Record(Type.String(), Type.Ref('Queue'), { description: 'Every affected queue the caller can read, as it is now' }),
  serverTime: Type.String({ format: 'date-time', description: 'Send it as lastSyncTimestamp next time' }),
});

export const OfflineQueueResponse = Type.Object({
  queue: Type.Ref('Queue'),
  version: Type.Integer(),
  downloadUrls: Type.Array(Type.Object({ itemId: Type.String(), trackId: Type.String(), url: Type.String() })),
  expires: Type.Integer({ description: 'Epoch ms when the URLs stop working' }),
  expiresAt: Type.String({ format: 'date-time' }),
});
