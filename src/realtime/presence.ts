// Which devices are online: a device is online while one of its sockets is open on
// any instance. Every entry is one socket and carries an expiry that the heartbeat
// renews for the sockets that are still open, so presence heals itself: an entry whose
// socket is gone (closed in a way no listener saw, or on an instance that crashed)
// drops out within one TTL. Locally a map; across instances also a Redis hash per user
// whose fields (device ids) carry the latest expiry any instance announced.
import type { Redis } from 'ioredis';

export interface Presence {
  connected(connectionId: string, userId: string, deviceId: string): Promise<void>;
  disconnected(connectionId: string): Promise<void>;
  /** Heartbeat: these sockets are open (renewed); any other entry is dropped. */
  refresh(open: Iterable<string>): Promise<void>;
  onlineDevices(userId: string): Promise<Set<string>>;
}

/** How long a presence entry lives without a heartbeat: two heartbeats and a margin. */
export function presenceTtlMs(heartbeatMs: number): number {
  return 2 * heartbeatMs + 5_000;
}

interface Entry {
  userId: string;
  deviceId: string;
  expires: number;
}

/** This instance's sockets, each with an expiry. */
export class LocalPresence implements Presence {
  protected readonly entries = new Map<string, Entry>();

  protected readonly ttlMs: number;
  protected readonly now: () => number;
  /** `ttlMs` should cover two heartbeats, so a live socket never lapses between them. */
  constructor(ttlMs = 60_000, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  async connected(connectionId: string, userId: string, deviceId: string): Promise<void> {
    this.entries.set(connectionId, { userId, deviceId, expires: this.now() + this.ttlMs });
  }

  async disconnected(connectionId: string): Promise<void> {
    this.entries.delete(connectionId);
  }

  async refresh(open: Iterable<string>): Promise<void> {
    const live = new Set(open);
    const until = this.now() + this.ttlMs;
    for (const [id, e] of this.entries) {
      if (live.has(id)) e.expires = until;
      else this.entries.delete(id);
    }
  }

  async onlineDevices(userId: string): Promise<Set<string>> {
    const out = new Set<string>();
    const now = this.now();
    for (const e of this.entries.values()) if (e.userId === userId && e.expires > now) out.add(e.deviceId);
    return out;
  }

  /** Whether another live socket of this instance holds the device. */
  protected holds(userId: string, deviceId: string): boolean {
    const now = this.now();
    for (const e of this.entries.values()) if (e.userId === userId && e.deviceId === deviceId && e.expires > now) return true;
    return false;
  }
}

/** Shares presence through Redis: `presence:<userId>` hash, device id -> expiry (epoch ms). */
export class RedisPresence extends LocalPresence {
  private readonly redis: Redis;
  private readonly prefix: string;
  constructor(redis: Redis, prefix: string, ttlMs = 60_000, now: () => number = Date.now) {
    super(ttlMs, now);
    this.redis = redis;
    this.prefix = prefix;
  }

  private hash(userId: string) {
    return `${this.prefix}presence:${userId}`;
  }

  override async connected(connectionId: string, userId: string, deviceId: string): Promise<void> {
    await super.connected(connectionId, userId, deviceId);
    await this.announce(userId, deviceId);
  }

  override async disconnected(connectionId: string): Promise<void> {
    const e = this.entries.get(connectionId);
    await super.disconnected(connectionId);
    // Another socket of the same device on this instance keeps it online.
    if (e && !this.holds(e.userId, e.deviceId)) await this.redis.hdel(this.hash(e.userId), e.deviceId);
  }

  override async refresh(open: Iterable<string>): Promise<void> {
    const live = new Set(open);
    const dropped = [...this.entries].filter(([id]) => !live.has(id)).map(([, e]) => e);
    await super.refresh(live);
    // Their close went unseen: take their devices out now rather than at expiry.
    await Promise.all(dropped.filter((e) => !this.holds(e.userId, e.deviceId)).map((e) => this.redis.hdel(this.hash(e.userId), e.deviceId)));
    const devices = new Map<string, Entry>();
    for (const e of this.entries.values()) devices.set(`${e.userId}\u0000${e.deviceId}`, e);
    await Promise.all([...devices.values()].map((e) => this.announce(e.userId, e.deviceId)));
  }

  override async onlineDevices(userId: string): Promise<Set<string>> {
    const all = await this.redis.hgetall(this.hash(userId));
    const now = this.now();
    return new Set(
      Object.entries(all)
        .filter(([, exp]) => Number(exp) > now)
        .map(([d]) => d),
    );
  }

  private async announce(userId: string, deviceId: string): Promise<void> {
    const h = this.hash(userId);
    await this.redis
      .multi()
      .hset(h, deviceId, String(this.now() + this.ttlMs))
      .pexpire(h, this.ttlMs * 2)
      .exec();
  }
}
