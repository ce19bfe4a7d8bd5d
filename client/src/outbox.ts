// The outbox: every local edit, from the moment it is made until the server has decided
// it, kept in the client's storage so it survives a restart of the app. Edits made while
// online are socket commands (mutationId `<clientId>:<n>`, the idempotency key, so a
// resend after a lost ack is applied once); edits made while offline go through
// POST /sync/offline (clientId + mutationId n, applied once per docs/OFFLINE.md [OF1]).
import type { ClientStorage } from './storage.ts';

export interface OutboxEntry {
  /** Increasing per client: the offline mutationId, and the `n` of item references `@n:i`. */
  n: number;
  /** The queue; '' for a playback change. */
  queueId: string;
  /** What the change is to: a queue (default) or this user's playback (op set_playback, offline only). */
  resource?: 'queue' | 'playback';
  /** A queue op of src/queues/ops.ts (add_tracks, move_item, ...). */
  op: string;
  args: Record<string, unknown>;
  kind: 'command' | 'offline';
  /** The queue version the edit was made against. */
  baseVersion: number;
  /** Client clock (epoch ms) when it was made. */
  at: number;
}

interface OutboxData {
  clientId: string;
  userId: string | null;
  nextN: number;
  entries: OutboxEntry[];
  /** Item references `@n:i` (items added by a pending edit) resolved to the server's ids. */
  ids: Record<string, string>;
}

const REF = /^@(\d+):(\d+)$/;

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class Outbox {
  private data: OutboxData = { clientId: '', userId: null, nextN: 1, entries: [], ids: {} };
  private writes: Promise<void> = Promise.resolve();
  readonly loaded: Promise<void>;

  private readonly storage: ClientStorage;
  private readonly key: string;
  constructor(storage: ClientStorage, key: string) {
    this.storage = storage;
    this.key = key;
    this.loaded = this.load();
  }

  private async load(): Promise<void> {
    const raw = await this.storage.get(this.key);
    if (raw) {
      const d = JSON.parse(raw) as OutboxData;
      this.data = { ...this.data, ...d };
    }
    if (!this.data.clientId) {
      this.data.clientId = `c-${randomId()}`;
      await this.save();
    }
  }

  /** Persists the outbox as it is now; resolves once it is stored (writes are in order). */
  save(): Promise<void> {
    const text = JSON.stringify(this.data);
    const p = this.writes.then(() => this.storage.set(this.key, text));
    this.writes = p.catch(() => undefined);
    return p;
  }

  get clientId(): string {
    return this.data.clientId;
  }
  get userId(): string | null {
    return this.data.userId;
  }
  set userId(u: string | null) {
    if (u !== this.data.userId) {
      this.data.userId = u;
      void this.save();
    }
  }
  get entries(): readonly OutboxEntry[] {
    return this.data.entries;
  }

  async add(e: Omit<OutboxEntry, 'n'>): Promise<OutboxEntry> {
    const entry: OutboxEntry = { ...e, n: this.data.nextN++ };
    this.data.entries.push(entry);
    await this.save();
    return entry;
  }

  async remove(ns: Iterable<number>): Promise<void> {
    const gone = new Set(ns);
    if (gone.size === 0) return;
    this.data.entries = this.data.entries.filter((e) => !gone.has(e.n));
    // References of edits that are all done are not needed any more.
    const live = new Set(this.data.entries.map((e) => e.n));
    for (const k of Object.keys(this.data.ids)) {
      const m = REF.exec(k);
      if (m && !live.has(Number(m[1])) && !this.data.entries.some((e) => JSON.stringify(e.args).includes(k))) delete this.data.ids[k];
    }
    await this.save();
  }

  /** The item ids the server gave the items an edit added. */
  resolved(n: number, itemIds: string[]): void {
    for (const [i, id] of itemIds.entries()) this.data.ids[`@${n}:${i}`] = id;
  }

  /** `@n:i` references replaced by server ids where known. */
  resolve(args: Record<string, unknown>): Record<string, unknown> {
    const map = (v: unknown): unknown => (typeof v === 'string' && REF.test(v) ? (this.data.ids[v] ?? v) : v);
    const out: Record<string, unknown> = { ...args };
    for (const k of ['itemId', 'afterItemId', 'beforeItemId']) if (k in out) out[k] = map(out[k]);
    if (Array.isArray(out.itemIds)) out.itemIds = out.itemIds.map(map);
    return out;
  }

  /** The references in args that are still unresolved. */
  static unresolved(args: Record<string, unknown>): number[] {
    const out: number[] = [];
    const see = (v: unknown) => {
      const m = typeof v === 'string' ? REF.exec(v) : null;
      if (m) out.push(Number(m[1]));
    };
    for (const k of ['itemId', 'afterItemId', 'beforeItemId']) see(args[k]);
    if (Array.isArray(args.itemIds)) args.itemIds.forEach(see);
    return out;
  }
}
