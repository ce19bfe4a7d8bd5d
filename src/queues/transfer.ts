// Export and import of the event log as JSONL, one event a line in global append order.
// Import rebuilds each queue's projection by folding the events, and is safe to re-run:
// events a stream already has are skipped, a gap in a stream is an error.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { QueueStreams } from '../store/port.ts';
import { evolve, initialState, QUEUE_EVENT_TYPES, type QueueEvent, type QueueState } from './queue.ts';

export type Progress = (done: number) => void;

export async function exportEvents(store: QueueStreams, out: Writable, progress: Progress = () => {}): Promise<number> {
  let after = 0;
  let n = 0;
  for (;;) {
    const page = await store.readAll(after, 1000);
    if (page.length === 0) break;
    for (const e of page) {
      const { position: _p, ...event } = e;
      if (!out.write(`${JSON.stringify(event)}\n`)) await new Promise((r) => out.once('drain', r));
    }
    n += page.length;
    after = page[page.length - 1]!.position;
    progress(n);
  }
  return n;
}

function parseEvent(line: string, lineNo: number): QueueEvent {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`line ${lineNo}: not JSON`);
  }
  const e = v as Partial<QueueEvent>;
  const ok =
    typeof e === 'object' &&
    e !== null &&
    typeof e.queueId === 'string' &&
    Number.isInteger(e.sequenceNumber) &&
    (e.sequenceNumber as number) > 0 &&
    typeof e.type === 'string' &&
    (QUEUE_EVENT_TYPES as string[]).includes(e.type) &&
    typeof e.userId === 'string' &&
    (e.deviceId === null || typeof e.deviceId === 'string') &&
    typeof e.timestamp === 'string' &&
    !Number.isNaN(Date.parse(e.timestamp)) &&
    typeof e.data === 'object' &&
    e.data !== null;
  if (!ok) throw new Error(`line ${lineNo}: not a queue event (needs queueId, sequenceNumber, type, userId, deviceId, timestamp, data)`);
  return e as QueueEvent;
}

export interface ImportResult {
  imported: number;
  skipped: number;
}

export async function importEvents(store: QueueStreams, input: Readable, progress: Progress = () => {}): Promise<ImportResult> {
  const states = new Map<string, QueueState>();
  let imported = 0;
  let skipped = 0;
  let lineNo = 0;
  // Consecutive events of one queue are appended together, in one transaction.
  let batch: QueueEvent[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const queueId = batch[0]!.queueId;
    let state = states.get(queueId) ?? (await store.loadQueue(queueId)) ?? initialState(queueId);
    const fresh = batch.filter((e) => e.sequenceNumber > state.version);
    skipped += batch.length - fresh.length;
    if (fresh.length > 0) {
      if (fresh[0]!.sequenceNumber !== state.version + 1) {
        throw new Error(`queue ${queueId}: event ${fresh[0]!.sequenceNumber} follows version ${state.version} (a gap in the log)`);
      }
      const expectedVersion = state.version;
      for (const e of fresh) state = evolve(state, e);
      await store.append({
        queueId,
        expectedVersion,
        events: fresh.map(({ queueId: _q, sequenceNumber: _s, ...rest }) => rest),
        state,
      });
      imported += fresh.length;
    }
    states.set(queueId, state);
    batch = [];
    progress(imported + skipped);
  };
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === '') continue;
    const e = parseEvent(line, lineNo);
    const last = batch[batch.length - 1];
    if (batch.length >= 500 || (last && (last.queueId !== e.queueId || e.sequenceNumber !== last.sequenceNumber + 1))) await flush();
    batch.push(e);
  }
  await flush();
  return { imported, skipped };
}
