// This instance's sockets of one party (PartyHub), and the party queue's events they
// share: one subscription to the queue per party, and one queue_updated per burst of changes.
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../metrics.ts';
import { toView } from '../queues/queue.ts';
import type { QueueService } from '../queues/service.ts';
import type { Bus } from '../realtime/bus.ts';
import { Subscription, type Sink, type StreamSource } from '../realtime/subscription.ts';
import type { PartyConn } from './conn.ts';

/** This instance's sockets of one party, and the party queue's events they share. */
export class PartyHub {
  readonly conns = new Set<PartyConn>();
  private sub: Subscription<'queue'> | null = null;
  private timer: NodeJS.Timeout | null = null;
  closed = false;

  readonly partyId: string;
  readonly queueId: string;
  private readonly deps: { bus: Bus; queues: QueueService; metrics: Metrics; log: FastifyBaseLogger; now: () => number };
  constructor(partyId: string, queueId: string, deps: { bus: Bus; queues: QueueService; metrics: Metrics; log: FastifyBaseLogger; now: () => number }) {
    this.partyId = partyId;
    this.queueId = queueId;
    this.deps = deps;
  }

  private async message(): Promise<Record<string, unknown>> {
    const q = await this.deps.queues.peek(this.queueId);
    // [QW7] A window of 200 items around the current one, not a whole long queue.
    const view = q && !q.deleted ? toView(q, { around: 'current' }) : null;
    return {
      type: 'queue_updated',
      partyId: this.partyId,
      queueId: this.queueId,
      queueVersion: q?.version ?? 0,
      currentItemId: view?.currentItemId ?? null,
      itemCount: view?.itemCount ?? 0,
      window: view?.window ?? null,
      tracks: (view?.items ?? []).map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy })),
      timestamp: this.deps.now(),
    };
  }

  /** Starts following the queue's events (once) and sends the queue to the new socket. */
  async add(pc: PartyConn): Promise<void> {
    this.conns.add(pc);
    if (!this.sub) {
      const { queues } = this.deps;
      const source: StreamSource<'queue'> = {
        kind: 'queue',
        read: (id, after, limit) => queues.readStream(id, after, limit),
        snapshot: async (id) => ({ sequenceNumber: (await queues.peek(id))?.version ?? 0, data: {} }),
      };
      const version = (await queues.peek(this.queueId))?.version ?? 0;
      const sink: Sink<'queue'> = {
        event: () => {
          this.schedule();
          return !this.closed;
        },
        snapshot: () => !this.closed,
        note: () => undefined,
        failed: (err) => this.deps.log.warn({ err, partyId: this.partyId }, 'party queue catch-up failed'),
        catchup: (reason) => this.deps.metrics.catchups.inc({ reason }),
      };
      if (!this.sub && !this.closed) {
        this.sub = new Subscription(this.deps.bus, source, this.queueId, version, sink, null);
        await this.sub.start(Number.MAX_SAFE_INTEGER, false);
      }
    }
    pc.c.send(await this.message());
  }

  remove(pc: PartyConn): boolean {
    this.conns.delete(pc);
    if (this.conns.size > 0) return false;
    this.close();
    return true;
  }

  resync(): void {
    this.sub?.resync();
  }

  close(): void {
    this.closed = true;
    this.sub?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Changes often come in bursts (an add of many tracks): one message per burst. */
  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.message()
        .then((m) => {
          for (const pc of this.conns) pc.c.send(m);
        })
        .catch((err) => this.deps.log.warn({ err, partyId: this.partyId }, 'queue_updated failed'));
    }, 15);
  }
}
