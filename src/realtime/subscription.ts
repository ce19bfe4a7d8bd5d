// One socket's view of one stream: delivers every committed event after its cursor,
// in order, exactly once. Live events come from the bus; anything the bus lost or
// delivered out of order is read back from the store ([RT2], [RT7]).
import type { Bus, BusMessage, StreamEvents, StreamKind } from './bus.ts';

/** Reads a stream from the store. */
export interface StreamSource<K extends StreamKind = StreamKind> {
  kind: K;
  read(id: string, afterSequence: number, limit: number): Promise<StreamEvents[K][]>;
  /** Current state and its sequence number, for snapshots. */
  snapshot(id: string): Promise<{ sequenceNumber: number; data: object }>;
}

export interface Sink<K extends StreamKind = StreamKind> {
  /** Returns false when the socket is gone (then the subscription stops). */
  event(stream: K, id: string, e: StreamEvents[K]): boolean;
  snapshot(stream: K, id: string, s: { sequenceNumber: number; data: object }, reason: string): boolean;
  note(msg: BusMessage<K>): void;
  failed(err: unknown): void;
  /** A catch-up from the store started: after a gap, or after the bus reconnected. */
  catchup(reason: 'gap' | 'reconnect'): void;
}

const PAGE = 500;

/** What a connection keeps of each of its subscriptions. */
export interface Subscribed {
  resync(): void;
  close(): void;
}

export class Subscription<K extends StreamKind = StreamKind> implements Subscribed {
  private pumping = false;
  private again = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  private readonly source: StreamSource<K>;
  readonly id: string;
  /** Last sequence number delivered (or skipped as the socket's own). */
  cursor: number;
  private readonly sink: Sink<K>;
  /** Events made by this device are acknowledged to it, not sent back as new ([RT5]). */
  private readonly ownDeviceId: string | null;
  /** After each event the sink took (the queue sockets' access re-check, [CO12]). */
  private readonly afterEvent?: (e: StreamEvents[K]) => void;

  constructor(
    bus: Bus,
    source: StreamSource<K>,
    id: string,
    cursor: number,
    sink: Sink<K>,
    ownDeviceId: string | null,
    afterEvent?: (e: StreamEvents[K]) => void,
  ) {
    this.source = source;
    this.id = id;
    this.cursor = cursor;
    this.sink = sink;
    this.ownDeviceId = ownDeviceId;
    this.afterEvent = afterEvent;
    // Subscribe before reading anything, so no event committed from now on can be missed.
    this.unsubscribe = bus.subscribe(source.kind, id, (msg) => this.onBus(msg));
  }

  /** Start: replay after the cursor, or a snapshot when too far behind (or ahead). */
  async start(replayCap: number, forceSnapshot: boolean): Promise<void> {
    // Live events wait (as during a replay) until the snapshot is read: one delivered
    // meanwhile would move the cursor past a snapshot taken before it, which then looked
    // like a client ahead of the server, and the event was sent again after the snapshot.
    let snap: { sequenceNumber: number; data: object };
    this.pumping = true;
    try {
      snap = await this.source.snapshot(this.id);
    } finally {
      this.pumping = false;
    }
    if (this.closed) return;
    if (forceSnapshot || snap.sequenceNumber - this.cursor > replayCap || this.cursor > snap.sequenceNumber) {
      const reason = forceSnapshot ? 'initial' : this.cursor > snap.sequenceNumber ? 'ahead_of_server' : 'too_far_behind';
      this.cursor = snap.sequenceNumber;
      if (!this.sink.snapshot(this.source.kind, this.id, snap, reason)) return this.close();
    }
    await this.pump();
  }

  /** A catch-up is needed (e.g. the bus reconnected and may have dropped messages). */
  resync(): void {
    this.sink.catchup('reconnect');
    void this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
  }

  private onBus(msg: BusMessage<K>): void {
    if (this.closed) return;
    if (msg.events.length === 0) {
      this.sink.note(msg);
      return;
    }
    if (this.pumping) {
      this.again = true;
      return;
    }
    for (const e of msg.events) {
      if (e.sequenceNumber <= this.cursor) continue; // duplicate or already replayed
      if (e.sequenceNumber !== this.cursor + 1) {
        this.sink.catchup('gap');
        void this.pump(); // a gap: read the missing events from the store
        return;
      }
      if (!this.deliver(e)) return;
    }
  }

  private deliver(e: StreamEvents[K]): boolean {
    this.cursor = e.sequenceNumber;
    if (this.ownDeviceId !== null && e.deviceId === this.ownDeviceId) return true;
    if (this.sink.event(this.source.kind, this.id, e)) {
      this.afterEvent?.(e);
      return true;
    }
    this.close();
    return false;
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const page = await this.source.read(this.id, this.cursor, PAGE);
          if (page.length > 0 && page[0]!.sequenceNumber > this.cursor + 1) {
            // [QW8] The events after the cursor were trimmed from the log: a snapshot instead.
            const snap = await this.source.snapshot(this.id);
            if (this.closed) return;
            this.cursor = snap.sequenceNumber;
            if (!this.sink.snapshot(this.source.kind, this.id, snap, 'log_trimmed')) return this.close();
            continue;
          }
          for (const e of page) {
            if (this.closed) return;
            if (e.sequenceNumber === this.cursor + 1 && !this.deliver(e)) return;
          }
          if (page.length < PAGE) break;
        }
      } while (this.again && !this.closed);
    } catch (err) {
      this.sink.failed(err);
    } finally {
      this.pumping = false;
    }
  }
}
