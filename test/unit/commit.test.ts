// The one commit path (src/util/commit.ts): replay first, one writer per stream, retries on
// version conflicts only when allowed, a key race answered by the replay, and each commit's
// listeners done before the next write to the stream starts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, VersionConflictError } from '../../src/errors.ts';
import { IdempotencyConflict } from '../../src/store/port.ts';
import { CommitPath } from '../../src/util/commit.ts';

describe('CommitPath', () => {
  it('answers from the replay without running the write', async () => {
    const path = new CommitPath();
    let ran = 0;
    const r = await path.run('s', {
      replay: async () => 'recorded',
      once: async () => {
        ran++;
        return 'fresh';
      },
    });
    assert.deepEqual(r, { result: 'recorded', replayed: true });
    assert.equal(ran, 0);
  });

  it('retries a version conflict with back-off, and not when the client pinned a version', async () => {
    const path = new CommitPath();
    let n = 0;
    const r = await path.run('s', {
      once: async (attempt) => {
        n = attempt;
        if (attempt < 4) throw new VersionConflictError('s', 1, 2);
        return 'ok';
      },
    });
    assert.equal(r.result, 'ok');
    assert.equal(n, 4);
    let tries = 0;
    await assert.rejects(
      path.run('s', {
        retry: false,
        once: async () => {
          tries++;
          throw new VersionConflictError('s', 1, 2);
        },
      }),
      VersionConflictError,
    );
    assert.equal(tries, 1);
    const capped = new CommitPath(undefined, 3);
    let k = 0;
    await assert.rejects(
      capped.run('s', {
        once: async () => {
          k++;
          throw new VersionConflictError('s', 1, 2);
        },
      }),
      VersionConflictError,
    );
    assert.equal(k, 3);
  });

  it('a key recorded concurrently is answered by the replay, or 409 while there is none', async () => {
    const path = new CommitPath();
    let recorded: string | null = null;
    const r = await path.run('s', {
      replay: async () => recorded,
      once: async () => {
        recorded = 'theirs';
        throw new IdempotencyConflict('u', 'k');
      },
    });
    assert.deepEqual(r, { result: 'theirs', replayed: true });
    await assert.rejects(
      path.run('s', {
        replay: async () => null,
        once: async () => {
          throw new IdempotencyConflict('u', 'k');
        },
      }),
      (e: unknown) => e instanceof AppError && e.code === 'idempotency_conflict',
    );
    // Without a replay the caller gets the conflict itself (a batch handles its keys).
    await assert.rejects(
      path.run('s', {
        once: async () => {
          throw new IdempotencyConflict('u', 'k');
        },
      }),
      IdempotencyConflict,
    );
  });

  it('one write per stream at a time, each commit published before the next starts; other streams run alongside', async () => {
    const path = new CommitPath();
    const log: string[] = [];
    const write = (stream: string, name: string, ms: number) =>
      path.run(stream, {
        once: async () => {
          log.push(`start ${name}`);
          await new Promise((r) => setTimeout(r, ms));
          log.push(`end ${name}`);
          return name;
        },
        committed: (r) => log.push(`publish ${r}`),
      });
    await Promise.all([write('a', 'a1', 30), write('a', 'a2', 1), write('b', 'b1', 5)]);
    const a = log.filter((l) => / a\d$/.test(l));
    assert.deepEqual(a, ['start a1', 'end a1', 'publish a1', 'start a2', 'end a2', 'publish a2']);
    assert.ok(log.indexOf('publish b1') < log.indexOf('end a1'), 'stream b did not wait for stream a');
  });

  it('takes the cross-instance lock around the whole write', async () => {
    const held: string[] = [];
    const path = new CommitPath(async (stream, fn) => {
      held.push(`lock ${stream}`);
      try {
        return await fn();
      } finally {
        held.push(`unlock ${stream}`);
      }
    });
    await path.run('q1', {
      once: async () => {
        held.push('write');
        return 1;
      },
    });
    assert.deepEqual(held, ['lock q1', 'write', 'unlock q1']);
  });
});
