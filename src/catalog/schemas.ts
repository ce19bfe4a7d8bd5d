// TypeBox schemas of the catalog, history and context API (they validate and make OpenAPI).
import { Type, type TLiteral } from '@sinclair/typebox';
import { TrackId } from '../queues/schemas.ts';
import { MAX_INT32 } from '../http/schemas.ts';
import { CONTEXT_KINDS } from '../model/wire.ts';

export const literalUnion = <T extends string>(values: readonly T[], description?: string) =>
  Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T>[], description ? { description } : {});

export const MAX_TRACKS_PER_UPSERT = 1000;
export const MAX_PLAYLISTS_PER_UPSERT = 100;
export const MAX_PLAYLIST_LENGTH = 1000;
export const MAX_HISTORY_EVENTS = 1000;

const Name = (max = 500) => Type.String({ minLength: 1, maxLength: max });
const Unit = Type.Number({ minimum: 0, maximum: 1 });

export const Features = Type.Object(
  {
    tempo: Type.Optional(Type.Number({ minimum: 0, maximum: 400, description: 'Beats per minute' })),
    energy: Type.Optional(Unit),
    valence: Type.Optional(Unit),
    danceability: Type.Optional(Unit),
    acousticness: Type.Optional(Unit),
    instrumentalness: Type.Optional(Unit),
  },
  { additionalProperties: false, description: 'Audio features (0..1 except tempo); used for similarity when present' },
);

export const TrackInput = Type.Object(
  {
    id: TrackId,
    title: Name(),
    artist: Name(),
    album: Type.Optional(Name()),
    albumId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Names the album for album:<id> stations; else album title + artist do' })),
    duration: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400, description: 'Seconds' })),
    genres: Type.Optional(Type.Array(Name(100), { maxItems: 20 })),
    features: Type.Optional(Features),
    releaseDate: Type.Optional(Type.String({ pattern: '^\\d{4}(-\\d{2}(-\\d{2})?)?$', description: 'YYYY, YYYY-MM or YYYY-MM-DD' })),
  },
  { additionalProperties: false },
);

export const TrackSchema = Type.Object({
  id: Type.String(),
  title: Type.String(),
  artist: Type.String(),
  album: Type.Union([Type.String(), Type.Null()]),
  albumId: Type.Union([Type.String(), Type.Null()]),
  duration: Type.Union([Type.Number(), Type.Null()]),
  genres: Type.Array(Type.String()),
  features: Type.Record(Type.String(), Type.Number()),
  releaseDate: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const UpsertTracksBody = Type.Object(
  { tracks: Type.Array(TrackInput, { minItems: 1, maxItems: MAX_TRACKS_PER_UPSERT, description: 'Upserted by id; the last of duplicate ids wins' }) },
  { additionalProperties: false },
);

export const UpsertResponse = Type.Object({ created: Type.Integer(), updated: Type.Integer() });

export const TrackParams = Type.Object({ trackId: TrackId });

/** How many ids one lookup takes: a window of a queue (the default window is 200 items). */
export const MAX_TRACKS_PER_LOOKUP = 200;
export const LookupTracksBody = Type.Object(
  { ids: Type.Array(TrackId, { minItems: 1, maxItems: MAX_TRACKS_PER_LOOKUP, description: 'Track ids; duplicates are answered once' }) },
  { additionalProperties: false },
);
export const LookupTracksResponse = Type.Object({
  tracks: Type.Array(TrackSchema, { description: 'The known tracks, in the order of their first id in the request' }),
  missing: Type.Array(Type.String(), { description: 'The ids the catalog does not have (or has deleted), in request order' }),
});
export const PlaylistParams = Type.Object({ playlistId: Type.String({ minLength: 1, maxLength: 255 }) });
export const DeletedResponse = Type.Object({ deleted: Type.Boolean() });

export const SearchQuery = Type.Object({
  q: Type.String({ minLength: 1, maxLength: 200, description: 'Words of the title, artist or album (prefixes match)' }),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 20 })),
});

export const SearchResponse = Type.Object({
  tracks: Type.Array(
    Type.Object({ id: Type.String(), title: Type.String(), artist: Type.String(), album: Type.Union([Type.String(), Type.Null()]), score: Type.Number() }),
  ),
});

export const UpsertPlaylistsBody = Type.Object(
  {
    playlists: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\s]+$' }),
          name: Type.String({ maxLength: 500 }),
          followers: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_INT32, description: 'Stored as a 32-bit integer' })),
          tracks: Type.Array(TrackId, { maxItems: MAX_PLAYLIST_LENGTH }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_PLAYLISTS_PER_UPSERT },
    ),
  },
  { additionalProperties: false },
);

const ContextValue = Type.Union([
  Type.String({ maxLength: 200 }),
  Type.Number({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }),
  Type.Boolean(),
]);
export const TIME_OF_DAY_PATTERN = '^(morning|afternoon|evening|night|([01]?\\d|2[0-3])(:[0-5]\\d)?)$';

/** What a client says about the listener's situation; other short fields are kept as given. */
export const ContextFields = {
  location: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. home, gym, car, work' })),
  activity: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. running, working, relaxing' })),
  timeOfDay: Type.Optional(Type.String({ pattern: TIME_OF_DAY_PATTERN, description: 'morning | afternoon | evening | night, or the local time HH:MM' })),
  weather: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  timestamp: Type.Optional(Type.String({ format: 'date-time', description: "When; with the listener's UTC offset its clock gives the hour" })),
};

export const UserContextBody = Type.Object(ContextFields, { additionalProperties: ContextValue, maxProperties: 20 });

export const UserContextResponse = Type.Object({
  id: Type.Integer(),
  userId: Type.String(),
  context: Type.Record(Type.String(), Type.Unknown()),
  observedAt: Type.String({ format: 'date-time' }),
  features: Type.Array(Type.String(), { description: 'What the model takes from it' }),
});

export const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) });

export const HistoryBody = Type.Object(
  {
    events: Type.Array(
      Type.Object(
        {
          trackId: TrackId,
          action: literalUnion(['play', 'complete', 'skip', 'like', 'dislike'] as const),
          position: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400, description: 'Seconds into the track (for skips)' })),
          timestamp: Type.String({ format: 'date-time' }),
          sessionId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Plays of one session co-occur' })),
          source: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'queue:<id>, station:<id>, ...' })),
          contextType: Type.Optional(literalUnion(CONTEXT_KINDS)),
          context: Type.Optional(Type.Object(ContextFields, { additionalProperties: ContextValue, maxProperties: 20 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_HISTORY_EVENTS },
    ),
  },
  { additionalProperties: false },
);

export const HistoryResponse = Type.Object({ recorded: Type.Integer() });
