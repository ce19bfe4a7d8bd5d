-- Revoked tokens (issue 23, src/auth/revocation-store.ts): one token by its id (`jti`),
-- kept until the token would have expired anyway, and every token of a user issued
-- before a time. Each instance holds them in memory; `revoked_at` lets it poll for the
-- ones another instance added (the Redis signal is the fast path).
CREATE TABLE revoked_tokens (
  token_id   TEXT    PRIMARY KEY,
  user_id    TEXT,                                   -- NULL: the id alone was given
  expires_at INTEGER NOT NULL,                       -- epoch ms: the row is swept after it
  revoked_at INTEGER NOT NULL                        -- epoch ms
);
CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);

CREATE TABLE revoked_users (
  user_id       TEXT    PRIMARY KEY,
  issued_before INTEGER NOT NULL,                    -- epoch s: tokens with iat < this are revoked
  revoked_at    INTEGER NOT NULL                     -- epoch ms
);
CREATE INDEX revoked_users_revoked_at ON revoked_users (revoked_at);
