// The one idempotency mechanism beside the commit path (src/util/commit.ts): the replay-or-
// reused decision every keyed write makes, the one expiry, a key race answered by a replay
// (or by running the whole write again, for a batch of keys), and the one way commits are told.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { CommitListeners, CommitPath, fingerprint, IdempotencyConflict, idempotencyCutoff, keyReused, recall } from '../../src/util/commit.ts';

describe('recall: replay or reused', () => {
  it('no record is a new request; the same request gets its record back', () => {
    assert.equal(recall(null, 'f', keyReused('k')), null);
    assert.equal(recall(undefined, 'f', keyReused('k')), null);
    const rec = { fingerprint: 'f', status: 201, body: { a: 1 } };
    assert.equal(recall(rec, 'f', keyReused('k')), rec);
  });

  it('another request under the key is 422 with the caller-given code, message and details', () => {
    const rec = { fingerprint: 'f', status: 201, body: {} };
    assert.throws(
      () => recall(rec, 'g', keyReused('k1')),
      (e: unknown) =>
        e instanceof AppError &&
        e.kind === 'limit' &&
        e.code === 'idempotency_key_reused' &&
        e.message === 'this idempotency key was used for a different request' &&
        JSON.stringify(e.details) === JSON.stringify({ idempotencyKey: 'k1' }),
    );
    const offline = { code: 'mutation_id_reused', message: 'this mutation id was used for a different change', details: { clientId: 'c', mutationId: 3 } };
    assert.throws(
      () => recall({ fingerprint: 'f', outcome: {} }, 'g', offline),
      (e: unknown) => e instanceof AppError && e.code === 'mutation_id_reused' && e.details.mutationId === 3,
    );
  });

  it('fingerprints tell requests apart by every part, in order', () => {
    assert.equal(fingerprint('POST', '/q', { a: 1 }), fingerprint('POST', '/q', { a: 1 }));
    assert.notEqual(fingerprint('POST', '/q', { a: 1 }), fingerprint('POST', '/q', { a: 2 }));
    assert.notEqual(fingerprint('a', 'b'), fingerprint('b', 'a'));
  });

  it('one expiry: records older than the TTL (default 24 h) have expired', () => {
    const now = Date.parse('2026-06-02T12:00:00.000Z');
    assert.equal(idempotencyCutoff({}, now), '2026-06-01T12:00:00.000Z');
    assert.equal(idempotencyCutoff({ idempotencyTtlMs: 60_000 }, now), '2026-06-02T11:59:00.000Z');
  });
});

describe('CommitPath key races', () => {
  it('a single key: a race is answered by the replay, or 409 idempotency_conflict when there is still none', async () => {
    const path = new CommitPath();
    let recorded: string | null = null;
    let replays = 0;
    const r = await path.run('s', {
      replay: async () => {
        replays++;
        return recorded;
      },
      once: async () => {
        recorded = 'theirs';
        throw new IdempotencyConflict('u', 'k');
      },
    });
    assert.deepEqual(r, { result: 'theirs', replayed: true });
    assert.equal(replays, 2);
    let ran = 0;
    await assert.rejects(
      path.run('s', {
        replay: async () => null,
        once: async () => {
          ran++;
          throw new IdempotencyConflict('u', 'k');
        },
      }),
      (e: unknown) => e instanceof AppError && e.code === 'idempotency_conflict' && e.message === 'a request with this idempotency key is being processed',
    );
    assert.equal(ran, 1, 'without `again` the write is not run twice');
  });

  it('`again` (a batch of keys): the whole write runs again after a race, up to the attempt limit, with its own message', async () => {
    const path = new CommitPath(undefined, 3);
    let runs = 0;
    const r = await path.run('s', {
      again: true,
      replay: async () => null,
      once: async () => {
        if (++runs < 3) throw new IdempotencyConflict('u', 'k');
        return 'decided';
      },
    });
    assert.deepEqual(r, { result: 'decided', replayed: false });
    assert.equal(runs, 3);
    runs = 0;
    await assert.rejects(
      path.run('s', {
        again: true,
        busy: 'a batch with these idempotency keys is being processed',
        replay: async () => null,
        once: async () => {
          runs++;
          throw new IdempotencyConflict('u', 'k');
        },
      }),
      (e: unknown) => e instanceof AppError && e.code === 'idempotency_conflict' && e.message === 'a batch with these idempotency keys is being processed',
    );
    assert.equal(runs, 3);
  });
});

describe('CommitListeners', () => {
  it('tells every listener in order; one that throws is reported and the others still hear', () => {
    const errors: unknown[] = [];
    const heard: string[] = [];
    const l = new CommitListeners<[string, number[]]>((e) => errors.push(e));
    l.add((id, evs) => heard.push(`a:${id}:${evs.join(',')}`));
    l.add(() => {
      throw new Error('bus down');
    });
    l.add((id) => heard.push(`c:${id}`));
    l.tell('q1', [1, 2]);
    assert.deepEqual(heard, ['a:q1:1,2', 'c:q1']);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, 'bus down');
  });

  it("a stream's notes go to the note listeners only, with the same error isolation", () => {
    const errors: unknown[] = [];
    const commits: string[] = [];
    const notes: string[] = [];
    const l = new CommitListeners<[string, number[]]>((e) => errors.push(e));
    l.add((id) => commits.push(id));
    l.addNote(() => {
      throw new Error('bus down');
    });
    l.addNote((id, note) => notes.push(`${id}:${note.type}:${note.online}`));
    l.note('q1', { type: 'presence', online: true });
    assert.deepEqual(commits, []);
    assert.deepEqual(notes, ['q1:presence:true']);
    assert.equal(errors.length, 1);
    l.tell('q1', [1]);
    assert.deepEqual(notes, ['q1:presence:true']);
    assert.deepEqual(commits, ['q1']);
  });
});
