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
  private commitStats: (() => { transactions: number; writes: number }) | null = null;
  private commitsSeen = { transactions: 0, writes: 0 };

  readonly commits = new Counter({
    name: 'store_commits_total',
    help: 'Transactions that committed appends: queue, user-stream, plays, radio history (group commit: several appends each)',
    registers: [this.registry],
    collect: () => this.collectCommits(),
  });

  readonly commitWrites = new Counter({
    name: 'store_commit_writes_total',
    help: 'Appends committed (queue, user-stream, plays, radio history); over store_commits_total: appends per transaction',
    registers: [this.registry],
    collect: () => this.collectCommits(),
  });

  /** Queue writes joined into batches on busy queues (QueueService.joinStats), read when scraped. */
  private joinStats: (() => { batches: number; writes: number }) | null = null;
  private joinsSeen = { batches: 0, writes: 0 };

  readonly joinedWrites = new Counter({
    name: 'queue_writes_joined_total',
    help: 'Queue writes that met another under way on their queue and were decided and appended with others (one append per batch)',
    registers: [this.registry],
    collect: () => this.collectJoins(),
  });

  readonly joinedBatches = new Counter({
    name: 'queue_write_batches_total',
    help: 'Batches of joined queue writes appended; queue_writes_joined_total over it: writes per batch',
    registers: [this.registry],
    collect: () => this.collectJoins(),
  });

  watchJoins(stats: () => { batches: number; writes: number }): void {
    this.joinStats = stats;
  }

  private collectJoins(): void {
    const now = this.joinStats?.();
    if (!now) return;
    if (now.batches > this.joinsSeen.batches) this.joinedBatches.inc(now.batches - this.joinsSeen.batches);
    if (now.writes > this.joinsSeen.writes) this.joinedWrites.inc(now.writes - this.joinsSeen.writes);
    this.joinsSeen = { batches: now.batches, writes: now.writes };
  }

  watchCommits(stats: () => { transactions: number; writes: number }): void {
    this.commitStats = stats;
  }

  private collectCommits(): void {
    const now = this.commitStats?.();
    if (!now) return;
    if (now.transactions > this.commitsSeen.transactions) this.commits.inc(now.transactions - this.commitsSeen.transactions);
    if (now.writes > this.commitsSeen.writes) this.commitWrites.inc(now.writes - this.commitsSeen.writes);
    this.commitsSeen = { transactions: now.transactions, writes: now.writes };
  }

  watchAdmission(stats: () => { running: number; waiting: number; overloaded: boolean }): void {
    this.admission = stats;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
