-- Issue 21, round 6: listening_events_user (user_id, id) is read by no query (a listener's
-- recent plays and skips come from listening_events_user_time); every play wrote it.
DROP INDEX IF EXISTS listening_events_user;
