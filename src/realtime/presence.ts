// Which devices are online: a device is online while one of its sockets is open on
// any instance. Locally a counter per device; across instances a Redis hash per user
// whose fields (device ids) carry an expiry that every instance refreshes on heartbeat.
import type { Redis } from 'ioredis';

export interface Presence {
  connected(userId: string, deviceId: string): Promise<void>;
  disconnected(userId: string, deviceId: string): Promise<void>;
  /** Re-announce every local device (called on each heartbeat). */
  refresh(): Promise<void>;
  onlineDevices(userId: string): Promise<Set<string>>;
}

const key = (userId: string, deviceId: string) => `${userId}\u0000${deviceId}`;

/** Counts this instance's sockets per device. */
export class LocalPresence implements Presence {
  protected readonly counts = new Map<string, { userId: string; deviceId: string; n: number }>();

  async connected(userId: string, deviceId: string): Promise<void> {
    const k = key(userId, deviceId);
    const c = this.counts.get(k);
    if (c) c.n++;
    else this.counts.set(k, { userId, deviceId, n: 1 });
  }

  async disconnected(userId: string, deviceId: string): Promise<void> {
    const k = key(userId, deviceId);
    const c = this.counts.get(k);
    if (!c) return;
    if (--c.n <= 0) this.counts.delete(k);
  }

  async refresh(): Promise<void> {}

  async onlineDevices(userId: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (const c of this.counts.values()) if (c.userId === userId) out.add(c.deviceId);
    return out;
  }
}

/** Shares presence through Redis: `presence:<userId>` hash, device id -> expiry (epoch ms). */
export class RedisPresence extends LocalPresence {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs = 60_000, private readonly now = Date.now) {
    super();
  }

  private hash(userId: string) {
    return `${this.prefix}presence:${userId}`;
  }

  override async connected(userId: string, deviceId: string): Promise<void> {
    await super.connected(userId, deviceId);
    await this.announce(userId, deviceId);
  }

  override async disconnected(userId: string, deviceId: string): Promise<void> {
    await super.disconnected(userId, deviceId);
    // Another socket of the same device on this instance keeps it online.
    if (!this.counts.has(key(userId, deviceId))) await this.redis.hdel(this.hash(userId), deviceId);
  }

  override async refresh(): Promise<void> {
    await Promise.all([...this.counts.values()].map((c) => this.announce(c.userId, c.deviceId)));
  }

  override async onlineDevices(userId: string): Promise<Set<string>> {
    const all = await this.redis.hgetall(this.hash(userId));
    const now = this.now();
    return new Set(Object.entries(all).filter(([, exp]) => Number(exp) > now).map(([d]) => d));
  }

  private async announce(userId: string, deviceId: string): Promise<void> {
    const h = this.hash(userId);
    await this.redis.multi().hset(h, deviceId, String(this.now() + this.ttlMs)).pexpire(h, this.ttlMs * 2).exec();
  }
}
