-- Catalog, listening data and user contexts (issue 7; embedded SQLite). Owned by the
-- catalog feature store (src/catalog/sqlite-store.ts). `rev` / `id` columns grow with
-- every write so the in-memory engine of each process can catch up on what is new.
CREATE TABLE catalog_tracks (
  track_id     TEXT    PRIMARY KEY,
  title        TEXT    NOT NULL,
  artist       TEXT    NOT NULL,
  album        TEXT,
  album_id     TEXT,
  duration_ms  INTEGER,
  genres       TEXT    NOT NULL DEFAULT '[]',        -- JSON array of strings
  features     TEXT,                                 -- JSON object, e.g. {"energy":0.8}
  release_date TEXT,
  rev          INTEGER NOT NULL,
  updated_at   TEXT    NOT NULL
);
CREATE INDEX catalog_tracks_rev ON catalog_tracks (rev);

CREATE TABLE catalog_playlists (
  playlist_id TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  followers   INTEGER,
  tracks      TEXT    NOT NULL,                      -- JSON array of track ids, in order
  rev         INTEGER NOT NULL,
  updated_at  TEXT    NOT NULL
);
CREATE INDEX catalog_playlists_rev ON catalog_playlists (rev);

-- One counter row per table above: the next rev.
CREATE TABLE catalog_revs (
  name TEXT    PRIMARY KEY,
  rev  INTEGER NOT NULL
);
INSERT INTO catalog_revs (name, rev) VALUES ('tracks', 0), ('playlists', 0);

-- Plays (complete / skip with the position), likes and dislikes, from the listeners
-- of this service (user_id) or imported anonymous sessions (user_id NULL).
CREATE TABLE listening_events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id      TEXT,
  session_id   TEXT,
  track_id     TEXT    NOT NULL,
  action       TEXT    NOT NULL,                     -- play | complete | skip | like | dislike | neutral
  position     REAL,                                 -- seconds into the track
  source       TEXT,                                 -- queue:<id> | station:<id> | reco:<context> | import
  context_type TEXT,                                 -- kind of source (user_collection, radio, ...)
  hour         INTEGER,                              -- local hour of day 0-23, when known
  context      TEXT,                                 -- JSON: the user's context it is attributed to
  occurred_at  TEXT    NOT NULL
);
CREATE INDEX listening_events_user ON listening_events (user_id, id);

CREATE TABLE user_contexts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id     TEXT    NOT NULL,
  context     TEXT    NOT NULL,                      -- JSON
  observed_at TEXT    NOT NULL,
  recorded_at TEXT    NOT NULL
);
CREATE INDEX user_contexts_user ON user_contexts (user_id, id);
