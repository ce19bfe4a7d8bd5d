// Keeps the in-memory recommender in step with the catalog tables: a full read at
// start-up, then catch-up reads of what is new (by rev / id) after every local write
// and, at most every `minIntervalMs`, before reads, so writes made by other instances
// or by a CLI import show up too. Catch-ups run one at a time, so no row is applied twice.
import type { Recommender } from '../reco/recommender.ts';
import type { CatalogStore, ListeningEvent } from './store.ts';

/** Rows per read: small pages die young (large ones were promoted and grew the heap). */
const PAGE = 250;
/** Between pages the event loop runs (a start-up build of a million rows must not block the server). */
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));
/** How long a missing id may still commit (PostgreSQL sequences commit out of order). */
const GAP_WAIT_MS = 3000;

/**
 * Ids applied so far: all up to `low`, and those above it in `seen`. With `waitForGaps`
 * (PostgreSQL: ids and revs are taken before commit, so a lower one can commit after a
 * higher one was read) a missing id is waited for GAP_WAIT_MS from the catch-up that
 * first read past it; after that it is taken for a permanent gap (a rolled-back insert, or
 * an upserted row's old rev). One mark per catch-up, so a run of gaps costs one wait.
 */
export class Tail {
  low = 0;
  private readonly seen = new Set<number>();
  private max = 0;
  private readonly marks: { upTo: number; at: number }[] = [];

  private readonly waitForGaps: boolean;
  constructor(waitForGaps: boolean) {
    this.waitForGaps = waitForGaps;
  }

  /** True when the id has been applied (or given up on as a gap). */
  applied(id: number): boolean {
    return id <= this.low || this.seen.has(id);
  }

  /** True when the id is new (and marks it applied). */
  accept(id: number): boolean {
    if (this.applied(id)) return false;
    if (!this.waitForGaps) {
      this.low = id;
      return true;
    }
    this.seen.add(id);
    if (id > this.max) this.max = id;
    return true;
  }

  /**
   * An id this process wrote itself, applied without reading it back: true when it may be
   * applied now (and marks it applied). Without gap waits only the id right after `low`
   * is taken (another connection's row may sit below it otherwise: read back then). With
   * them it joins `seen` but does not count as read past: gaps below it are waited for only
   * from the catch-up that reads past them, never given up on because of our own ids.
   */
  acceptOwn(id: number): boolean {
    if (this.applied(id)) return false;
    if (!this.waitForGaps) {
      if (id !== this.low + 1) return false;
      this.low = id;
      return true;
    }
    this.seen.add(id);
    return true;
  }

  /** Moves `low` past applied ids, and past gaps read past at least GAP_WAIT_MS ago. */
  settle(now: number): void {
    if (!this.waitForGaps) return;
    while (this.seen.delete(this.low + 1)) this.low++;
    if (this.max > this.low && (this.marks.length === 0 || this.marks[this.marks.length - 1]!.upTo < this.max)) this.marks.push({ upTo: this.max, at: now });
    let moved = false;
    while (this.marks.length > 0 && now - this.marks[0]!.at >= GAP_WAIT_MS) {
      const m = this.marks.shift()!;
      if (m.upTo > this.low) {
        this.low = m.upTo;
        moved = true;
      }
    }
    if (moved) {
      for (const id of this.seen) if (id <= this.low) this.seen.delete(id);
      while (this.seen.delete(this.low + 1)) this.low++;
    }
  }
}

export interface SyncOptions {
  /** Catch-ups before reads happen at most this often. */
  minIntervalMs?: number;
  /** PostgreSQL: ids may commit out of order, so gaps are waited for. */
  outOfOrder: boolean;
  queueBaskets?: number;
  /**
   * Called after every COLLECT_EVERY rows of the start-up build (a full garbage
   * collection): the build's short-lived rows otherwise grow the heap, and the process's
   * peak RSS, to several times what the engine keeps.
   */
  collect?: () => void;
}

const COLLECT_EVERY = 100_000;

export class CatalogSync {
  private readonly tracks: Tail;
  private readonly playlists: Tail;
  private readonly events: Tail;
  private readonly contexts: Tail;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;
  private lastAt = 0;
  private building = true;
  private applied = 0;
  readonly ready: Promise<void>;

  private readonly store: CatalogStore;
  private readonly reco: Recommender;
  private readonly opts: SyncOptions;
  constructor(store: CatalogStore, reco: Recommender, opts: SyncOptions) {
    this.store = store;
    this.reco = reco;
    this.opts = opts;
    // Tracks and playlists are upserts (a row's rev moves on, their old revs are gaps
    // forever) from one sequence shared by both tables: gaps are waited for like ids'.
    this.tracks = new Tail(opts.outOfOrder);
    this.playlists = new Tail(opts.outOfOrder);
    this.events = new Tail(opts.outOfOrder);
    this.contexts = new Tail(opts.outOfOrder);
    this.ready = this.start();
    this.ready.catch(() => undefined);
  }

  private async start(): Promise<void> {
    for (const q of await this.store.queueTracks(this.opts.queueBaskets ?? 20_000)) this.reco.engine.setQueue(q.queueId, q.trackIds);
    await this.refresh();
    // Lists grown by push during the build keep spare slots: most of their memory.
    this.reco.compact();
    this.building = false;
    this.opts.collect?.();
  }

  /** Counts rows applied; during the start-up build, collects garbage now and then. */
  private page(rows: number): Promise<void> {
    if (this.building && this.opts.collect) {
      const before = Math.floor(this.applied / COLLECT_EVERY);
      this.applied += rows;
      if (Math.floor(this.applied / COLLECT_EVERY) > before) this.opts.collect();
    }
    return yieldToLoop();
  }

  /**
   * Catch up now (after a local write): resolves once everything committed before the call
   * is applied. A catch-up queued and not started yet serves later calls too. (Plays this
   * process records go in through applyOwnEvents instead.)
   */
  refresh(): Promise<void> {
    if (this.queued !== null) return this.queued;
    const run = this.chain.then(() => {
      this.queued = null;
      return this.catchUp();
    });
    this.queued = run;
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Listening events this process has just appended (with their ids), applied to the engine
   * without reading them back (issue 21: the read-back of every batch of plays was ~4% of a
   * busy write load's CPU). In line with the catch-ups, so none is applied twice. Where an
   * event cannot be applied on its own (SQLite: another connection's row may come before
   * it), the events table is read instead.
   */
  applyOwnEvents(events: readonly ListeningEvent[]): Promise<void> {
    const run = this.chain.then(async () => {
      for (const e of events) {
        if (this.events.acceptOwn(e.id)) this.reco.ingest(e);
        else if (!this.events.applied(e.id)) {
          await this.catchUpEvents();
          break;
        }
      }
      this.events.settle(Date.now());
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Catch up if the last catch-up is older than minIntervalMs (before reads). */
  async fresh(): Promise<void> {
    await this.ready;
    if (Date.now() - this.lastAt >= (this.opts.minIntervalMs ?? 250)) await this.refresh();
  }

  private async catchUp(): Promise<void> {
    const { store, reco } = this;
    const started = Date.now();
    // Paged by the last rev / id read, not by `low`: `low` waits at a gap.
    for (let after = this.tracks.low; ; ) {
      const rows = await store.tracksAfter(after, PAGE);
      for (const t of rows) {
        if (!this.tracks.accept(t.rev)) continue;
        if (t.deleted) reco.engine.catalog.remove(t.id);
        else reco.engine.catalog.upsert(t);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.rev;
      await this.page(rows.length);
    }
    for (let after = this.playlists.low; ; ) {
      const rows = await store.playlistsAfter(after, PAGE);
      for (const p of rows) {
        if (!this.playlists.accept(p.rev)) continue;
        if (p.deleted) reco.engine.removePlaylist(p.id);
        else reco.engine.addPlaylist(p.id, p.name, p.tracks);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.rev;
      await this.page(rows.length);
    }
    for (let after = this.contexts.low; ; ) {
      const rows = await store.contextsAfter(after, PAGE);
      for (const c of rows) if (this.contexts.accept(c.id)) reco.setContext(c.userId, c.context, c.observedAt);
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
      await this.page(rows.length);
    }
    await this.catchUpEvents();
    const now = Date.now();
    for (const t of [this.tracks, this.playlists, this.contexts, this.events]) t.settle(now);
    this.lastAt = started;
  }

  private async catchUpEvents(): Promise<void> {
    for (let after = this.events.low; ; ) {
      const rows = await this.store.eventsAfter(after, PAGE);
      for (const e of rows) if (this.events.accept(e.id)) this.reco.ingest(e);
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
      await this.page(rows.length);
    }
  }
}
