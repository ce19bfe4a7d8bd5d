-- Event store, projections and idempotency records (PostgreSQL).
CREATE TABLE queue_events (
  position        BIGSERIAL PRIMARY KEY,              -- global append order (export)
  queue_id        TEXT        NOT NULL,
  sequence_number INTEGER     NOT NULL,
  type            TEXT        NOT NULL,
  data            JSONB       NOT NULL,
  user_id         TEXT        NOT NULL,
  device_id       TEXT,
  created_at      TIMESTAMPTZ NOT NULL,
  UNIQUE (queue_id, sequence_number)
);

CREATE TABLE queue_projections (
  queue_id   TEXT        PRIMARY KEY,
  owner_id   TEXT        NOT NULL,
  name       TEXT        NOT NULL,
  type       TEXT        NOT NULL,
  version    INTEGER     NOT NULL,
  item_count INTEGER     NOT NULL,
  deleted    BOOLEAN     NOT NULL DEFAULT FALSE,
  state      JSONB       NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX queue_projections_owner ON queue_projections (owner_id, updated_at DESC, queue_id DESC);

CREATE TABLE idempotency_keys (
  user_id     TEXT        NOT NULL,
  key         TEXT        NOT NULL,
  fingerprint TEXT        NOT NULL,
  status      INTEGER     NOT NULL,
  response    JSONB       NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (user_id, key)
);

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
