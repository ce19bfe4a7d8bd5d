-- The projection row becomes a small header (version, counts, name...) updated event by
-- event; the whole state moves to queue_snapshots, written every so many events
-- (snapshot_version): a queue is its snapshot with the events after it folded in
-- (docs/adr/0001). The snapshot has a table of its own because SQLite rewrites a whole
-- row on UPDATE: a header update must not copy a megabyte of state.
CREATE TABLE queue_snapshots (
  queue_id TEXT    PRIMARY KEY,
  version  INTEGER NOT NULL,
  state    JSONB   NOT NULL                         -- QueueState as of version
);
INSERT INTO queue_snapshots (queue_id, version, state) SELECT queue_id, version, state FROM queue_projections;
ALTER TABLE queue_projections DROP COLUMN state;
ALTER TABLE queue_projections ADD COLUMN snapshot_version INTEGER NOT NULL DEFAULT 0;
UPDATE queue_projections SET snapshot_version = version;
-- Idempotency records expire (IDEMPOTENCY_TTL_HOURS); the sweep finds old ones by age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- The trim (EVENT_RETENTION_DAYS) finds old events by age; appends add at its right edge.
CREATE INDEX queue_events_created ON queue_events (created_at);
