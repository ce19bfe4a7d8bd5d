-- Collaborative queues (PostgreSQL): the member index behind GET /queues, kept by
-- append in the same transaction as the events, and the invite codes of src/collab/store.ts.
CREATE TABLE queue_members (
  queue_id TEXT NOT NULL,
  user_id  TEXT NOT NULL,
  role     TEXT NOT NULL,                            -- owner | admin | contributor | viewer
  PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX queue_members_user ON queue_members (user_id);
-- Queues from before collaboration have their owner as the only member.
INSERT INTO queue_members (queue_id, user_id, role) SELECT queue_id, owner_id, 'owner' FROM queue_projections;

CREATE TABLE collab_invites (
  code       TEXT    PRIMARY KEY,
  queue_id   TEXT    NOT NULL,
  role       TEXT    NOT NULL,
  created_by TEXT    NOT NULL,
  created_at BIGINT  NOT NULL,                       -- epoch ms
  expires_at BIGINT  NOT NULL,                       -- epoch ms
  max_uses   INTEGER,                                -- NULL: unlimited
  uses       INTEGER NOT NULL DEFAULT 0,
  revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX collab_invites_queue ON collab_invites (queue_id, created_at);
