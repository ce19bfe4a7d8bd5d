// Admission control (issue 16): under a traffic spike the service keeps serving at its
// peak rate and refuses the excess with a cheap 503 before doing any work for it.
// Bounds: work in flight (HTTP requests and socket commands), writes pending per queue,
// and, sampled by @fastify/under-pressure, the event-loop delay and the heap in use.
// The in-flight counter is exact and immediate; under-pressure samples the loop and the
// heap periodically, so it catches what the counter cannot see (fan-out, GC) a little late.
import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import underPressure from '@fastify/under-pressure';
import type { OverloadConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { errorBody } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never refused under load (health, readiness, metrics, docs). */
    admission?: boolean;
  }
}

export type RefusalReason = 'in_flight' | 'wait_time' | 'queue_busy' | 'fan_out_lag' | 'event_loop_delay' | 'heap';
export type Admitted = { ok: true; release: () => void } | { ok: false; reason: RefusalReason };

const MESSAGES: Record<RefusalReason, string> = {
  in_flight: 'the server is at its bound of work in flight; retry after a moment',
  wait_time: 'requests already wait too long for their turn here; retry after a moment',
  queue_busy: 'too many writes are pending on this queue; retry after a moment',
  fan_out_lag: 'the server is behind in sending events to sockets; retry the write after a moment',
  event_loop_delay: 'the server is overloaded; retry after a moment',
  heap: 'the server is short of memory; retry after a moment',
};

/** The counters behind the bounds; shared by the HTTP hook and the socket command path. */
export class Admission {
  private inFlight = 0;
  private readonly perQueue = new Map<string, number>();
  /** Set by the under-pressure plugin once registered: the sampled pressure, if any. */
  pressure: () => RefusalReason | null = () => null;

  readonly config: OverloadConfig;
  private readonly metrics?: Metrics;
  /** How far the local fan-out lags behind the commits (ms). */
  private readonly fanOutLagMs: () => number;

  constructor(config: OverloadConfig, metrics?: Metrics, fanOutLagMs: () => number = () => 0) {
    this.config = config;
    this.metrics = metrics;
    this.fanOutLagMs = fanOutLagMs;
  }

  get retryAfterSeconds(): number {
    return this.config.retryAfterSeconds;
  }

  /** Would new work be refused now? (For socket upgrades, which are not counted as in flight.) */
  check(): RefusalReason | null {
    const p = this.pressure();
    if (p) return p;
    if (this.config.maxInFlight > 0 && this.inFlight >= this.config.maxInFlight) return 'in_flight';
    // The wait of the oldest admitted request adapts the bound to what the work costs:
    // many cheap reads may wait at once, few expensive writes (a CoDel-like signal).
    const oldest = this.waiting[0];
    if (this.config.maxWaitMs > 0 && oldest && performance.now() - oldest.at > this.config.maxWaitMs) return 'wait_time';
    return null;
  }

  /**
   * Counts one piece of work in; `release` must be called once it is done. A write names
   * its queue (null when it has none in its path) and is also refused while the fan-out
   * of earlier writes lags: each write adds to it.
   */
  enter(work: { write: boolean; queueId: string | null }): Admitted {
    const { queueId } = work;
    const refused = this.check();
    if (refused) return { ok: false, reason: refused };
    if (work.write && this.config.maxFanOutLagMs > 0 && this.fanOutLagMs() > this.config.maxFanOutLagMs) return { ok: false, reason: 'fan_out_lag' };
    const perQueueMax = this.config.maxPendingWritesPerQueue;
    const onQueue = queueId === null ? 0 : (this.perQueue.get(queueId) ?? 0);
    if (queueId !== null && perQueueMax > 0 && onQueue >= perQueueMax) return { ok: false, reason: 'queue_busy' };
    this.inFlight++;
    this.metrics?.inFlight.inc();
    if (queueId !== null) this.perQueue.set(queueId, onQueue + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.metrics?.inFlight.dec();
        if (queueId === null) return;
        const n = (this.perQueue.get(queueId) ?? 1) - 1;
        if (n <= 0) this.perQueue.delete(queueId);
        else this.perQueue.set(queueId, n);
      },
    };
  }

  /**
   * Resolves on a later turn of the event loop, one admitted piece of work per turn, so
   * the loop reads (and refuses, cheaply) new requests between any two admitted ones.
   * Without it every request read in one go started at once, and with a synchronous store
   * the loop was blocked for all of them: the refusals waited as long as the work.
   * `arrivedAt`: when the work arrived, if it waited elsewhere first (a socket's earlier
   * commands), so that the wait bound counts that wait too.
   */
  turn(arrivedAt: number = performance.now()): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push({ resolve, at: arrivedAt });
      if (!this.pacing) {
        this.pacing = true;
        setImmediate(this.pace);
      }
    });
  }

  private readonly waiting: { resolve: () => void; at: number }[] = [];
  private pacing = false;
  private readonly pace = (): void => {
    this.waiting.shift()?.resolve();
    if (this.waiting.length > 0) setImmediate(this.pace);
    else this.pacing = false;
  };

  refusedBody(reason: RefusalReason) {
    return errorBody('overloaded', MESSAGES[reason], { reason, retryAfterSeconds: this.config.retryAfterSeconds });
  }

  /** The same, as the JSON text an HTTP refusal sends: built once, not serialised per refusal. */
  refusedJson(reason: RefusalReason): string {
    let text = this.texts.get(reason);
    if (text === undefined) this.texts.set(reason, (text = JSON.stringify(this.refusedBody(reason))));
    return text;
  }

  private readonly texts = new Map<RefusalReason, string>();

  refused(transport: 'http' | 'ws', reason: RefusalReason): void {
    this.metrics?.refused.inc({ transport, reason });
  }
}

const exempt = (request: FastifyRequest) => request.routeOptions.config?.admission === false || request.url.startsWith('/docs');
const isUpgrade = (request: FastifyRequest) => request.headers.upgrade?.toLowerCase() === 'websocket';
const JSON_TYPE = 'application/json; charset=utf-8';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Registers under-pressure and the in-flight hook. Call it before the hooks that do work
 * (auth verifies a JWT, rate limits may ask Redis): a refused request costs one branch.
 */
export async function installAdmission(http: FastifyInstance, admission: Admission): Promise<void> {
  const { config } = admission;
  // The first samples after start measure the start itself (compiling schemas, migrating):
  // the sampled bounds apply from two samples after the app is ready; the counters at once.
  const SAMPLE_MS = 250;
  let armed = false;
  http.addHook('onReady', async () => {
    setTimeout(() => (armed = true), 2 * SAMPLE_MS + 50).unref();
  });
  const refuse = (reply: FastifyReply, reason: RefusalReason) => {
    admission.refused('http', reason);
    return reply.code(503).header('retry-after', String(config.retryAfterSeconds)).type(JSON_TYPE).send(admission.refusedJson(reason));
  };
  const maxHeap = config.maxHeapUsedBytes || Math.floor(getHeapStatistics().heap_size_limit * 0.9);
  await http.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxHeapUsedBytes: maxHeap,
    sampleInterval: SAMPLE_MS,
    // Our own answer (error shape, Retry-After), and never for health, readiness, metrics or docs.
    // The plugin sends what the handler returns (index.js handlePressure: `reply.send(result)`),
    // but its typings say the handler returns void: a hole in the library's types, hence the cast.
    pressureHandler: ((request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
      if (!armed || exempt(request)) return undefined;
      // The plugin reports a sample without any delay measured in it (the loop, or the whole
      // process on a saturated machine, was stalled through it) as an infinite delay, and
      // keeps saying so until the next sample: that is no measure, so it refuses nothing.
      if (type === 'eventLoopDelay' && !Number.isFinite(value)) return undefined;
      const reason: RefusalReason = type === 'heapUsedBytes' ? 'heap' : 'event_loop_delay';
      admission.refused('http', reason);
      reply.code(503).header('retry-after', String(config.retryAfterSeconds)).type(JSON_TYPE);
      return admission.refusedJson(reason);
    }) as unknown as () => void,
  });
  // The same sampled bounds for socket commands, read from the plugin's last sample.
  admission.pressure = () => {
    if (!armed) return null;
    const m = http.memoryUsage();
    if (config.maxEventLoopDelayMs > 0 && Number.isFinite(m.eventLoopDelay) && m.eventLoopDelay > config.maxEventLoopDelayMs) return 'event_loop_delay';
    return m.heapUsed > maxHeap ? 'heap' : null;
  };

  http.addHook('onRequest', (request, reply, done) => {
    if (exempt(request) || request.is404 || request.method === 'OPTIONS') return done();
    if (isUpgrade(request)) {
      // A socket costs its setup (snapshot, subscription), then lives on; only the setup is bounded.
      const refused = admission.check();
      if (refused) return void refuse(reply, refused);
      return done();
    }
    // A route may declare itself a read whatever its method (a lookup with a body).
    const write = WRITE_METHODS.has(request.method) && (request.routeOptions.config as { readOnly?: boolean } | undefined)?.readOnly !== true;
    const queueId = write ? ((request.params as { queueId?: unknown } | undefined)?.queueId ?? null) : null;
    const admitted = admission.enter({ write, queueId: typeof queueId === 'string' ? queueId : null });
    if (!admitted.ok) return void refuse(reply, admitted.reason);
    // 'close' comes after the answer is written and also when the client went away first.
    reply.raw.once('close', admitted.release);
    void admission.turn().then(() => done());
  });
}
