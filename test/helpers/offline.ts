// Helpers of the offline suites: a device that records changes while offline, and
// clients that rebuild a queue from events (REST or socket) to compare with GET.
import assert from 'node:assert/strict';
import { evolve, initialState, toView, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import type { client } from './server.ts';
import { mulberry32 } from './random.ts';

/** A seeded PRNG (mulberry32), so runs can be repeated. */
export const prng = mulberry32;

export type Res = Awaited<ReturnType<ReturnType<typeof client>>>;
export type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

/** Asserts the status and the error shape {error:{code,message,details}} (and the code when given). */
export function assertError(res: Res, status: number, code?: string): void {
  const where = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.deepEqual(Object.keys(res.body ?? {}), ['error'], where);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'details', 'message'], where);
  assert.equal(typeof res.body.error.code, 'string', where);
  assert.equal(typeof res.body.error.message, 'string', where);
  assert.ok(res.body.error.details && typeof res.body.error.details === 'object' && !Array.isArray(res.body.error.details), where);
  if (code !== undefined) assert.equal(res.body.error.code, code, where);
}

export function assertOk(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Every event of a queue (REST, paged). */
export async function allEvents(call: Call, queueId: string): Promise<QueueEvent[]> {
  const out: QueueEvent[] = [];
  for (let since = 0; ; ) {
    const r = assertOk(await call('GET', `/queues/${queueId}/events?since=${since}&limit=1000`));
    out.push(...r.events);
    if (!r.hasMore) return out;
    since = r.nextSince;
  }
}

/** Folds events onto a state: socket events carry epoch-ms timestamps, REST ones ISO strings. */
export function fold(state: QueueState, events: any[]): QueueState {
  return events.reduce(
    (s: QueueState, e: any) =>
      evolve(s, { ...e, timestamp: typeof e.timestamp === 'number' ? new Date(e.timestamp).toISOString() : e.timestamp } as QueueEvent),
    state,
  );
}

export const rebuild = (queueId: string, events: any[]) => fold(initialState(queueId), events);

/** The view a client computes, in the JSON form GET answers. */
export const viewOf = (s: QueueState) => JSON.parse(JSON.stringify(toView(s)));

/** A device that records changes made offline, with increasing mutation ids. */
export class OfflineDevice {
  private next = 1;
  readonly changes: any[] = [];

  readonly clientId: string;
  constructor(clientId: string, start = 1) {
    this.clientId = clientId;
    this.next = start;
  }

  /** Records a change and returns it (with its mutation id). */
  queue(queueId: string, op: string, args: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): any {
    const c = { clientId: this.clientId, mutationId: this.next++, resourceType: 'queue', resourceId: queueId, op, args, clientTimestamp: Date.now(), ...extra };
    this.changes.push(c);
    return c;
  }

  playback(args: Record<string, unknown>, extra: Record<string, unknown> = {}): any {
    const c = {
      clientId: this.clientId,
      mutationId: this.next++,
      resourceType: 'playback',
      resourceId: 'me',
      op: 'set_playback',
      args,
      clientTimestamp: Date.now(),
      ...extra,
    };
    this.changes.push(c);
    return c;
  }

  /** The recorded changes (and forgets them). */
  take(): any[] {
    return this.changes.splice(0);
  }
}

/** Outcomes by mutation id, from a sync answer. */
export function outcomes(answer: any): Record<number, string> {
  const out: Record<number, string> = {};
  for (const r of answer.results) if (r.mutationId !== null) out[r.mutationId] = r.outcome;
  return out;
}

/** The conflict entry of a mutation id. */
export function conflictOf(answer: any, mutationId: number): any {
  return answer.conflicts.find((c: any) => c.change?.mutationId === mutationId);
}
