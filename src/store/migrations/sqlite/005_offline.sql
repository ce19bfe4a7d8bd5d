-- Offline sync (src/offline/store.ts, docs/OFFLINE.md): per client of a user, the highest
-- mutation id decided for each resource, and the answer decided for each mutation.
CREATE TABLE offline_clients (
  user_id       TEXT    NOT NULL,
  client_id     TEXT    NOT NULL,
  resource_type TEXT    NOT NULL,                  -- queue | playback
  resource_id   TEXT    NOT NULL,
  high_water    INTEGER NOT NULL,                  -- mutation ids at or below it are not applied again
  updated_at    TEXT    NOT NULL,                  -- ISO 8601, server time
  PRIMARY KEY (user_id, client_id, resource_type, resource_id)
);

CREATE TABLE offline_outcomes (
  user_id     TEXT    NOT NULL,
  client_id   TEXT    NOT NULL,
  mutation_id INTEGER NOT NULL,
  fingerprint TEXT    NOT NULL,                    -- what the change was
  outcome     TEXT    NOT NULL,                    -- JSON: how it was decided (applied, merged, dropped, ...)
  created_at  TEXT    NOT NULL,
  PRIMARY KEY (user_id, client_id, mutation_id)
);
