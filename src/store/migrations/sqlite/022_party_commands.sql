-- [PA11] Party playback commands applied at most once per member: the member's mutationId,
-- recorded in the transaction that appends the command's event. A repeat answers that
-- event again. Expire with the other idempotency records (IDEMPOTENCY_TTL_HOURS): ignored
-- once older, deleted by the sweep. created_at is ISO 8601, as in idempotency_keys.
CREATE TABLE party_commands (
  party_id        TEXT    NOT NULL,
  user_id         TEXT    NOT NULL,
  mutation_id     TEXT    NOT NULL,
  fingerprint     TEXT    NOT NULL,            -- what the command was: another one under the same id is refused
  sequence_number INTEGER NOT NULL,            -- the party event it appended
  created_at      TEXT    NOT NULL,
  PRIMARY KEY (party_id, user_id, mutation_id)
);
CREATE INDEX party_commands_created ON party_commands (created_at);
