-- Listening parties (embedded SQLite); see src/party/. Times are ISO 8601 except
-- party_links.updated_at, which is epoch milliseconds.
CREATE TABLE parties (
  id         TEXT    PRIMARY KEY,
  queue_id   TEXT    NOT NULL,
  host_id    TEXT    NOT NULL,
  status     TEXT    NOT NULL,                 -- active | ended
  version    INTEGER NOT NULL,                 -- sequence number of the last party event
  state      TEXT    NOT NULL,                 -- JSON of PartyState (the projection)
  created_at TEXT    NOT NULL,
  updated_at TEXT    NOT NULL
);
-- One party at a time per queue: two hosts must not steer one queue.
CREATE UNIQUE INDEX parties_one_active_per_queue ON parties (queue_id) WHERE status = 'active';

CREATE TABLE party_events (
  party_id        TEXT    NOT NULL,
  sequence_number INTEGER NOT NULL,
  type            TEXT    NOT NULL,
  data            TEXT    NOT NULL,            -- JSON
  user_id         TEXT    NOT NULL,
  device_id       TEXT,
  created_at      TEXT    NOT NULL,
  PRIMARY KEY (party_id, sequence_number)
);

-- The measured link of each open party socket, written by the instance that holds the
-- socket, read by whichever instance schedules a playback command.
CREATE TABLE party_links (
  connection_id   TEXT    PRIMARY KEY,
  party_id        TEXT    NOT NULL,
  user_id         TEXT    NOT NULL,
  device_id       TEXT    NOT NULL,
  offset_ms       REAL    NOT NULL,            -- server clock - member clock
  rtt_ms          REAL    NOT NULL,
  one_way_ms      REAL    NOT NULL,            -- server-to-member delay planned for (p90)
  degraded        INTEGER NOT NULL,
  follow_delay_ms INTEGER NOT NULL,
  samples         INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX party_links_party ON party_links (party_id);
