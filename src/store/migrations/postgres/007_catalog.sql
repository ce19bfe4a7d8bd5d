-- Catalog, listening data and user contexts (issue 7; PostgreSQL). Owned by the
-- catalog feature store (src/catalog/postgres-store.ts). `rev` / `id` columns grow with
-- every write so the in-memory engine of each instance can catch up on what is new.
CREATE SEQUENCE catalog_rev_seq;

CREATE TABLE catalog_tracks (
  track_id     TEXT        PRIMARY KEY,
  title        TEXT        NOT NULL,
  artist       TEXT        NOT NULL,
  album        TEXT,
  album_id     TEXT,
  duration_ms  INTEGER,
  genres       JSONB       NOT NULL DEFAULT '[]',
  features     JSONB,
  release_date TEXT,
  rev          BIGINT      NOT NULL,
  updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_tracks_rev ON catalog_tracks (rev);

CREATE TABLE catalog_playlists (
  playlist_id TEXT        PRIMARY KEY,
  name        TEXT        NOT NULL,
  followers   INTEGER,
  tracks      JSONB       NOT NULL,
  rev         BIGINT      NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX catalog_playlists_rev ON catalog_playlists (rev);

CREATE TABLE listening_events (
  id           BIGSERIAL   PRIMARY KEY,
  user_id      TEXT,
  session_id   TEXT,
  track_id     TEXT        NOT NULL,
  action       TEXT        NOT NULL,
  position     DOUBLE PRECISION,
  source       TEXT,
  context_type TEXT,
  hour         SMALLINT,
  context      JSONB,
  occurred_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX listening_events_user ON listening_events (user_id, id);

CREATE TABLE user_contexts (
  id          BIGSERIAL   PRIMARY KEY,
  user_id     TEXT        NOT NULL,
  context     JSONB       NOT NULL,
  observed_at TIMESTAMPTZ NOT NULL,
  recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_contexts_user ON user_contexts (user_id, id);
