-- A replayed answer must be the first answer byte for byte; JSONB reorders object keys.
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE TEXT USING response::text;
