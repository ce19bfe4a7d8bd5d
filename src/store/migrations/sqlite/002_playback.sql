-- Playback state and devices (embedded SQLite). Times are epoch milliseconds except
-- user_sync_events.created_at, which is ISO 8601 like queue_events.created_at.
CREATE TABLE devices (
  user_id    TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  name       TEXT,
  type       TEXT,
  first_seen INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

-- The latest state of each device; the user's current state is derived from these rows.
CREATE TABLE device_playback_state (
  user_id         TEXT    NOT NULL,
  device_id       TEXT    NOT NULL,
  state           TEXT    NOT NULL,                  -- JSON of PlaybackState
  client_ts       INTEGER NOT NULL,                  -- the device's clock at its last own write
  server_ts       INTEGER NOT NULL,
  sequence_number INTEGER NOT NULL,                  -- the user sync event that wrote the row
  PRIMARY KEY (user_id, device_id)
);

-- One row per user: the version of the user's sync stream (the row that appends lock).
CREATE TABLE user_streams (
  user_id TEXT    PRIMARY KEY,
  version INTEGER NOT NULL
);

CREATE TABLE user_sync_events (
  user_id         TEXT    NOT NULL,
  sequence_number INTEGER NOT NULL,
  type            TEXT    NOT NULL,
  data            TEXT    NOT NULL,                  -- JSON
  device_id       TEXT,
  created_at      TEXT    NOT NULL,                  -- ISO 8601, server time
  UNIQUE (user_id, sequence_number)
);
