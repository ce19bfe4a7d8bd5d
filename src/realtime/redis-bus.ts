// Bus over Redis pub/sub for many instances on one Postgres. Each instance
// subscribes only to the channels its sockets need. Publishing never blocks or
// fails a write: the event is committed already, and subscribers fill gaps from the store.
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { channelOf, type Bus, type BusHandler, type BusMessage, type StreamKind } from './bus.ts';

export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  readonly pub: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, Set<BusHandler>>();
  private readonly reconnectHandlers: (() => void)[] = [];
  private readyOnce = false;

  readonly prefix: string;
  private readonly log?: FastifyBaseLogger;
  constructor(url: string, prefix: string, log?: FastifyBaseLogger) {
    this.prefix = prefix;
    this.log = log;
    const opts = { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 100, 2000) };
    this.pub = new Redis(url, opts);
    this.sub = new Redis(url, opts);
    for (const c of [this.pub, this.sub]) c.on('error', (err) => this.log?.warn({ err: err.message }, 'redis connection error'));
    this.sub.on('ready', () => {
      // After a reconnect ioredis resubscribes by itself; what was published meanwhile is lost,
      // so subscribers must catch up from the store.
      if (this.readyOnce) for (const h of this.reconnectHandlers) h();
      this.readyOnce = true;
    });
    this.sub.on('message', (channel: string, payload: string) => {
      const set = this.handlers.get(channel.slice(this.prefix.length));
      if (!set) return;
      let msg: BusMessage;
      try {
        msg = JSON.parse(payload) as BusMessage;
      } catch {
        this.log?.warn({ channel }, 'unreadable bus message dropped');
        return;
      }
      for (const h of set) h(msg);
    });
  }

  publish<K extends StreamKind>(msg: BusMessage<K>): void {
    this.pub.publish(this.prefix + channelOf(msg.stream, msg.id), JSON.stringify(msg)).catch((err: Error) => {
      this.log?.warn({ err: err.message, stream: msg.stream, id: msg.id }, 'bus publish failed; subscribers will catch up from the store');
    });
  }

  subscribe<K extends StreamKind>(stream: K, id: string, handler: BusHandler<K>): () => void {
    const ch = channelOf(stream, id);
    // A channel carries one stream's messages (its name starts with the stream), so what
    // arrives on it is that stream's: the decoding boundary, like the JSON.parse above.
    const h: BusHandler = (msg) => handler(msg as BusMessage<K>);
    let set = this.handlers.get(ch);
    if (!set) {
      set = new Set();
      this.handlers.set(ch, set);
      this.sub.subscribe(this.prefix + ch).catch((err: Error) => this.log?.warn({ err: err.message, ch }, 'redis subscribe failed'));
    }
    set.add(h);
    return () => {
      const s = this.handlers.get(ch);
      if (!s) return;
      s.delete(h);
      if (s.size === 0) {
        this.handlers.delete(ch);
        this.sub.unsubscribe(this.prefix + ch).catch(() => undefined);
      }
    };
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    await Promise.allSettled([this.sub.quit(), this.pub.quit()]);
  }
}
