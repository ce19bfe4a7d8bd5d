// The bus carries committed events between instances. It is not the source of
// truth: a subscriber that sees a gap in sequence numbers reads the missing
// events from the store, so a lost message costs latency, never data.
import { EventEmitter } from 'node:events';
import type { PartyEvent } from '../model/party.ts';
import type { UserEvent } from '../model/playback.ts';
import type { QueueEvent } from '../model/queue.ts';

/** The events each kind of stream carries. */
export interface StreamEvents {
  queue: QueueEvent;
  user: UserEvent;
  party: PartyEvent;
}

export type StreamKind = keyof StreamEvents;

/**
 * What every stream's events share: all that delivery reads (order, the socket's own
 * device, the wire message). Each stream's own event type has more.
 */
export interface SequencedEvent {
  sequenceNumber: number;
  type: string;
  userId: string;
  deviceId: string | null;
  /** Server time of the append (ISO). */
  timestamp: string;
  data: object;
}

/** One stream's committed events, in order, as published after the commit. */
export interface BusMessage<K extends StreamKind = StreamKind> {
  stream: K;
  id: string;
  events: StreamEvents[K][];
  /** An ephemeral message (presence) forwarded as is, outside the sequence; `events` is then empty. */
  note?: Record<string, unknown>;
}

export type BusHandler<K extends StreamKind = StreamKind> = (msg: BusMessage<K>) => void;

export interface Bus {
  readonly kind: 'local' | 'redis';
  /** `K` is taken from `stream`, so the events must be that stream's. */
  publish<K extends StreamKind>(msg: BusMessage<K>): void;
  /** Subscribe to one stream; the returned function unsubscribes. */
  subscribe<K extends StreamKind>(stream: K, id: string, handler: BusHandler<K>): () => void;
  /** Called after the bus lost and regained its connection: messages may have been lost meanwhile. */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
  /** How long the oldest message published here has waited for delivery (ms); admission control reads it. */
  lagMs?(): number;
}

export const channelOf = (stream: StreamKind, id: string) => `${stream}:${id}`;

/** Longest a delivery turn runs before it lets the event loop take requests in again (ms). */
const TURN_MS = 3;

/**
 * In-process bus for the embedded mode: one instance, no network.
 * Publishing only queues the message (one FIFO, so every stream stays in order); it is
 * delivered to the sockets in turns of at most TURN_MS, each after the event loop had a
 * chance to read new requests. So a write's fan-out runs after its answer, outside the
 * queue's serialised section, and a burst of fan-out cannot keep writes from being read
 * (issue 16: under load the sends took the loop from the writes that cause them).
 */
export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  private readonly emitter = new EventEmitter();
  private readonly pending: { msg: BusMessage; at: number }[] = [];
  private head = 0;
  private scheduled = false;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish<K extends StreamKind>(msg: BusMessage<K>): void {
    this.pending.push({ msg, at: performance.now() });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  lagMs(): number {
    const first = this.pending[this.head];
    return first ? performance.now() - first.at : 0;
  }

  private readonly drain = (): void => {
    const start = performance.now();
    while (this.head < this.pending.length) {
      const { msg } = this.pending[this.head]!;
      this.pending[this.head++] = undefined as never;
      this.emitter.emit(channelOf(msg.stream, msg.id), msg);
      if (performance.now() - start >= TURN_MS) break;
    }
    if (this.head >= this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
      this.scheduled = false;
      return;
    }
    if (this.head > 1024) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    setImmediate(this.drain);
  };

  subscribe<K extends StreamKind>(stream: K, id: string, handler: BusHandler<K>): () => void {
    const ch = channelOf(stream, id);
    this.emitter.on(ch, handler);
    return () => this.emitter.off(ch, handler);
  }

  onReconnect(): void {}

  async close(): Promise<void> {
    this.pending.length = 0;
    this.head = 0;
    this.emitter.removeAllListeners();
  }
}
