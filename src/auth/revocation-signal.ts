// The fast path of a revocation to every instance: after the revocation is in the database,
// it is published on one Redis channel (`<prefix>auth:revocations`); each instance applies it
// as it arrives. Like the event bus, Redis is not the truth: an instance that (re)connects
// re-reads the database, and each instance polls it (revocations.ts), so a lost message
// costs time, never a revocation.
import { Redis } from 'ioredis';
import type { Revocation } from './revocation-store.ts';

/** The one channel revocations travel on. */
export const revocationChannel = (prefix: string) => `${prefix}auth:revocations`;

export interface RevocationSignal {
  publish(r: Revocation): void;
  /** Revocations published by any instance (this one included). */
  onRevocation(handler: (r: Revocation) => void): void;
  /** After a lost connection came back: messages may have been missed. */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}

/** One process: nothing to tell anyone else. */
export class LocalRevocationSignal implements RevocationSignal {
  publish(): void {}
  onRevocation(): void {}
  onReconnect(): void {}
  async close(): Promise<void> {}
}

export interface SignalLog {
  warn(obj: object, msg: string): void;
}

export class RedisRevocationSignal implements RevocationSignal {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;
  private readonly handlers: ((r: Revocation) => void)[] = [];
  private readonly reconnects: (() => void)[] = [];
  private readyOnce = false;
  private readonly log: SignalLog | undefined;

  /** `pub` is shared (the bus's publishing connection); the subscribing one is this signal's own. */
  constructor(url: string, prefix: string, pub: Redis, log?: SignalLog) {
    this.pub = pub;
    this.log = log;
    this.channel = revocationChannel(prefix);
    this.sub = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 100, 2000) });
    this.sub.on('error', (err: Error) => log?.warn({ err: err.message }, 'redis (revocations) connection error'));
    this.sub.on('ready', () => {
      if (this.readyOnce) for (const h of this.reconnects) h();
      this.readyOnce = true;
    });
    this.sub.subscribe(this.channel).catch((err: Error) => log?.warn({ err: err.message }, 'redis (revocations) subscribe failed'));
    this.sub.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      let r: Revocation;
      try {
        r = JSON.parse(payload) as Revocation;
      } catch {
        return;
      }
      if (r?.kind !== 'token' && r?.kind !== 'user') return;
      for (const h of this.handlers) h(r);
    });
  }

  publish(r: Revocation): void {
    this.pub.publish(this.channel, JSON.stringify(r)).catch((err: Error) => {
      this.log?.warn({ err: err.message }, 'revocation not published; other instances see it at their next poll');
    });
  }

  onRevocation(handler: (r: Revocation) => void): void {
    this.handlers.push(handler);
  }

  onReconnect(handler: () => void): void {
    this.reconnects.push(handler);
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => undefined);
  }
}
