// WAL checkpoints off the event loop (issue 21): under a long write load the WAL file
// stays bounded, because a worker thread with its own connection copies it back into the
// database every 250 ms and the next write starts it over. A real SQLite file.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NewEvent } from '../../src/store/port.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { initialState, type QueueState } from '../../src/queues/queue.ts';
import { openSqliteStore } from '../../src/stores.ts';

const walSize = (file: string) => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

describe('WAL checkpoints on their own thread (SQLite)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qs-wal-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the WAL stays bounded under a long write load, and the worker does the checkpoints', async () => {
    const file = join(dir, 'queue.db');
    const store: SqliteStore = openSqliteStore(file, {});
    await store.migrate();
    const payload = 'x'.repeat(500);
    const queues = Array.from({ length: 32 }, (_, i) => ({ ...initialState(`q${i}`), version: 0 }) as QueueState);
    let written = 0;
    let appends = 0;
    let maxWal = 0;
    const until = performance.now() + 5000;
    while (performance.now() < until) {
      // 32 appends per turn, as concurrent requests would make them (one group commit), a
      // turn every 10 ms: ~3,000 writes a second, more than the service answers on this machine.
      const turn = new Promise((r) => setTimeout(r, 10));
      await Promise.all(
        queues.map(async (q, i) => {
          const ev: NewEvent = { type: 'queue_updated', data: { name: payload }, userId: 'u', deviceId: null, timestamp: new Date().toISOString() } as NewEvent;
          const next = { ...q, version: q.version + 1, name: `n${q.version}` };
          await store.append({ queueId: q.id, expectedVersion: q.version, events: [ev], state: next });
          queues[i] = next;
          written += payload.length;
          appends++;
        }),
      );
      maxWal = Math.max(maxWal, walSize(file));
      await turn;
    }
    const stats = store.checkpointer!.stats;
    assert.ok(appends > 8000, `${appends} appends`);
    assert.ok(stats.runs >= 8, `the worker checkpointed ${stats.runs} times`);
    assert.equal(stats.lastError, null);
    // Bounded, and below the event loop's own backstop (32 MB): the worker keeps up.
    assert.ok(maxWal < 16 * 2 ** 20, `WAL reached ${(maxWal / 2 ** 20).toFixed(1)} MB while ${(written / 2 ** 20).toFixed(0)} MB were written`);
    console.log(
      `${appends} appends, ${(written / 2 ** 20).toFixed(0)} MB of event data in 5 s; WAL at most ${(maxWal / 2 ** 20).toFixed(1)} MB; ${stats.runs} checkpoints`,
    );
    for (const q of queues) assert.equal(await store.queueVersion(q.id), q.version);
    await store.close();
  });
});
