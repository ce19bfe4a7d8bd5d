// The load generator of bench:core, run by bench/core.ts in a process of its own so that it
// does not share an event loop with anything it measures:
//
//   node bench/core-load.ts <plan.json> [<state-out.json>]
//
// The plan (LoadPlan below) names the target URL, the queues (id, authorization header, the
// item ids the harness added to each, oldest first), the phase and its duration. It runs
// autocannon once, prints one line of JSON (LoadResult) on stdout and, for write phases,
// writes the queues' item ids as they are at the end to <state-out.json>, so the next
// phase keeps removing the oldest of them. It prints "started" just before the load starts.
//
// Writes: each connection repeats a cycle of five requests on one queue (queues taken
// round robin): add one track, remove the oldest item the harness added to that queue
// (its id learnt from the add's answer), move one of the newer half of them to a random
// position, next, and repeat all/off (flipped per queue). Adds balance removals, so the
// queue length stays put. Reads: one request per cycle, queues round robin.
import autocannon from 'autocannon';
import { readFileSync, writeFileSync } from 'node:fs';

export type ReadKind = 'default' | 'around' | 'events';

export interface LoadQueue {
  id: string;
  /** Authorization header value, '' for none. */
  auth: string;
  /** Item ids the harness added to this queue, oldest first. */
  ids: string[];
  repeat: 'off' | 'all';
  /** The queue's version (for events since N). */
  version: number;
}

export interface LoadPlan {
  url: string;
  connections: number;
  seconds: number;
  phase: 'writes' | 'reads';
  /** Value of a Prefer header on every write, or none. */
  prefer?: string;
  /** Which read (reads only). */
  read?: ReadKind;
  /** Track ids added are t-(trackBase + n): unique across a run. */
  trackBase: number;
  queues: LoadQueue[];
}

export interface LoadResult {
  /** Completed 2xx answers per second of the run. */
  opsPerSec: number;
  completed: number;
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  /** Answers by status code. */
  statuses: Record<string, number>;
  /** Bytes the load generator read per answer, headers included. */
  bytesPerAnswer: number;
  /** Requests sent per operation; `(substituted)` counts removals/moves sent as next instead. */
  sentByOp: Record<string, number>;
  /** Non-2xx answers per operation and status, e.g. "move 404". */
  failedByOp: Record<string, number>;
  /** The first non-2xx answer seen (truncated). */
  sampleFailure: string | null;
  /** Adds whose answer had no recognisable item id (the harness could not pair a removal). */
  idMisses: number;
  /** CPU of this process over the run, % of one core. */
  generatorCpuPct: number;
}

/** A FIFO of item ids with O(1) removal of the oldest. */
class Fifo {
  private a: string[];
  private h = 0;
  constructor(ids: string[]) {
    this.a = ids.slice();
  }
  get size(): number {
    return this.a.length - this.h;
  }
  push(id: string): void {
    this.a.push(id);
  }
  shift(): string | undefined {
    if (this.h >= this.a.length) return undefined;
    const id = this.a[this.h++];
    if (this.h > 4096 && this.h * 2 > this.a.length) {
      this.a = this.a.slice(this.h);
      this.h = 0;
    }
    return id;
  }
  /** One of the newer half (the older ones are the next to be removed). */
  newer(): string | undefined {
    const n = this.size;
    if (n === 0) return undefined;
    const from = this.h + Math.floor(n / 2);
    return this.a[from + Math.floor(Math.random() * (this.a.length - from))];
  }
  toArray(): string[] {
    return this.a.slice(this.h);
  }
}

/**
 * The item id of the track just added, from an add's answer. Fast path: the object around
 * the (unique) track id, as in an item_added event's data or a window item; else parse.
 */
export function addedItemId(body: string, trackId: string): string | null {
  const at = body.indexOf(`"${trackId}"`);
  if (at >= 0) {
    const open = body.lastIndexOf('{', at);
    const close = body.indexOf('}', at);
    if (open >= 0 && close > at) {
      const m = /"itemId"\s*:\s*"([^"]+)"/.exec(body.slice(open, close));
      if (m) return m[1]!;
    }
  }
  try {
    const j = JSON.parse(body);
    for (const e of Array.isArray(j?.events) ? j.events : []) {
      if (e?.type === 'item_added' && e.data?.trackId === trackId && typeof e.data.itemId === 'string') return e.data.itemId;
    }
    const items = j?.queue?.items ?? j?.items;
    for (const it of Array.isArray(items) ? items : []) if (it?.trackId === trackId && typeof it.itemId === 'string') return it.itemId;
  } catch {
    /* not JSON */
  }
  return null;
}

type Req = autocannon.Request;
interface Ctx {
  q: number;
  track: string;
  addOk: boolean;
}

export async function runLoad(plan: LoadPlan): Promise<{ result: LoadResult; queues: LoadQueue[] }> {
  const Q = plan.queues.length;
  if (Q === 0) throw new Error('no queues in the plan');
  const fifos = plan.queues.map((q) => new Fifo(q.ids));
  const repeat = plan.queues.map((q) => q.repeat);
  const statuses: Record<string, number> = {};
  const sentByOp: Record<string, number> = {};
  const failedByOp: Record<string, number> = {};
  let sampleFailure: string | null = null;
  let idMisses = 0;
  let rr = 0;
  let seq = 0;

  const writeHeaders = (q: number, json: boolean): Record<string, string> => {
    const h: Record<string, string> = {};
    if (json) h['content-type'] = 'application/json';
    if (plan.queues[q]!.auth) h.authorization = plan.queues[q]!.auth;
    if (plan.prefer) h.prefer = plan.prefer;
    return h;
  };
  const sent = (op: string) => (sentByOp[op] = (sentByOp[op] ?? 0) + 1);
  const tally = (op: string) => (status: number, body: string) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status < 200 || status > 299) {
      failedByOp[`${op} ${status}`] = (failedByOp[`${op} ${status}`] ?? 0) + 1;
      sampleFailure ??= `${op} ${status} ${body.slice(0, 300)}`;
    }
  };
  const next = (req: Req, q: number): Req => ({
    ...req,
    method: 'POST',
    path: `/queues/${plan.queues[q]!.id}/next`,
    headers: writeHeaders(q, true),
    body: '{}',
  });

  let requests: Req[];
  if (plan.phase === 'writes') {
    requests = [
      {
        setupRequest: (req, c) => {
          const ctx = c as Ctx;
          ctx.q = rr++ % Q;
          ctx.track = `t-${plan.trackBase + seq++}`;
          ctx.addOk = false;
          sent('add');
          return {
            ...req,
            method: 'POST',
            path: `/queues/${plan.queues[ctx.q]!.id}/tracks`,
            headers: writeHeaders(ctx.q, true),
            body: JSON.stringify({ tracks: [ctx.track] }),
          };
        },
        onResponse: (status, body, c) => {
          const ctx = c as Ctx;
          tally('add')(status, body);
          if (status < 200 || status > 299) return;
          const id = addedItemId(body, ctx.track);
          if (id === null) idMisses++;
          else {
            fifos[ctx.q]!.push(id);
            ctx.addOk = true;
          }
        },
      },
      {
        setupRequest: (req, c) => {
          const ctx = c as Ctx;
          // Only remove when this cycle's add went in, so the length stays put.
          const id = ctx.addOk ? fifos[ctx.q]!.shift() : undefined;
          if (id === undefined) {
            sent('remove (substituted: next)');
            return next(req, ctx.q);
          }
          sent('remove');
          return { ...req, method: 'DELETE', path: `/queues/${plan.queues[ctx.q]!.id}/items/${id}`, headers: writeHeaders(ctx.q, false), body: undefined };
        },
        onResponse: (status, body) => tally('remove')(status, body),
      },
      {
        setupRequest: (req, c) => {
          const ctx = c as Ctx;
          const f = fifos[ctx.q]!;
          const id = f.newer();
          if (id === undefined) {
            sent('move (substituted: next)');
            return next(req, ctx.q);
          }
          sent('move');
          const position = Math.floor(Math.random() * f.size);
          return {
            ...req,
            method: 'POST',
            path: `/queues/${plan.queues[ctx.q]!.id}/items/${id}/move`,
            headers: writeHeaders(ctx.q, true),
            body: JSON.stringify({ position }),
          };
        },
        onResponse: (status, body) => tally('move')(status, body),
      },
      {
        setupRequest: (req, c) => {
          sent('next');
          return next(req, (c as Ctx).q);
        },
        onResponse: (status, body) => tally('next')(status, body),
      },
      {
        setupRequest: (req, c) => {
          const q = (c as Ctx).q;
          repeat[q] = repeat[q] === 'all' ? 'off' : 'all';
          sent('repeat');
          return {
            ...req,
            method: 'PUT',
            path: `/queues/${plan.queues[q]!.id}/repeat`,
            headers: writeHeaders(q, true),
            body: JSON.stringify({ repeat: repeat[q] }),
          };
        },
        onResponse: (status, body) => tally('repeat')(status, body),
      },
    ];
  } else {
    const kind = plan.read ?? 'default';
    requests = [
      {
        setupRequest: (req) => {
          const q = plan.queues[rr++ % Q]!;
          const headers: Record<string, string> = q.auth ? { authorization: q.auth } : {};
          let path = `/queues/${q.id}`;
          if (kind === 'around') path += '?around=current&limit=20';
          else if (kind === 'events') path += `/events?since=${Math.max(0, q.version - 20)}&limit=50`;
          sent(`read ${kind}`);
          return { ...req, method: 'GET', path, headers, body: undefined };
        },
        onResponse: (status, body) => tally(`read ${kind}`)(status, body),
      },
    ];
  }

  process.stdout.write('started\n'); // the harness measures the server's CPU from here
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await autocannon({ url: plan.url, connections: plan.connections, duration: plan.seconds, pipelining: 1, requests });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);

  const ok = r['2xx'];
  const result: LoadResult = {
    opsPerSec: ok / r.duration,
    completed: r.requests.total,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    statuses,
    sentByOp,
    failedByOp,
    sampleFailure,
    idMisses,
    generatorCpuPct: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
    bytesPerAnswer: r.requests.total > 0 ? r.throughput.total / r.requests.total : 0,
  };
  const queues = plan.queues.map((q, i) => ({ ...q, ids: fifos[i]!.toArray(), repeat: repeat[i]! }));
  return { result, queues };
}

if (import.meta.filename === process.argv[1] || process.argv[1]?.endsWith('core-load.ts')) {
  const [planPath, statePath] = process.argv.slice(2);
  if (!planPath) {
    process.stderr.write('usage: node bench/core-load.ts <plan.json> [<state-out.json>]\n');
    process.exit(2);
  }
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as LoadPlan;
  const { result, queues } = await runLoad(plan);
  if (statePath) writeFileSync(statePath, JSON.stringify(queues));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
