// Prometheus metrics. One registry per app instance, so tests can build several apps.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { RequestHistogram } from './request-histogram.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new RequestHistogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** One answered request into http_request_duration_seconds (labels method, route, status_code). */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void {
    this.httpDuration.observe(method, route ?? 'unmatched', status, seconds);
  }

  readonly eventsAppended = new Counter({
    name: 'queue_events_appended_total',
    help: 'Queue events appended to the store, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly sockets = new Gauge({
    name: 'websocket_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });

  readonly slowConsumers = new Counter({
    name: 'websocket_slow_consumer_closes_total',
    help: 'Sockets closed because their send buffer passed the bound',
    registers: [this.registry],
  });

  readonly catchups = new Counter({
    name: 'websocket_catchups_total',
    help: 'Subscriptions that read events back from the store: after a gap in the bus, or a bus reconnect',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly refused = new Counter({
    name: 'requests_refused_total',
    help: 'HTTP requests and socket commands refused before any work: overload (503) or a rate limit (429)',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });

  /** Read when scraped (watchAdmission): nothing is counted per request. */
  private admission: (() => { running: number; waiting: number; overloaded: boolean }) | null = null;

  readonly inFlight = new Gauge({
    name: 'requests_in_flight',
    help: 'HTTP requests and socket commands being worked on',
    registers: [this.registry],
    collect: () => {
      this.inFlight.set(this.admission?.().running ?? 0);
    },
  });

  readonly waiting = new Gauge({
    name: 'requests_waiting',
    help: 'HTTP requests and socket commands waiting for their turn (admission control)',
    registers: [this.registry],
    collect: () => {
      this.waiting.set(this.admission?.().waiting ?? 0);
    },
  });

  readonly overloaded = new Gauge({
    name: 'admission_overloaded',
    help: '1 while the admission queue has stood above its target for an interval (newest first, long waits refused)',
    registers: [this.registry],
    collect: () => {
      this.overloaded.set(this.admission?.().overloaded ? 1 : 0);
    },
  });

  /** The store's group commit, read when scraped (watchCommits). */
  private readonly commitCounts = new FollowedCounts(this.registry, {
    transactions: {
      name: 'store_commits_total',
      help: 'Transactions that committed appends: queue, user-stream, plays, radio history (group commit: several appends each)',
    },
    writes: {
      name: 'store_commit_writes_total',
      help: 'Appends committed (queue, user-stream, plays, radio history); over store_commits_total: appends per transaction',
    },
  });

  /** Queue writes joined into batches on busy queues (QueueService.joinStats), read when scraped (watchJoins). */
  private readonly joinCounts = new FollowedCounts(this.registry, {
    writes: {
      name: 'queue_writes_joined_total',
      help: 'Queue writes that met another under way on their queue and were decided and appended with others (one append per batch)',
    },
    batches: { name: 'queue_write_batches_total', help: 'Batches of joined queue writes appended; queue_writes_joined_total over it: writes per batch' },
  });

  watchCommits(stats: () => { transactions: number; writes: number }): void {
    this.commitCounts.watch(stats);
  }

  watchJoins(stats: () => { batches: number; writes: number }): void {
    this.joinCounts.watch(stats);
  }

  watchAdmission(stats: () => { running: number; waiting: number; overloaded: boolean }): void {
    this.admission = stats;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

/**
 * Counters that follow counts kept elsewhere (the store's group commit, the queue service's
 * joined writes), read when scraped: each scrape adds what each count grew by since the last.
 */
class FollowedCounts<K extends string> {
  private readonly counters = new Map<K, Counter>();
  private source: (() => Record<K, number>) | null = null;
  private readonly seen = new Map<K, number>();

  constructor(registry: Registry, defs: Record<K, { name: string; help: string }>) {
    for (const k of Object.keys(defs) as K[]) this.counters.set(k, new Counter({ ...defs[k], registers: [registry], collect: () => this.sync() }));
  }

  watch(source: () => Record<K, number>): void {
    this.source = source;
  }

  private sync(): void {
    const now = this.source?.();
    if (!now) return;
    for (const [k, counter] of this.counters) {
      const grew = now[k] - (this.seen.get(k) ?? 0);
      if (grew > 0) counter.inc(grew);
      this.seen.set(k, now[k]);
    }
  }
}
