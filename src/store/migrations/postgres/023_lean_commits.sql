-- Fewer index writes per commit (issue 21):
-- - queue_projections_owner (owner, updated_at, queue) was read by no query, and every write
--   updated it because updated_at changes; without it the header update can be a HOT update.
-- - queue_events_created (a b-tree on the append time) served the trim only: a BRIN index
--   summarises ranges of the append-ordered table for the same query at a fraction of the cost.
DROP INDEX IF EXISTS queue_projections_owner;
DROP INDEX IF EXISTS queue_events_created;
CREATE INDEX queue_events_created ON queue_events USING brin (created_at);

-- Group commit (issue 21): the appends of one turn of the service's event loop, on
-- different queues, in ONE call and one transaction. Each append runs in a subtransaction
-- (BEGIN ... EXCEPTION), so one that conflicts fails alone. Input: a JSON array of
--   {q: queue id, v: expected version, e: [{t: type, d: data, u: user, dv: device, at: time}],
--    h: {owner, name, type, version, items, deleted, updated}  -- the header after the events
--    every: events between snapshots, s: the state (only with a new queue), m: [[user, role]]
--    (the member index, when the events may change it), i: [{u, k, f, st, b}] (idempotency records,
--    b the answer as JSON text: it is replayed byte for byte)}
-- and the idempotency cutoff. Output: a JSON array, one entry per append, in order:
--   {ok: true, snap: the snapshot version, due: true when a snapshot is due}
--   {conflict: the current version} | {idem: [user, key]} (a live record holds the key).
CREATE OR REPLACE FUNCTION qs_append_queues(batch jsonb, idem_cutoff timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  a jsonb;
  out jsonb := '[]'::jsonb;
  qid text;
  expected int;
  cur int;
  snap int;
  found_head boolean;
  newv int;
  r record;
  n int;
BEGIN
  FOR a IN SELECT value FROM jsonb_array_elements(batch) LOOP
    qid := a->>'q';
    expected := (a->>'v')::int;
    BEGIN
      SELECT version, snapshot_version INTO cur, snap FROM queue_projections WHERE queue_id = qid FOR UPDATE;
      found_head := FOUND;
      IF NOT found_head THEN cur := 0; snap := 0; END IF;
      IF cur <> expected THEN
        out := out || jsonb_build_array(jsonb_build_object('conflict', cur));
        CONTINUE;
      END IF;
      newv := expected + jsonb_array_length(a->'e');
      IF newv > expected THEN
        INSERT INTO queue_events (queue_id, sequence_number, type, data, user_id, device_id, created_at)
          SELECT qid, expected + ev.ord::int, ev.value->>'t', ev.value->'d', ev.value->>'u', ev.value->>'dv', (ev.value->>'at')::timestamptz
          FROM jsonb_array_elements(a->'e') WITH ORDINALITY AS ev(value, ord) ORDER BY ev.ord;
        IF a ? 's' THEN
          INSERT INTO queue_snapshots (queue_id, version, state) VALUES (qid, newv, a->'s')
            ON CONFLICT (queue_id) DO UPDATE SET version = excluded.version, state = excluded.state;
          snap := newv;
        END IF;
        INSERT INTO queue_projections (queue_id, owner_id, name, type, version, item_count, deleted, updated_at, snapshot_version)
          VALUES (qid, a->'h'->>'owner', a->'h'->>'name', a->'h'->>'type', newv, (a->'h'->>'items')::int,
                  (a->'h'->>'deleted')::boolean, (a->'h'->>'updated')::timestamptz, snap)
          ON CONFLICT (queue_id) DO UPDATE SET owner_id = excluded.owner_id, name = excluded.name, type = excluded.type,
            version = excluded.version, item_count = excluded.item_count, deleted = excluded.deleted,
            updated_at = excluded.updated_at, snapshot_version = excluded.snapshot_version;
        IF a ? 'm' THEN
          DELETE FROM queue_members WHERE queue_id = qid;
          INSERT INTO queue_members (queue_id, user_id, role)
            SELECT qid, mm.value->>0, mm.value->>1 FROM jsonb_array_elements(a->'m') AS mm(value);
        END IF;
      END IF;
      IF a ? 'i' THEN
        n := 0;
        FOR r IN SELECT value AS rec FROM jsonb_array_elements(a->'i') LOOP
          INSERT INTO idempotency_keys (user_id, key, fingerprint, status, response, created_at)
            VALUES (r.rec->>'u', r.rec->>'k', r.rec->>'f', (r.rec->>'st')::int, r.rec->>'b', now())
            ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
              response = excluded.response, created_at = excluded.created_at WHERE idempotency_keys.created_at < idem_cutoff;
          GET DIAGNOSTICS n = ROW_COUNT;
          IF n = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'QSIDM', MESSAGE = jsonb_build_array(r.rec->>'u', r.rec->>'k')::text;
          END IF;
        END LOOP;
      END IF;
      out := out || jsonb_build_array(jsonb_build_object('ok', true, 'snap', snap,
        'due', newv > expected AND newv - snap >= (a->>'every')::int));
    EXCEPTION
      WHEN SQLSTATE 'QSIDM' THEN
        out := out || jsonb_build_array(jsonb_build_object('idem', SQLERRM::jsonb));
      WHEN unique_violation THEN
        -- Two creators of a new queue: neither had a row to lock; the other committed first.
        SELECT version INTO cur FROM queue_projections WHERE queue_id = qid;
        out := out || jsonb_build_array(jsonb_build_object('conflict', COALESCE(cur, 0)));
    END;
  END LOOP;
  RETURN out;
END
$$;
