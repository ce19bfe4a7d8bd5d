-- Issue 12: what each radio station (a queue) ever queued, for its no-repeat rule over its
-- whole life (items removed from the queue still count), and per user for the no-repeat
-- window; answers of keyed recommendation writes (Idempotency-Key); catalog deletes as
-- tombstones (a new rev, so every instance's catch-up sees them).
CREATE TABLE radio_history (
  queue_id TEXT NOT NULL,
  track_id TEXT NOT NULL,
  user_id  TEXT NOT NULL,
  added_at TEXT NOT NULL,
  PRIMARY KEY (queue_id, track_id)
);
CREATE INDEX radio_history_user ON radio_history (user_id, added_at);

CREATE TABLE reco_idempotency (
  user_id     TEXT    NOT NULL,
  idem_key    TEXT    NOT NULL,
  fingerprint TEXT    NOT NULL,
  status      INTEGER NOT NULL,
  body        TEXT    NOT NULL,
  created_at  TEXT    NOT NULL,
  PRIMARY KEY (user_id, idem_key)
);

ALTER TABLE catalog_tracks ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE catalog_playlists ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX listening_events_user_time ON listening_events (user_id, occurred_at);
