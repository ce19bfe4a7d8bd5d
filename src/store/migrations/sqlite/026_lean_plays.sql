-- Fewer pages per play (issue 21, round 6). Plays now commit in the queue writes' group
-- transaction, and each one dirtied two pages that nothing needs:
-- - listening_events used AUTOINCREMENT, which rewrites its counter in sqlite_sequence on
--   every insert. Plays are never deleted, so a new rowid (max + 1) is never one handed out
--   before: ids keep growing, which is what the engine's catch-up (`eventsAfter`) needs.
-- - listening_events_user (user_id, id) is read by no query; the listener's recent plays and
--   skips come from listening_events_user_time (user_id, occurred_at).
-- SQLite cannot drop AUTOINCREMENT in place: the table is copied, ids kept.
CREATE TABLE listening_events_lean (
  id           INTEGER PRIMARY KEY,
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
INSERT INTO listening_events_lean (id, user_id, session_id, track_id, action, position, source, context_type, hour, context, occurred_at)
  SELECT id, user_id, session_id, track_id, action, position, source, context_type, hour, context, occurred_at FROM listening_events ORDER BY id;
DROP TABLE listening_events;
ALTER TABLE listening_events_lean RENAME TO listening_events;
DELETE FROM sqlite_sequence WHERE name = 'listening_events';
CREATE INDEX listening_events_user_time ON listening_events (user_id, occurred_at);
