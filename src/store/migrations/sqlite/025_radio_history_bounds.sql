-- Issue 24: what a station reads of a listener's radio history is bounded. The newest rows
-- of a listener come from an index that covers the read (no table lookups), and the
-- sweeper deletes rows older than RADIO_HISTORY_DAYS by `added_at` alone.
DROP INDEX radio_history_user;
CREATE INDEX radio_history_user_recent ON radio_history (user_id, added_at, track_id);
CREATE INDEX radio_history_added ON radio_history (added_at);
