// Admission control (issues 16 and 20) on the HTTP server and the socket commands: every
// request and command goes through one AdmissionControl (admission-control.ts), which
// starts it at once while fewer than OVERLOAD_CONCURRENCY run, lets it wait its turn
// otherwise, and refuses (503 `overloaded`, Retry-After) only what could not be served in
// time under sustained overload. A refusal is one preserialised answer written before any
// other work (no JWT check, no Redis, no body parsing).
import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OverloadConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { routeOf } from './route-of.ts';
import { AdmissionControl, type Outcome, type RefusalReason, type Ticket, type Timers, type Work } from './admission-control.ts';
import { errorBody } from './errors.ts';

export type { RefusalReason } from './admission-control.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never refused under load (health, readiness, metrics, docs). */
    admission?: boolean;
  }
}

const MESSAGES: Record<RefusalReason, string> = {
  wait_time: 'the server is overloaded: this request waited too long for its turn; retry after a moment',
  queue_full: 'the server is overloaded: too much work is waiting; retry after a moment',
  queue_busy: 'too many writes are pending on this queue to serve this one in time; retry after a moment',
  heap: 'the server is short of memory; retry after a moment',
  shedding: 'the server is overloaded and takes no new sockets now; retry after a moment',
};

const realTimers: Timers = {
  now: () => performance.now(),
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** How often the heap in use is read for its bound. */
const HEAP_SAMPLE_MS = 1000;

/** The controller with the service's bounds, metrics and refusal bodies; shared by HTTP and the sockets. */
export class Admission {
  readonly config: OverloadConfig;
  readonly control: AdmissionControl;
  private readonly metrics: Metrics | undefined;
  private readonly texts = new Map<RefusalReason, string>();
  private heapTimer: NodeJS.Timeout | null = null;

  constructor(config: OverloadConfig, metrics?: Metrics, fanOutLagMs: () => number = () => 0, timers: Timers = realTimers) {
    this.config = config;
    this.metrics = metrics;
    this.control = new AdmissionControl(config, timers, fanOutLagMs);
    metrics?.watchAdmission(() => this.control.stats());
  }

  /** Off with OVERLOAD_CONCURRENCY=0: everything starts at once, nothing is refused. */
  get enabled(): boolean {
    return this.config.concurrency > 0;
  }

  get retryAfterSeconds(): number {
    return this.config.retryAfterSeconds;
  }

  /** Starts sampling the heap against its bound; stop() ends it. */
  start(): void {
    const max = this.config.maxHeapUsedBytes || Math.floor(getHeapStatistics().heap_size_limit * 0.9);
    const sample = () => {
      this.control.heapOver = getHeapStatistics().used_heap_size > max;
    };
    sample();
    this.heapTimer = setInterval(sample, HEAP_SAMPLE_MS);
    this.heapTimer.unref();
  }

  stop(): void {
    if (this.heapTimer) clearInterval(this.heapTimer);
    this.heapTimer = null;
  }

  /** See AdmissionControl.admit. With admission off, the work starts at once. */
  admit(work: Work, outcome: Outcome): Ticket {
    return this.control.admit(work, outcome);
  }

  /** For socket commands: resolves with the function that ends the work, or with the refusal. */
  enter(work: Work): Promise<{ end: () => void } | { refused: RefusalReason }> {
    if (!this.enabled) return Promise.resolve({ end: noop });
    return new Promise((resolve) => {
      this.control.admit(work, (ticket, refused) => resolve(refused === null ? { end: ticket.end } : { refused }));
    });
  }

  refusedBody(reason: RefusalReason) {
    return errorBody('overloaded', MESSAGES[reason], { reason, retryAfterSeconds: this.config.retryAfterSeconds });
  }

  /** The same, as the JSON text an HTTP refusal sends: built once, not serialised per refusal. */
  refusedJson(reason: RefusalReason): string {
    let text = this.texts.get(reason);
    if (text === undefined) this.texts.set(reason, (text = JSON.stringify(this.refusedBody(reason))));
    return text;
  }

  refused(transport: 'http' | 'ws', reason: RefusalReason): void {
    this.metrics?.refused.inc({ transport, reason });
  }
}

const noop = () => undefined;
const isUpgrade = (request: FastifyRequest) => request.headers.upgrade?.toLowerCase() === 'websocket';
const JSON_TYPE = 'application/json; charset=utf-8';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What a refusal needs besides the body: the security headers every answer carries, and CORS. */
export interface RefusalHeaders {
  /** Headers of every answer (security headers), as sent. */
  base: Record<string, string>;
  /** CORS headers for a request from this origin, or null (not an allowed origin, or CORS off). */
  cors(request: FastifyRequest): Record<string, string> | null;
}

/**
 * The onRequest hook, registered before every other: a refused request costs one branch
 * and one write of a preserialised answer, straight to the socket (no serialisation, no
 * onSend hooks; issue 20: refusals must stay cheap).
 */
export function installAdmission(http: FastifyInstance, admission: Admission, headers: RefusalHeaders): void {
  if (!admission.enabled) return;
  admission.start();
  http.addHook('onClose', async () => admission.stop());
  const retryAfter = String(admission.retryAfterSeconds);
  const answers = new Map<RefusalReason, { body: string; headers: Record<string, string> }>();
  const answer = (reason: RefusalReason) => {
    let a = answers.get(reason);
    if (!a) {
      const body = admission.refusedJson(reason);
      a = { body, headers: { ...headers.base, 'content-type': JSON_TYPE, 'retry-after': retryAfter, 'content-length': String(Buffer.byteLength(body)) } };
      answers.set(reason, a);
    }
    return a;
  };
  const refuse = (request: FastifyRequest, reply: FastifyReply, reason: RefusalReason) => {
    admission.refused('http', reason);
    const a = answer(reason);
    const cors = headers.cors(request);
    reply.hijack();
    reply.raw.writeHead(503, cors ? { ...a.headers, ...cors } : a.headers);
    reply.raw.end(a.body);
  };

  http.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'OPTIONS' || request.is404) return done();
    const config = routeOf(request).config;
    if (config?.admission === false || request.url.startsWith('/docs')) return done();
    if (isUpgrade(request)) {
      // A socket costs its setup (snapshot, subscription), then lives on: new sockets are
      // refused while the server sheds load, and otherwise not counted.
      const refused = admission.control.upgradeRefusal();
      if (refused) return refuse(request, reply, refused);
      return done();
    }
    // A route may declare itself a read whatever its method (a lookup with a body).
    const write = WRITE_METHODS.has(request.method) && config?.readOnly !== true;
    const queueId = write ? (request.params as { queueId?: unknown } | undefined)?.queueId : undefined;
    const work: Work = {
      // The credential as sent (not verified yet: that is work) or the address: a tenant's
      // flood waits in its own line ([AD4]).
      tenant: request.headers.authorization ?? request.ip,
      write,
      queueId: typeof queueId === 'string' ? queueId : null,
    };
    const ticket = admission.admit(work, (_t, refused) => {
      if (refused === null) done();
      else refuse(request, reply, refused);
    });
    // 'close' comes after the answer is written, and also when the client went away first
    // (then a waiting request is dropped without being worked on).
    if (!ticket.over) reply.raw.once('close', ticket.end);
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** true: counted as a read by admission control whatever the method. */
    readOnly?: boolean;
  }
}
