-- The projection row becomes a small header (version, counts, name...) updated event by
-- event, plus a snapshot of the whole state taken every so many events (snapshot_version):
-- a queue is the snapshot with the events after it folded in (docs/adr/0001).
ALTER TABLE queue_projections ADD COLUMN snapshot_version INTEGER NOT NULL DEFAULT 0;
UPDATE queue_projections SET snapshot_version = version;
-- Idempotency records expire (IDEMPOTENCY_TTL_HOURS); the sweep finds old ones by age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- The trim (EVENT_RETENTION_DAYS) finds old events by age; appends add at its right edge.
CREATE INDEX queue_events_created ON queue_events (created_at);
