// Who is looking at a queue right now ([CO11]): one entry per open /ws/queues/{id} socket.
// Locally a map that the socket heartbeat prunes to the sockets still open; across
// instances a Redis hash per queue whose fields (connection ids) carry an expiry that the
// owning instance refreshes only for those, so a crashed instance's sockets, and any
// entry whose close went unseen, drop out by themselves.
import type { Redis } from 'ioredis';

export interface QueueViewer {
  userId: string;
  /** The devices (socket device ids) the user has the queue open on. */
  deviceIds: string[];
  /** Epoch ms of the user's earliest open socket. */
  since: number;
}

interface Entry {
  userId: string;
  deviceId: string;
  since: number;
}

export interface QueuePresence {
  opened(queueId: string, connectionId: string, userId: string, deviceId: string): Promise<void>;
  closed(queueId: string, connectionId: string): Promise<void>;
  viewers(queueId: string): Promise<QueueViewer[]>;
  /** Heartbeat: drops this instance's entries whose socket is not among these open ones. */
  keep(open: Set<string>): void;
  close(): void;
}

function group(entries: Entry[]): QueueViewer[] {
  const by = new Map<string, QueueViewer>();
  for (const e of entries) {
    const v = by.get(e.userId) ?? { userId: e.userId, deviceIds: [], since: e.since };
    if (!v.deviceIds.includes(e.deviceId)) v.deviceIds.push(e.deviceId);
    v.since = Math.min(v.since, e.since);
    by.set(e.userId, v);
  }
  return [...by.values()].sort((a, b) => a.since - b.since || (a.userId < b.userId ? -1 : 1));
}

export class LocalQueuePresence implements QueuePresence {
  protected readonly open = new Map<string, Map<string, Entry>>();

  protected readonly now: () => number;
  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  async opened(queueId: string, connectionId: string, userId: string, deviceId: string): Promise<void> {
    let m = this.open.get(queueId);
    if (!m) this.open.set(queueId, (m = new Map()));
    m.set(connectionId, { userId, deviceId, since: this.now() });
  }

  async closed(queueId: string, connectionId: string): Promise<void> {
    const m = this.open.get(queueId);
    if (!m) return;
    m.delete(connectionId);
    if (m.size === 0) this.open.delete(queueId);
  }

  async viewers(queueId: string): Promise<QueueViewer[]> {
    return group([...(this.open.get(queueId)?.values() ?? [])]);
  }

  keep(open: Set<string>): void {
    for (const [queueId, m] of this.open) {
      for (const id of m.keys()) if (!open.has(id)) m.delete(id);
      if (m.size === 0) this.open.delete(queueId);
    }
  }

  close(): void {}
}

/** `queue-presence:<queueId>` hash: connection id -> JSON {userId, deviceId, since, exp}. */
export class RedisQueuePresence extends LocalQueuePresence {
  private readonly timer: NodeJS.Timeout;

  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlMs: number;
  constructor(redis: Redis, prefix: string, ttlMs = 60_000, now: () => number = Date.now) {
    super(now);
    this.redis = redis;
    this.prefix = prefix;
    this.ttlMs = ttlMs;
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), ttlMs / 3);
    this.timer.unref();
  }

  private key(queueId: string): string {
    return `${this.prefix}queue-presence:${queueId}`;
  }

  override async opened(queueId: string, connectionId: string, userId: string, deviceId: string): Promise<void> {
    await super.opened(queueId, connectionId, userId, deviceId);
    await this.announce(queueId, connectionId, this.open.get(queueId)!.get(connectionId)!);
  }

  override async closed(queueId: string, connectionId: string): Promise<void> {
    await super.closed(queueId, connectionId);
    await this.redis.hdel(this.key(queueId), connectionId);
  }

  override async viewers(queueId: string): Promise<QueueViewer[]> {
    const all = await this.redis.hgetall(this.key(queueId));
    const now = this.now();
    const live: Entry[] = [];
    const dead: string[] = [];
    for (const [field, raw] of Object.entries(all)) {
      try {
        const e = JSON.parse(raw) as Entry & { exp: number };
        if (e.exp > now) live.push(e);
        else dead.push(field);
      } catch {
        dead.push(field);
      }
    }
    // Sockets of an instance that died without closing them: drop them once they expired.
    if (dead.length > 0) void this.redis.hdel(this.key(queueId), ...dead).catch(() => undefined);
    return group(live);
  }

  override close(): void {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    for (const [queueId, m] of this.open) for (const [id, e] of m) jobs.push(this.announce(queueId, id, e));
    await Promise.all(jobs);
  }

  private async announce(queueId: string, connectionId: string, e: Entry): Promise<void> {
    const k = this.key(queueId);
    await this.redis
      .multi()
      .hset(k, connectionId, JSON.stringify({ ...e, exp: this.now() + this.ttlMs }))
      .pexpire(k, this.ttlMs * 2)
      .exec();
  }
}
