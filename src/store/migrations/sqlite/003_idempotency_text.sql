-- Nothing to change: SQLite already keeps idempotent answers as text. This file keeps
-- the migration numbers of both stores in step.
SELECT 1;
