// The literal lists, patterns and bounds of the wire format. The request and message
// schemas (src/**/schemas.ts, src/**/protocol.ts), whose types the client SDK ships,
// and the server modules that enforce the same rules both take them from here, so a
// schema never imports a server module (tokens, the recommender, the config).

/** A user id, as in tokens (`sub`) and user-scoped paths. */
export const USER_ID_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$';

/** What a radio station is seeded by; a station id is `<kind>:<rest>`. */
export const STATION_KINDS = ['track', 'artist', 'genre', 'album', 'playlist', 'user'] as const;
export const STATION_ID_PATTERN = `^(${STATION_KINDS.join('|')}):.+$`;

/** The recommendation queues (type `recommendations`) a user can ask for. */
export const MIX_CONTEXTS = ['discover_weekly', 'daily_mix', 'album_radio'] as const;

/** Kinds of source a play comes from (the sessions data's context_type). */
export const CONTEXT_KINDS = ['user_collection', 'catalog', 'editorial_playlist', 'radio', 'personalized_playlist', 'charts'] as const;

/**
 * Bounds the request schemas state (so the OpenAPI document shows them). The server's
 * Limits start from the same numbers (DEFAULT_LIMITS in src/config.ts).
 */
export const WIRE_LIMITS = {
  /** Tracks in one add request (fixed). */
  tracksPerAdd: 500,
  /** Events in one page of a log read (fixed). */
  eventsPerPage: 1000,
  /** Collaborators named when a collaborative queue is created (the default of LIMIT_COLLABORATORS_PER_QUEUE). */
  collaboratorsPerQueue: 1000,
} as const;
