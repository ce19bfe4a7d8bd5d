-- Fewer index writes per commit (issue 21):
-- - queue_projections_owner (owner, updated_at, queue) was read by no query, and every write
--   updated it because updated_at changes; without it the header update can be a HOT update.
-- - queue_events_created (a b-tree on the append time) served the trim only: a BRIN index
--   summarises ranges of the append-ordered table for the same query at a fraction of the cost.
DROP INDEX IF EXISTS queue_projections_owner;
DROP INDEX IF EXISTS queue_events_created;
CREATE INDEX queue_events_created ON queue_events USING brin (created_at);
