// The bus carries committed events between instances. It is not the source of
// truth: a subscriber that sees a gap in sequence numbers reads the missing
// events from the store, so a lost message costs latency, never data.
import { EventEmitter } from 'node:events';

/** One stream's committed events, in order, as published after the commit. */
export interface BusMessage {
  stream: StreamKind;
  id: string;
  events: SequencedEvent[];
  /** An ephemeral message (presence) forwarded as is, outside the sequence; `events` is then empty. */
  note?: Record<string, unknown>;
}

export type StreamKind = 'queue' | 'user' | 'party';

/** What every stream's events share; the rest of the event rides along. */
export interface SequencedEvent {
  sequenceNumber: number;
  type: string;
  deviceId: string | null;
  [k: string]: unknown;
}

export type BusHandler = (msg: BusMessage) => void;

export interface Bus {
  readonly kind: 'local' | 'redis';
  publish(msg: BusMessage): void;
  /** Subscribe to one stream; the returned function unsubscribes. */
  subscribe(stream: StreamKind, id: string, handler: BusHandler): () => void;
  /** Called after the bus lost and regained its connection: messages may have been lost meanwhile. */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}

export const channelOf = (stream: StreamKind, id: string) => `${stream}:${id}`;

/** In-process bus for the embedded mode: one instance, no network. */
export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(msg: BusMessage): void {
    this.emitter.emit(channelOf(msg.stream, msg.id), msg);
  }

  subscribe(stream: StreamKind, id: string, handler: BusHandler): () => void {
    const ch = channelOf(stream, id);
    this.emitter.on(ch, handler);
    return () => this.emitter.off(ch, handler);
  }

  onReconnect(): void {}

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
