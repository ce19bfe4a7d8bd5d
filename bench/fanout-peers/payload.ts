// The messages the fan-out peers broadcast: the same envelope and the same fields as
// our server's queue events (type, queueId, userId, deviceId, timestamp, data,
// sequenceNumber, stream), so every system under test moves the same bytes.
import { randomUUID } from 'node:crypto';

export interface EventEnvelope {
  type: 'item_added' | 'item_removed';
  queueId: string;
  userId: string;
  deviceId: null;
  /** Epoch ms when the write was handled: the peers' equivalent of our commit time. */
  timestamp: number;
  data: Record<string, string>;
  sequenceNumber: number;
  stream: 'queue';
}

/** Builds the event for a write: `POST /queues/{id}/tracks` adds, `DELETE /queues/{id}/items/{itemId}` removes. */
export function eventFor(op: { kind: 'add'; trackId: string } | { kind: 'remove'; itemId: string }, queueId: string, sequenceNumber: number): EventEnvelope {
  const base = { queueId, userId: 'fanout-owner', deviceId: null, timestamp: Date.now(), sequenceNumber, stream: 'queue' as const };
  if (op.kind === 'add') {
    // Our keys are fractional indexes ("a0", "a1", ..., "b10"...): a short string of similar length.
    return { ...base, type: 'item_added', data: { itemId: randomUUID(), trackId: op.trackId, key: `a${sequenceNumber.toString(36)}` } };
  }
  return { ...base, type: 'item_removed', data: { itemId: op.itemId } };
}

/**
 * Parses the two write routes the harness uses; null for anything else.
 * The answer mirrors ours in shape ({queue:{id,version}, events:[...]}) but not in size:
 * our REST answer carries the whole queue view.
 */
export function parseWrite(
  method: string | undefined,
  url: string | undefined,
  body: string,
): { queueId: string; op: { kind: 'add'; trackId: string } | { kind: 'remove'; itemId: string } } | null {
  const path = (url ?? '').split('?')[0]!;
  let m = /^\/queues\/([^/]+)\/tracks$/.exec(path);
  if (method === 'POST' && m) {
    const tracks = (JSON.parse(body || '{}') as { tracks?: string[] }).tracks ?? [];
    return { queueId: m[1]!, op: { kind: 'add', trackId: tracks[0] ?? 'track' } };
  }
  m = /^\/queues\/([^/]+)\/items\/([^/]+)$/.exec(path);
  if (method === 'DELETE' && m) return { queueId: m[1]!, op: { kind: 'remove', itemId: m[2]! } };
  return null;
}

/** POST /queues: the peers only hand out an id (no state is kept beyond a sequence counter). */
export function newQueueId(): string {
  return randomUUID();
}
