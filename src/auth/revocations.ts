// The revocations every instance holds in memory ([AU9]-[AU10]), so checking a token costs
// two map lookups. A revocation is written to the database first, applied here, then
// signalled to the other instances (revocation-signal.ts), which apply it on arrival; a
// periodic poll of the database (and a re-read after a Redis reconnect) catches any
// signal that was lost. Listeners hear of every change: the authenticator drops its cache
// of verified tokens, the socket server closes the sockets the revocation covers.
import type { Revocation, RevocationStore } from './revocation-store.ts';
import type { RevocationSignal } from './revocation-signal.ts';

/** What a revocation is checked against: who the token is for, its id and issue time. */
export interface TokenIdentity {
  userId: string;
  tokenId: string | null;
  /** Epoch seconds; null: unknown (a user's revocation covers it). */
  issuedAt: number | null;
}

export interface RevocationsOptions {
  store: RevocationStore;
  signal: RevocationSignal;
  now: () => number;
  /** How often the database is read for revocations made elsewhere (ms); 0 = never. */
  pollMs: number;
  log?: { warn(obj: object, msg: string): void };
}

/** A poll re-reads this far back (ms), so a revocation committed late or stamped by a clock behind ours is not missed. */
const POLL_OVERLAP_MS = 60_000;
/** Token revocations past their token's expiry are deleted from the database this often. */
const SWEEP_EVERY_MS = 3600_000;

export class Revocations {
  private readonly o: RevocationsOptions;
  private readonly tokens = new Map<string, { userId: string | null; expiresAt: number }>();
  private readonly users = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private polledFrom = 0;
  private lastSweep = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(o: RevocationsOptions) {
    this.o = o;
    o.signal.onRevocation((r) => this.apply([r]));
    o.signal.onReconnect(() => void this.poll());
  }

  /** Reads every revocation in force, then keeps up by polling. */
  async start(): Promise<void> {
    await this.poll();
    if (this.o.pollMs > 0) {
      this.timer = setInterval(() => void this.poll(), this.o.pollMs);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.o.signal.close();
  }

  isRevoked(t: TokenIdentity): boolean {
    if (t.tokenId !== null) {
      const r = this.tokens.get(t.tokenId);
      if (r && (r.userId === null || r.userId === t.userId)) return true;
    }
    const before = this.users.get(t.userId);
    return before !== undefined && (t.issuedAt === null || t.issuedAt < before);
  }

  /** Called after each change of what is revoked (on this instance). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Revokes: database, then this instance, then the others. Answers it as stored. */
  async revoke(r: Revocation): Promise<Revocation> {
    const stored = await this.o.store.add(r);
    this.apply([stored]);
    this.o.signal.publish(stored);
    return stored;
  }

  /** The user's cutoff as the database has it (a token minted now must not be covered by it). */
  issuedBefore(userId: string): Promise<number | null> {
    return this.o.store.issuedBefore(userId);
  }

  /** Applies revocations; tells the listeners when one of them was new here. */
  private apply(list: Revocation[]): void {
    let changed = false;
    for (const r of list) {
      if (r.kind === 'token') {
        const had = this.tokens.get(r.tokenId);
        if (had && had.expiresAt >= r.expiresAt && had.userId === r.userId) continue;
        this.tokens.set(r.tokenId, { userId: r.userId, expiresAt: Math.max(r.expiresAt, had?.expiresAt ?? 0) });
        changed = true;
      } else {
        const had = this.users.get(r.userId);
        if (had !== undefined && had >= r.issuedBefore) continue;
        this.users.set(r.userId, r.issuedBefore);
        changed = true;
      }
    }
    if (changed) for (const fn of this.listeners) fn();
  }

  private polling: Promise<void> | null = null;

  /** Reads what was revoked since the last read (with an overlap); forgets expired token revocations. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      const now = this.o.now();
      try {
        const found = await this.o.store.since(Math.max(0, this.polledFrom - POLL_OVERLAP_MS), now);
        this.polledFrom = now;
        this.apply(found);
        for (const [id, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(id);
        if (now - this.lastSweep >= SWEEP_EVERY_MS) {
          this.lastSweep = now;
          await this.o.store.sweep(now);
        }
      } catch (err) {
        this.o.log?.warn({ err: String(err) }, 'revocations not read from the database; trying again at the next poll');
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }
}
