-- Fewer pages per commit (issue 21). A queue write dirtied about six pages where the floor
-- of our stack dirties three:
-- - queue_events used AUTOINCREMENT, which rewrites its counter in sqlite_sequence on every
--   insert. The (queue_id, sequence_number) key already identifies an event; `position`
--   stays the rowid, the global order the export reads. Without AUTOINCREMENT a new rowid is
--   max + 1: the trim never deletes the newest event (src/store/sqlite.ts), so positions are
--   never reused.
-- - queue_events_created served the trim only; the trim now finds its range by position.
-- - queue_projections_owner (owner, updated_at, queue) was read by no query, and every write
--   rewrote it because updated_at changes.
-- SQLite cannot drop AUTOINCREMENT in place: the table is copied, positions kept.
CREATE TABLE queue_events_lean (
  position        INTEGER PRIMARY KEY,               -- global append order (export); rowid
  queue_id        TEXT    NOT NULL,
  sequence_number INTEGER NOT NULL,
  type            TEXT    NOT NULL,
  data            TEXT    NOT NULL,                  -- JSON
  user_id         TEXT    NOT NULL,
  device_id       TEXT,
  created_at      TEXT    NOT NULL,                  -- ISO 8601, server time
  UNIQUE (queue_id, sequence_number)
);
INSERT INTO queue_events_lean (position, queue_id, sequence_number, type, data, user_id, device_id, created_at)
  SELECT position, queue_id, sequence_number, type, data, user_id, device_id, created_at FROM queue_events ORDER BY position;
DROP TABLE queue_events;
ALTER TABLE queue_events_lean RENAME TO queue_events;
DELETE FROM sqlite_sequence WHERE name = 'queue_events';
DROP INDEX IF EXISTS queue_projections_owner;
