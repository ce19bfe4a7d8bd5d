// A live mirror of one queue. What it holds is the server's state (the header and one range
// of the items: a prefix, or a window around the current item, see fold.ts), built only from the server's events, in sequence order,
// each once; local edits not yet decided by the server are replayed on top of it with the
// server's own decider (`decide`), so `state` shows them at once and drops them when the
// server refuses them. Once nothing is pending, `state` is the server's state.
import { decide, type DecideContext, type QueueCommand } from '../../src/queues/decide.ts';
import {
  findItemById,
  indexOfItem,
  type QueueEvent,
  type QueueEventBody,
  type QueueItem,
  type QueueState,
  type RepeatMode,
  type WindowQuery,
} from '../../src/queues/queue.ts';
import { roleOf } from '../../src/queues/permissions.ts';
import type { Api, QueueWindowAnswer } from './api.ts';
import { Emitter } from './emitter.ts';
import { GapTimer } from './gap-timer.ts';
import { QueueServiceError } from './errors.ts';
import { normalizeHeld, cursorAfter, cursorFrom, currentIndexOf, foldHeld, heldFromView, withPage, withPageBefore, type Held, type ItemKeys } from './fold.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';

/** What `q.state` is: the queue's state (items: what the mirror holds, as an array of its own) plus its size. */
export interface MirrorState extends Omit<QueueState, 'items'> {
  /** The items held, in play order (a new array for each state: the app may keep or change it). */
  items: QueueItem[];
  /** Items in the whole queue; `items` holds `items.length` of them from index `window.offset` (all when `complete`). */
  itemCount: number;
  /** The current item's index in the whole play order, when the mirror holds it. */
  currentIndex: number | null;
  /** True when `items` is the whole queue. */
  complete: boolean;
}

export interface MirrorWindow {
  /** Index in the play order of the first item held (0 for a prefix). */
  offset: number;
  /** Items held: `loaded` of the play order from `offset`. */
  loaded: number;
  total: number;
  complete: boolean;
  /**
   * True while the held items are read again: after shuffle switched on a mirror that holds
   * only a window, an item it did not hold moved into its window, an item was removed from a
   * place outside the window it cannot tell, or the current item left a window that follows
   * it. The header is right; `items` is updated (a `change` event) when the read is in.
   */
  stale: boolean;
}

/** A server decision on an offline edit that was not applied as sent (docs/OFFLINE.md). */
export interface OfflineConflict {
  change: unknown;
  resolution: string;
  reason?: unknown;
  serverState?: unknown;
}

export type MirrorEvents = {
  /** The state changed: by the server's events (given), or by a local edit or rollback (events empty). */
  change: [MirrorState, QueueEvent[]];
  /** A local edit was refused (and rolled back), or the mirror ended (403/404, deleted). */
  error: [QueueServiceError];
  /** An offline edit was merged, lost to a newer change, or dropped. */
  conflict: [OfflineConflict];
  /** The mirror ended; it receives nothing more. */
  closed: [QueueServiceError | null];
};

export interface MutationResult {
  /** The events the server appended for this edit (empty when it changed nothing). */
  events: QueueEvent[];
  version: number;
}

/** What a mirror needs from its QueueClient. */
export interface MirrorHost {
  readonly api: Api;
  readonly outbox: Outbox;
  readonly deviceId: string;
  userId(): string | null;
  /** Queue the edit (storage first), send it when online; resolves with the server's decision. */
  mutate(queueId: string, op: string, args: Record<string, unknown>, baseVersion: number): Promise<MutationResult>;
  /** Whether edits of this queue are waiting for an ack (own events come back only in acks, [RT5]). */
  awaitingAcks(queueId: string): boolean;
  release(mirror: QueueMirror): void;
  /** Keeps what the mirror holds (the server's state, no pending edits) for the next start of the app; null: not kept. */
  keep: ((queueId: string, held: Held) => void) | null;
}

/** Which items a mirror holds (`client.openQueue(id, options)`). */
export interface OpenQueueOptions {
  /**
   * 'start' (default): the first `limit` items, more with `loadMore()`. 'current': `limit`
   * items centred on the current item (`?around=current`), more either way with
   * `loadBefore()` / `loadMore()`; the window follows the current item: when it (or the item
   * before or after it) is no longer held, the window is read again around it.
   */
  window?: 'start' | 'current';
  /** Items of the first read and of each re-centring read (default 200, 3 to 1,000). */
  limit?: number;
}

export interface Placement {
  position?: number;
  afterItemId?: string;
  beforeItemId?: string;
}

/**
 * The command an op and its REST body stand for (the same mapping as src/queues/ops.ts). The
 * body is the app's, as given to the mirror's methods, and is not checked here: the command
 * only previews the edit on the mirror, through the server's decider, which throws on a body
 * it cannot read (the edit is then not shown until the server's answer); the server validates it.
 */
export function commandOf(op: string, a: Record<string, unknown>): QueueCommand | null {
  const place = { position: a.position, afterItemId: a.afterItemId, beforeItemId: a.beforeItemId };
  const command = (c: { type: QueueCommand['type'] } & Record<string, unknown>) => c as QueueCommand;
  switch (op) {
    case 'add_tracks':
      return command({ type: 'add_tracks', tracks: a.tracks, ...place });
    case 'remove_item':
      return command({ type: 'remove_items', itemIds: [a.itemId] });
    case 'remove_items':
      return command({ type: 'remove_items', itemIds: a.itemIds });
    case 'move_item':
      return command({ type: 'move_item', itemId: a.itemId, ...place });
    case 'clear':
      return command({ type: 'clear', upcomingOnly: a.upcomingOnly });
    case 'set_shuffle':
      return command({ type: 'set_shuffle', shuffle: a.shuffle });
    case 'set_repeat':
      return command({ type: 'set_repeat', repeat: a.repeat });
    case 'set_current':
      return command({ type: 'set_current', itemId: a.itemId });
    case 'next':
      return command({ type: 'next', reason: a.reason });
    case 'previous':
      return { type: 'previous' };
    case 'update_queue':
      return command({ type: 'update_queue', name: a.name, metadata: a.metadata });
    case 'vote_item':
      return command({ type: 'vote_item', itemId: a.itemId, vote: a.vote });
    default:
      return null;
  }
}

const PAGE = 200;
const MAX_WINDOW = 1000;
const windowSize = (n?: number) => Math.max(3, Math.min(MAX_WINDOW, Math.floor(n ?? PAGE)));

/**
 * The command as the decider should see it on what is held: a `position` counts from the
 * first item held; null when the mirror cannot show it (a place, or a next / previous,
 * outside what it holds: the server's answer shows it).
 */
function localCommand(h: Held, cmd: QueueCommand): QueueCommand | null {
  if (h.lo === null && h.hi === null) return cmd;
  if ((cmd.type === 'add_tracks' || cmd.type === 'move_item') && typeof cmd.position === 'number') {
    const at = cmd.position - h.offset;
    if (at < 0 || at > h.state.items.length || (at === h.state.items.length && h.hi !== null)) return null;
    return { ...cmd, position: at };
  }
  if (cmd.type === 'next' || cmd.type === 'previous') {
    if (h.state.currentItemId === null) return h.lo === null ? cmd : null; // starts at the first item
    const i = indexOfItem(h.state, h.state.currentItemId);
    if (i < 0) return null;
    if (cmd.type === 'next' && i === h.state.items.length - 1 && h.hi !== null) return null;
    if (cmd.type === 'previous' && i === 0 && h.lo !== null) return null;
  }
  return cmd;
}

export class QueueMirror extends Emitter<MirrorEvents> {
  private held: Held | null = null;
  /** The held state last handed to storage, and the one restored from it. */
  private kept: Held | null = null;
  private restored: Held | null = null;
  /** Events that came before the one the mirror needs next. */
  private readonly buffer = new Map<number, QueueEvent>();
  private readonly gap = new GapTimer(() => void this.refill());
  private refilling = false;
  private view: MirrorState | null = null;
  private stale = false;
  private resyncing = false;
  /** A page read at a version the mirror has not reached yet: merged when it does. */
  private page: { version: number; answer: QueueWindowAnswer; merge: (h: Held) => Held | null; done: (ok: boolean) => void } | null = null;
  /** A window that follows the current item ('current'), and its size. */
  private follow: boolean;
  private size: number;
  /** Shuffle switched: a following window is read again around the current item. */
  private reorder = false;
  /** A resync was asked for while one was under way: read once more. */
  private resyncAgain = false;
  private ended = false;
  private readyWaiters: { resolve: () => void; reject: (e: QueueServiceError) => void }[] = [];

  readonly id: string;
  private readonly host: MirrorHost;
  constructor(id: string, host: MirrorHost, opts: OpenQueueOptions = {}) {
    super();
    this.id = id;
    this.host = host;
    this.follow = opts.window === 'current';
    this.size = windowSize(opts.limit);
  }

  /** The window to read first: the one `openQueue` asks for before subscribing (null: the socket's snapshot). */
  firstRead(): WindowQuery | null {
    return this.follow ? { around: 'current', limit: this.size } : null;
  }

  /** From now on the window follows the current item (a later `openQueue(id, {window: 'current'})`). */
  followCurrent(limit?: number): void {
    if (limit !== undefined) this.size = windowSize(limit);
    if (this.follow) return;
    this.follow = true;
    this.checkFollow();
  }

  // ---- what the app reads ----

  /** The queue as this device sees it: the server's state with pending local edits on top. */
  get state(): MirrorState {
    if (!this.held) throw new Error('the mirror has no state yet: await client.openQueue()');
    this.view ??= this.compute();
    return this.view;
  }

  /** The server's state, without the local edits not yet acknowledged. */
  get confirmed(): MirrorState {
    if (!this.held) throw new Error('the mirror has no state yet');
    return this.toMirrorState(this.held);
  }

  /** The last sequence number folded in. */
  get version(): number {
    return this.held?.state.version ?? 0;
  }

  /** Local edits of this queue not yet decided by the server, oldest first. */
  get pending(): readonly OutboxEntry[] {
    return this.host.outbox.entries.filter((e) => e.queueId === this.id);
  }

  get window(): MirrorWindow {
    const h = this.held;
    if (!h) return { offset: 0, loaded: 0, total: 0, complete: false, stale: false };
    return { offset: h.offset, loaded: h.state.items.length, total: h.count, complete: h.hi === null && h.lo === null, stale: this.stale };
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Resolves once the mirror has a state (the first snapshot). */
  ready(): Promise<void> {
    if (this.held) return Promise.resolve();
    if (this.ended) return Promise.reject(new QueueServiceError(0, 'mirror_closed', 'the mirror is closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  // ---- edits (optimistic) ----

  addTracks(tracks: string[], at: Placement = {}): Promise<MutationResult> {
    return this.mutate('add_tracks', { tracks, ...at });
  }
  removeItem(itemId: string): Promise<MutationResult> {
    return this.mutate('remove_item', { itemId });
  }
  removeItems(itemIds: string[]): Promise<MutationResult> {
    return this.mutate('remove_items', { itemIds });
  }
  moveItem(itemId: string, to: Placement): Promise<MutationResult> {
    return this.mutate('move_item', { itemId, ...to });
  }
  clear(opts: { upcomingOnly?: boolean } = {}): Promise<MutationResult> {
    return this.mutate('clear', { ...opts });
  }
  next(reason?: 'user' | 'track_end'): Promise<MutationResult> {
    return this.mutate('next', reason ? { reason } : {});
  }
  previous(): Promise<MutationResult> {
    return this.mutate('previous', {});
  }
  setCurrent(itemId: string | null): Promise<MutationResult> {
    return this.mutate('set_current', { itemId });
  }
  setShuffle(shuffle: boolean): Promise<MutationResult> {
    return this.mutate('set_shuffle', { shuffle });
  }
  setRepeat(repeat: RepeatMode): Promise<MutationResult> {
    return this.mutate('set_repeat', { repeat });
  }
  rename(name: string): Promise<MutationResult> {
    return this.mutate('update_queue', { name });
  }
  vote(itemId: string, vote: 1 | -1 | 0): Promise<MutationResult> {
    return this.mutate('vote_item', { itemId, vote });
  }

  /**
   * Any queue op of the socket protocol with its REST body (src/queues/ops.ts). Applied to
   * `state` at once; resolves with the server's events once acknowledged, rejects (and the
   * edit disappears from `state`) when refused. `expectedVersion` in args makes it
   * conditional ([Q1]).
   */
  mutate(op: string, args: Record<string, unknown>): Promise<MutationResult> {
    if (this.ended) return Promise.reject(new QueueServiceError(0, 'mirror_closed', 'the mirror is closed'));
    const p = this.host.mutate(this.id, op, args, this.version);
    this.changed([]);
    return p;
  }

  /** Loads the next window of items (after the last one held); false when all were held already. */
  async loadMore(limit = PAGE): Promise<boolean> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const h = this.held;
      if (!h || this.ended) return false;
      const cursor = cursorAfter(h);
      if (cursor === null) return false;
      if (this.stale || this.resyncing) {
        await this.settle();
        continue;
      }
      let answer: QueueWindowAnswer;
      try {
        answer = await this.host.api.getQueue(this.id, { cursor, limit, keys: true });
      } catch (err) {
        if (err instanceof QueueServiceError && err.code === 'cursor_stale') {
          await this.resync();
          continue;
        }
        throw err;
      }
      if (this.held !== h && cursorAfter(this.held!) !== cursor) continue; // moved on meanwhile: read again
      const keys = answer.itemKeys ?? {};
      const merged = await this.mergePage(answer, (cur) => (cursorAfter(cur) === cursor ? withPage(cur, answer, keys) : null));
      if (merged) return true;
    }
    throw new QueueServiceError(0, 'load_more_failed', 'the queue kept changing while its next window was read');
  }

  /**
   * Loads up to `limit` items before the first one held (a window that does not start at 0);
   * false when it starts at 0 already. The page is read by offset; it is taken only if its
   * order keys show that it ends right before the first place held (offsets shift under
   * concurrent edits), else it is read again.
   */
  async loadBefore(limit = PAGE): Promise<boolean> {
    const want = Math.max(1, Math.min(limit, MAX_WINDOW - 1));
    for (let attempt = 0; attempt < 20; attempt++) {
      const h = this.held;
      if (!h || this.ended) return false;
      if (this.stale || this.resyncing) {
        await this.settle();
        continue;
      }
      if (h.lo === null) return false;
      const start = Math.max(0, h.offset - want);
      // One item more than the gap: the page reaches into the held range, which its keys show.
      const answer = await this.host.api.getQueue(this.id, { offset: start, limit: h.offset - start + 1, keys: true });
      const keys = answer.itemKeys ?? {};
      const merged = await this.mergePage(answer, (cur) => {
        const r = withPageBefore(cur, answer, keys);
        if (r === 'short') return null;
        if (r === 'offset') {
          void this.resync(); // the mirror's offset disagrees with the server's: read the window again
          return null;
        }
        return r;
      });
      if (merged) return true;
    }
    throw new QueueServiceError(0, 'load_before_failed', 'the queue kept changing while the window before was read');
  }

  /** Stops following the queue. */
  close(): void {
    this.end(null);
  }

  // ---- what the client feeds in ----

  /** A socket snapshot (or a full read): the state as of `seq`. */
  snapshot(answer: QueueWindowAnswer, itemKeys: ItemKeys, seq: number, force = false): void {
    if (this.ended) return;
    const h = heldFromView({ ...answer, version: seq }, itemKeys);
    // A snapshot older than what the mirror has changes nothing (events after it come next),
    // unless the server says the mirror is ahead of it (a store restored from a backup).
    if (this.held && seq < this.held.state.version && !force) return;
    this.held = h;
    this.stale = false;
    this.reorder = false; // a read is in the play order as of its version
    if (this.page && this.page.version <= seq) {
      // A page read for what was held before this read: its caller reads again.
      const p = this.page;
      this.page = null;
      p.done(false);
    }
    for (const k of [...this.buffer.keys()]) if (k <= seq) this.buffer.delete(k);
    this.changed([]);
    this.drain();
    for (const w of this.readyWaiters.splice(0)) w.resolve();
    this.checkFollow();
  }

  /** Events of this queue from any source (socket, ack, offline answer, refill); any order, duplicates dropped. */
  ingest(events: readonly QueueEvent[]): void {
    if (this.ended || !this.held) {
      if (!this.ended) for (const e of events) this.buffer.set(e.sequenceNumber, e);
      return;
    }
    for (const e of events) if (e.sequenceNumber > this.held.state.version) this.buffer.set(e.sequenceNumber, e);
    this.drain();
  }

  /** The mirror cannot go on: access lost, queue deleted or never readable. */
  end(err: QueueServiceError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.gap.stop();
    for (const w of this.readyWaiters.splice(0)) w.reject(err ?? new QueueServiceError(0, 'mirror_closed', 'the mirror is closed'));
    if (err) this.emit('error', err);
    this.emit('closed', err);
    this.host.release(this);
  }

  /** Local edits changed (added, refused): `state` is recomputed. */
  changed(events: QueueEvent[]): void {
    this.view = null;
    if (!this.held) return;
    if (this.host.keep && this.held !== this.kept) {
      this.kept = this.held;
      this.host.keep(this.id, this.held);
    }
    this.emit('change', this.state, events);
  }

  /** What the mirror holds of the server's state (for storage). */
  heldState(): Held | null {
    return this.held;
  }

  /** What the mirror held when the app last ran (from storage): used until the server answers. */
  restore(held: Held): void {
    if (this.held || this.ended) return;
    held = normalizeHeld(held);
    this.held = held;
    this.kept = held;
    this.restored = held;
    this.changed([]);
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  /** The server confirmed the subscription: from here on the state is live. */
  live(): void {
    this.restored = null;
    this.checkFollow(); // a window kept from the last run may not hold the current item any more
  }

  /** True while the state is the one kept from an earlier run, not yet brought up to date by the server. */
  get fromStorage(): boolean {
    return this.held !== null && this.held === this.restored;
  }

  refused(err: QueueServiceError): void {
    this.changed([]);
    this.emit('error', err);
  }

  conflict(c: OfflineConflict): void {
    this.emit('conflict', c);
  }

  // ---- internals ----

  private drain(): void {
    const applied: QueueEvent[] = [];
    let resync = false;
    while (this.held) {
      const next = this.buffer.get(this.held.state.version + 1);
      if (!next) break;
      this.buffer.delete(next.sequenceNumber);
      const r = foldHeld(this.held, next);
      this.held = r.held;
      resync ||= r.resync;
      applied.push(next);
      if (next.type === 'queue_deleted') break;
      if (this.page && this.page.version === this.held.state.version) this.takePage();
    }
    if (applied.length) {
      this.changed(applied);
      if (applied.some((e) => e.type === 'queue_deleted')) {
        this.end(new QueueServiceError(404, 'queue_deleted', 'the queue was deleted', { queueId: this.id }));
        return;
      }
    }
    if (applied.some((e) => e.type === 'shuffle_changed')) this.reorder = true;
    if (resync) {
      this.stale = true;
      void this.resync();
    } else this.checkFollow();
    this.watchGap();
  }

  /**
   * A window that follows the current item holds it and the items on either side of it
   * (when the queue has them); else it is read again around it.
   */
  private mustFollow(): boolean {
    const h = this.held;
    if (!this.follow || !h || this.ended) return false;
    const cur = h.state.currentItemId;
    if (cur === null) return false;
    if (this.reorder && (h.lo !== null || h.hi !== null)) return true;
    if (!findItemById(h.state, cur)) return true;
    const i = indexOfItem(h.state, cur);
    return (i === 0 && h.lo !== null) || (i === h.state.items.length - 1 && h.hi !== null);
  }

  private checkFollow(): void {
    if (this.mustFollow()) {
      this.stale = true;
      void this.resync();
    }
  }

  /** What a re-read asks for: around the current item (a following window that lost it), else the range held. */
  private rereadQuery(): WindowQuery {
    const h = this.held!;
    const limit = Math.min(MAX_WINDOW, Math.max(this.size, h.state.items.length));
    if (this.mustFollow()) return { around: 'current', limit: this.size };
    const cursor = cursorFrom(h);
    return cursor === null ? { limit } : { cursor, limit };
  }

  /** Events after a gap wait a little for the acks that fill it (own events, [RT5]), then are read from the log. */
  private watchGap(): void {
    this.gap.watch(this.buffer.size > 0, () => (this.host.awaitingAcks(this.id) ? 1000 : 150));
  }

  /** Reads the events after the mirror's version from the log (GET /queues/{id}/events). */
  async refill(): Promise<void> {
    if (this.refilling || this.ended || !this.held) return;
    this.refilling = true;
    try {
      for (;;) {
        const r = await this.host.api.queueEvents(this.id, this.held.state.version, 1000);
        if (r.logStart > this.held.state.version + 1 && r.events.length > 0 && r.events[0]!.sequenceNumber > this.held.state.version + 1) {
          // [QW8] Trimmed: read the state again instead.
          await this.resync();
          break;
        }
        this.ingest(r.events);
        if (!r.hasMore) break;
      }
    } catch (err) {
      if (err instanceof QueueServiceError && (err.status === 404 || err.status === 403)) this.end(err);
      else this.watchGap();
    } finally {
      this.refilling = false;
    }
  }

  /**
   * Reads the header and the items held again (shuffle on a partial mirror, an unknown item
   * moved in, a removal it cannot place), or a window around the current item when the
   * window follows it and lost it.
   */
  async resync(): Promise<void> {
    if (this.ended || !this.held) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = true;
    this.stale = true;
    try {
      for (let attempt = 0; attempt < 40 && !this.ended; attempt++) {
        this.resyncAgain = false;
        const query = this.rereadQuery();
        let answer: QueueWindowAnswer;
        try {
          answer = await this.host.api.getQueue(this.id, { ...query, keys: true });
        } catch (err) {
          if (!(err instanceof QueueServiceError && err.code === 'cursor_stale')) throw err;
          await new Promise((r) => setTimeout(r, 50)); // shuffle switched meanwhile: its event is on the way
          continue;
        }
        if (answer.version >= this.version) {
          this.snapshot(answer, answer.itemKeys ?? {}, answer.version);
          if (!this.resyncAgain && !this.mustFollow()) return;
          this.stale = true;
          continue;
        }
        await new Promise((r) => setTimeout(r, 50 * Math.min(attempt + 1, 10))); // a read older than the mirror (another instance): again
      }
      if (!this.ended) setTimeout(() => void this.resync(), 1000); // the queue kept changing: again later
    } catch (err) {
      if (err instanceof QueueServiceError && (err.status === 404 || err.status === 403)) this.end(err);
      else setTimeout(() => void this.resync(), 1000); // offline or refused for load: again later
    } finally {
      this.resyncing = false;
    }
  }

  private async settle(): Promise<void> {
    for (let i = 0; i < 100 && (this.stale || this.resyncing) && !this.ended; i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** @internal Resolves when no re-read is under way (at most ~2 s). */
  settled(): Promise<void> {
    return this.settle();
  }

  /** Merges a page once the mirror is at the version it was read at. */
  private mergePage(answer: QueueWindowAnswer, merge: (h: Held) => Held | null): Promise<boolean> {
    const h = this.held!;
    if (answer.version < h.state.version) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.page?.done(false);
      this.page = { version: answer.version, answer, merge, done: resolve };
      if (answer.version === h.state.version) this.takePage();
      else {
        // The mirror will reach that version from its events; if they do not come, read them.
        setTimeout(() => {
          if (this.page?.answer === answer) void this.refill();
        }, 300);
        setTimeout(() => {
          if (this.page?.answer === answer) {
            this.page = null;
            resolve(false);
          }
        }, 10_000);
      }
    });
  }

  private takePage(): void {
    const p = this.page!;
    this.page = null;
    // The page continues what is held (the merge checks); after a re-read it may not.
    const merged = this.stale ? null : p.merge(this.held!);
    if (merged === null) {
      p.done(false);
      return;
    }
    this.held = merged;
    this.changed([]);
    p.done(true);
    this.checkFollow();
  }

  private toMirrorState(h: Held): MirrorState {
    return { ...h.state, items: h.state.items.slice(), itemCount: h.count, currentIndex: currentIndexOf(h), complete: h.hi === null && h.lo === null };
  }

  /** The held state with the pending edits replayed on it by the server's decider. */
  private compute(): MirrorState {
    let h = this.held!;
    const userId = this.host.userId();
    const outbox = this.host.outbox;
    for (const entry of this.pending) {
      const full = commandOf(entry.op, outbox.resolve(entry.args));
      const cmd = full && localCommand(h, full);
      if (!cmd || userId === null) continue;
      let i = 0;
      const ctx: DecideContext = {
        userId,
        newId: () => `@${entry.n}:${i++}`,
        random: Math.random,
        maxItems: Number.MAX_SAFE_INTEGER,
        role: roleOf(h.state, userId),
      };
      let bodies: QueueEventBody[];
      try {
        bodies = decide(h.state, cmd, ctx);
      } catch {
        continue; // the server decides; locally it cannot be shown
      }
      const timestamp = new Date(entry.at).toISOString();
      for (const b of bodies) {
        const e = { ...b, queueId: this.id, sequenceNumber: h.state.version, userId, deviceId: this.host.deviceId, timestamp } as QueueEvent;
        const r = foldHeld(h, e);
        h = { ...r.held, state: { ...r.held.state, updatedAt: h.state.updatedAt } };
      }
    }
    return this.toMirrorState(h);
  }
}
