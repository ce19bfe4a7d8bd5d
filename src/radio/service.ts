// Radio queues: created, extended and refreshed through QueueService, so they are
// ordinary queues (events, resume, permissions); the station, the preferences and a
// reason per track live in the queue's metadata. Extends by itself when fewer than
// AUTO_EXTEND_BELOW items are left after the current one.
import type { CatalogStore } from '../catalog/store.ts';
import { DEFAULT_RADIO, type RadioConfig } from '../config.ts';
import type { CatalogSync } from '../catalog/sync.ts';
import { AppError, conflict, notFound, VersionConflictError } from '../errors.ts';
import { toView, type QueueEvent, type QueueState, type QueueView } from '../queues/queue.ts';
import { can, roleOf } from '../queues/permissions.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService } from '../queues/service.ts';
import type { ListenAction } from '../reco/profile.ts';
import { CONTEXT_WINDOW_MS, contextHour, hourOf, type Recommender } from '../reco/recommender.ts';
import { parseStation, resolveStation, UnknownSeed, type Reason, type ResolvedStation, type Station } from '../reco/stations.ts';
import { continuationSeeds } from '../reco/stations.ts';
import { nameTokens } from '../reco/engine.ts';
import { generateBatch, stationBatch, type BatchItem, type Preferences } from './batch.ts';
import type { Keyed } from '../catalog/answers.ts';
import { mergeReasons, mixMeta, radioMeta, type RadioMeta } from './metadata.ts';

export const FIRST_BATCH = 20;
export const AUTO_EXTEND_BELOW = 5;
export const AUTO_EXTEND_COUNT = 10;
/** The device id on events the service appends by itself (auto-extend). */
export const AUTO_DEVICE = 'queue-service:auto-extend';
/** A station's own history is read up to this many of its newest tracks (a station queues 20 + 50 per extend). */
export const STATION_HISTORY_CAP = 5_000;
/** At most this many of the listener's newest skips are avoided. */
export const SKIPS_CAP = 1_000;
/** Radio history rows deleted per statement by the sweeper. */
const PRUNE_BATCH = 5_000;
/** A queue being continued is seeded by this many of its newest tracks at most. */
export const QUEUE_SEEDS = 200;

export interface RadioDeps {
  queues: QueueService;
  catalog: CatalogStore;
  sync: CatalogSync;
  reco: Recommender;
  now: () => number;
  onError?: (err: unknown, what: string) => void;
  /** What other stations avoid (the listener's recent window) and how long history is kept; DEFAULT_RADIO when absent. */
  radio?: RadioConfig;
}

export interface ItemWithReason {
  itemId: string;
  trackId: string;
  reason: Reason;
}

export interface BatchResult {
  queue: QueueView;
  events: QueueEvent[];
  items: ItemWithReason[];
}

export function itemsOf(events: QueueEvent[], batch: BatchItem[] | Record<string, Reason>): ItemWithReason[] {
  const reason = new Map(Array.isArray(batch) ? batch.map((b) => [b.trackId, b.reason] as [string, Reason]) : Object.entries(batch));
  return events.flatMap((e) =>
    e.type === 'item_added'
      ? [{ itemId: e.data.itemId, trackId: e.data.trackId, reason: reason.get(e.data.trackId) ?? { kind: 'popular', text: 'popular right now' } }]
      : [],
  );
}

/** Items after the current one (all of them when none is current). */
export function upcoming(state: QueueState): number {
  const i = state.currentItemId === null ? -1 : state.items.findIndex((x) => x.itemId === state.currentItemId);
  return state.items.length - 1 - i;
}

export class RadioService {
  private readonly extending = new Set<string>();

  private readonly d: RadioDeps;
  constructor(d: RadioDeps) {
    this.d = d;
  }

  station(stationId: string, userId: string): { station: Station; resolved: ResolvedStation } {
    const station = parseStation(stationId);
    if (!station)
      throw new AppError('invalid', 'invalid_station', 'station ids are track:<id>, artist:<name>, genre:<name>, album:<id>, playlist:<id> or user:<id>', {
        stationId,
      });
    if (station.kind === 'user' && station.value !== userId && station.value !== 'me') {
      throw new AppError('forbidden', 'forbidden', "a user station plays the caller's own taste", { stationId });
    }
    try {
      const context = this.d.reco.currentFeatures(userId, this.d.now(), CONTEXT_WINDOW_MS);
      return { station, resolved: resolveStation(this.d.reco, station, this.d.reco.peekProfile(userId), context) };
    } catch (err) {
      if (err instanceof UnknownSeed) throw notFound('station_seed_not_found', err.message, { stationId });
      throw err;
    }
  }

  /** A batch of a station for a user (see stationBatch). */
  stationBatch(
    userId: string,
    stationId: string,
    resolved: ResolvedStation,
    prefs: Preferences,
    count: number,
    queueTracks: string[],
    salt: string,
    history?: { station?: Iterable<string>; user?: Iterable<string> },
  ): BatchItem[] {
    return stationBatch(this.d.reco, {
      userId,
      stationId,
      resolved,
      preferences: prefs,
      count,
      queueTracks,
      salt,
      stationHistory: history?.station,
      userRecent: history?.user,
    });
  }

  /** What a station (queue) queued and what its listener heard lately or skipped. */
  async historyOf(queueId: string, userId: string): Promise<{ station: string[]; user: string[] }> {
    const [station, user] = await Promise.all([this.d.catalog.stationTracks(queueId, STATION_HISTORY_CAP), this.userRecent(userId)]);
    return { station, user };
  }

  async remember(queueId: string, userId: string, trackIds: string[]): Promise<void> {
    if (trackIds.length) await this.d.catalog.recordQueued(queueId, userId, trackIds, new Date(this.d.now()).toISOString());
  }

  /**
   * What the listener's other stations avoid while anything else is left (issue 24): what
   * radio queued for them or they played within RADIO_RECENT_HOURS, at most the newest
   * RADIO_RECENT_TRACKS of each, and what they skipped within RADIO_HISTORY_DAYS.
   */
  async userRecent(userId: string): Promise<string[]> {
    const c = this.d.radio ?? DEFAULT_RADIO;
    const now = this.d.now();
    const window = c.recentHours > 0 && c.recentTracks > 0;
    const r = await this.d.catalog.userRecentTracks(userId, {
      since: new Date(window ? now - c.recentHours * 3_600_000 : now + 1).toISOString(),
      limit: window ? c.recentTracks : 0,
      skipsSince: new Date(now - c.historyDays * 86_400_000).toISOString(),
      skipLimit: SKIPS_CAP,
    });
    return [...r.recent, ...r.skipped];
  }

  /** Deletes radio history older than RADIO_HISTORY_DAYS (the sweeper, `queue-service sweep`); how many rows. */
  async pruneHistory(): Promise<number> {
    return pruneRadioHistory(this.d.catalog, this.d.radio ?? DEFAULT_RADIO, this.d.now());
  }

  async create(actor: Actor, stationId: string, input: { userId: string; deviceId?: string; preferences?: Preferences }, keyed: Keyed | null = null) {
    await this.d.sync.fresh();
    const { station, resolved } = this.station(stationId, actor.userId);
    const prefs = input.preferences ?? {};
    const recent = await this.userRecent(actor.userId);
    const items = this.stationBatch(actor.userId, stationId, resolved, prefs, FIRST_BATCH, [], `${stationId}:${this.d.now()}`, { user: recent });
    if (items.length === 0) throw conflict('no_tracks', 'the catalog has no tracks for this station yet', { stationId });
    const meta: RadioMeta = { stationId, label: resolved.label, userId: actor.userId, preferences: prefs, batches: 1, reasons: mergeReasons({}, items, null) };
    const who = { userId: actor.userId, deviceId: actor.deviceId ?? input.deviceId ?? null };
    const res = await this.d.queues.create(
      who,
      { name: `${resolved.label} radio`, type: 'radio', tracks: items.map((i) => i.trackId), metadata: { radio: meta } },
      keyed ? { idempotencyKey: keyed.key, fingerprint: keyed.fingerprint } : {},
    );
    const reasons = res.replayed ? (radioMeta(res.body.queue!)?.reasons ?? {}) : items;
    if (!res.replayed)
      await this.d.catalog.recordQueued(
        res.body.queue!.id,
        actor.userId,
        items.map((i) => i.trackId),
        new Date(this.d.now()).toISOString(),
      );
    return {
      ...res.body,
      queue: res.body.queue!,
      station: { id: stationId, kind: station.kind, label: resolved.label },
      items: itemsOf(res.body.events, reasons),
    };
  }

  /**
   * Appends `count` tracks to a queue (GET / POST /queues/{id}/extend and auto-extend). A
   * radio queue plays on its station; any other queue the caller may add to is continued
   * from its own tracks (the newest weigh most) and the caller's taste, as "autoplay".
   * Either way nothing the queue ever held comes back until the station is exhausted.
   * With a key the add itself is keyed, so two instances never both extend for it.
   */
  async extend(actor: Actor, queueId: string, count: number, o: { auto?: boolean; keyed?: Keyed | null } = {}): Promise<BatchResult> {
    await this.d.sync.fresh();
    const keyed = o.keyed ?? null;
    for (let attempt = 1; ; attempt++) {
      const state = await this.d.queues.get(actor, queueId);
      const meta = state.type === 'radio' ? radioMeta(state) : null;
      if (o.auto && (!meta || upcoming(state) >= AUTO_EXTEND_BELOW)) return { queue: toView(state), events: [], items: [] };
      // Every track id in the queue now (issue 10: read through the service, not the windowed GET).
      const tracks = state.items.map((i) => i.trackId);
      const listener = meta?.userId ?? actor.userId;
      const history = await this.historyOf(queueId, listener);
      const salt = `${queueId}:${meta?.batches ?? tracks.length}`;
      let items: BatchItem[];
      if (meta) {
        const { resolved } = this.station(meta.stationId, meta.userId);
        items = this.stationBatch(meta.userId, meta.stationId, resolved, meta.preferences ?? {}, count, tracks, salt, history);
      } else {
        items = this.continueQueue(listener, state.name, tracks, count, salt, history);
      }
      if (items.length === 0) return { queue: toView(state), events: [], items: [] };
      try {
        const res = meta
          ? await this.appendBatch(
              actor,
              state,
              items,
              (s, reasons) => ({ ...s.metadata, radio: { ...radioMeta(s)!, batches: meta.batches + 1, reasons } }),
              keyed,
            )
          : await this.addOnly(actor, state, items, keyed);
        if (res.items.length > 0)
          await this.d.catalog.recordQueued(
            queueId,
            listener,
            res.items.map((i) => i.trackId),
            new Date(this.d.now()).toISOString(),
          );
        return res;
      } catch (err) {
        // The queue changed between the read and the append (another device, another
        // instance): decide again on what is there now.
        if (err instanceof VersionConflictError && attempt < 5) continue;
        throw err;
      }
    }
  }

  /** The next tracks of a queue that is not a radio: its own tracks seed it, the listener's taste on top. */
  continueQueue(
    userId: string,
    name: string,
    tracks: readonly string[],
    count: number,
    salt: string,
    history: { station?: Iterable<string>; user?: Iterable<string> },
  ): BatchItem[] {
    const { reco } = this.d;
    const cat = reco.engine.catalog;
    const own = tracks
      .slice(-QUEUE_SEEDS)
      .map((id) => cat.lookup(id))
      .filter((t): t is number => t !== undefined);
    const profile = reco.peekProfile(userId);
    let seeds = continuationSeeds(own);
    let label = name;
    if (seeds.size === 0 && profile) {
      // An empty queue: the listener's taste.
      seeds = profile.tasteSeeds(30).tracks;
      label = 'your taste';
    }
    // The queue's name says what it is for, like a playlist's ("running", "dinner").
    return generateBatch(reco, {
      seeds: { tracks: seeds, words: nameTokens(name) },
      label,
      count,
      profile,
      queueTracks: tracks,
      stationHistory: history.station,
      userRecent: history.user,
      mode: 'continuation',
      salt,
    });
  }

  /** add_tracks only (a queue that is not ours to annotate): the reasons are in the answer. */
  private async addOnly(actor: Actor, state: QueueState, items: BatchItem[], keyed: Keyed | null): Promise<BatchResult> {
    const added = await this.d.queues.execute(
      actor,
      state.id,
      { type: 'add_tracks', tracks: items.map((i) => i.trackId) },
      {
        expectedVersion: state.version,
        ...(keyed ? { idempotencyKey: keyed.key, fingerprint: keyed.fingerprint } : {}),
      },
    );
    // A user queue is co-occurrence data; what we chose for it is not.
    this.d.reco.engine.markChosen(
      state.id,
      items.map((i) => i.trackId),
    );
    return { queue: added.body.queue!, events: added.body.events, items: itemsOf(added.body.events, items) };
  }

  /**
   * add_tracks pinned to the version the batch was computed on (so the caller needs the
   * right to add), then the reasons into the metadata (retried on the fresh metadata if
   * someone changed it in between).
   */
  async appendBatch(
    actor: Actor,
    state: QueueState,
    items: BatchItem[],
    meta: (s: QueueState, reasons: Record<string, Reason>) => Record<string, unknown>,
    keyed: Keyed | null = null,
  ): Promise<BatchResult> {
    const added = await this.d.queues.execute(
      actor,
      state.id,
      { type: 'add_tracks', tracks: items.map((i) => i.trackId) },
      {
        expectedVersion: state.version,
        ...(keyed ? { idempotencyKey: keyed.key, fingerprint: keyed.fingerprint } : {}),
      },
    );
    if (added.replayed) {
      // Added by an earlier try with this key (another instance): answer what it added.
      const now = await this.d.queues.get(actor, state.id);
      return { queue: toView(now), events: added.body.events, items: itemsOf(added.body.events, radioMeta(now)?.reasons ?? mixMeta(now)?.reasons ?? {}) };
    }
    const events = [...added.body.events];
    let queue = added.body.queue!;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const now = await this.d.queues.get(actor, state.id);
      const old = radioMeta(now)?.reasons ?? mixMeta(now)?.reasons;
      const reasons = mergeReasons(old, items, new Set(now.items.map((i) => i.trackId)));
      // The reasons are the service's bookkeeping: a contributor may add tracks but not
      // edit metadata, so then the service writes them on the owner's behalf.
      const writer = can(roleOf(now, actor.userId), 'rename') ? actor : { userId: now.ownerId, deviceId: AUTO_DEVICE };
      try {
        const upd = await this.d.queues.execute(writer, state.id, { type: 'update_queue', metadata: meta(now, reasons) }, { expectedVersion: now.version });
        events.push(...upd.body.events);
        queue = upd.body.queue!;
        break;
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
      }
    }
    return { queue, events, items: itemsOf(events, items) };
  }

  /** Hooked to QueueService.onCommitted: a radio queue running low extends itself. */
  onCommitted(queueId: string, events: QueueEvent[], state: QueueState): void {
    if (state.type !== 'radio' || state.deleted || !events.some((e) => e.type === 'current_item_changed')) return;
    if (upcoming(state) >= AUTO_EXTEND_BELOW || this.extending.has(queueId) || !radioMeta(state)) return;
    this.extending.add(queueId);
    // After this commit's listeners: the extend is a write of its own, queued behind it.
    setImmediate(() => {
      this.extend({ userId: state.ownerId, deviceId: AUTO_DEVICE }, queueId, AUTO_EXTEND_COUNT, { auto: true })
        .catch((err) => this.d.onError?.(err, `auto-extend of queue ${queueId}`))
        .finally(() => this.extending.delete(queueId));
    });
  }

  /** Waits for pending auto-extends (tests, shutdown). */
  get pending(): number {
    return this.extending.size;
  }

  async feedback(actor: Actor, stationId: string, input: { trackId: string; action: 'skip' | 'like' | 'complete'; position: number; queueId?: string }) {
    this.station(stationId, actor.userId);
    const action: ListenAction = input.action;
    await this.record(actor.userId, {
      trackId: input.trackId,
      action,
      position: input.position,
      source: `station:${stationId}`,
      contextType: 'radio',
      sessionId: input.queueId ? `queue:${input.queueId}` : `station:${actor.userId}:${stationId}`,
    });
    const a = this.d.reco.engine.catalog.artist[this.d.reco.engine.catalog.lookup(input.trackId)!]!;
    const fb = this.d.reco.stationFeedback(actor.userId, stationId);
    return {
      stationId,
      trackId: input.trackId,
      action: input.action,
      position: input.position,
      affinity: { ...this.affinity(actor.userId, input.trackId), stationArtist: a >= 0 ? (fb?.artist.get(a) ?? 0) : null },
    };
  }

  /** The user's affinity to a track and its artist now. */
  affinity(userId: string, trackId: string): { track: number; artist: number | null } {
    const { reco } = this.d;
    const t = reco.engine.catalog.lookup(trackId);
    if (t === undefined) return { track: 0, artist: null };
    const a = reco.engine.catalog.artist[t]!;
    const p = reco.peekProfile(userId);
    return { track: p?.trackAffinity.get(t) ?? 0, artist: a >= 0 ? (p?.artistAffinity.get(a) ?? 0) : null };
  }

  /** Records one listening event of a user (attributed to the user's current context) and folds it in. */
  async record(userId: string, e: RecordedListen): Promise<void> {
    await this.recordMany([{ userId, e }]);
  }

  /** Several listens in one append and one refresh (plays from busy queues arrive in bursts). */
  async recordMany(entries: { userId: string; e: RecordedListen }[]): Promise<void> {
    if (entries.length === 0) return;
    const nowMs = this.d.now();
    const occurredAt = new Date(nowMs).toISOString();
    const rows = entries.map(({ userId, e }) => {
      const context = this.d.reco.contextAt(userId, nowMs, CONTEXT_WINDOW_MS);
      const hour = contextHour(context) ?? hourOf(occurredAt);
      return { userId, ...e, hour, context, occurredAt };
    });
    const ids = await this.d.catalog.appendEvents(rows);
    // The engine takes them as written (the shape a read-back gives), without reading them back.
    await this.d.sync.applyOwnEvents(rows.map((r, i) => ({ ...r, id: ids[i]! })));
  }
}

/** Deletes radio history queued more than `historyDays` before `now`, a batch at a time; how many rows. */
export async function pruneRadioHistory(catalog: Pick<CatalogStore, 'pruneRadioHistory'>, c: RadioConfig, now: number): Promise<number> {
  const before = new Date(now - c.historyDays * 86_400_000).toISOString();
  let total = 0;
  for (let round = 0; round < 1_000; round++) {
    const n = await catalog.pruneRadioHistory(before, PRUNE_BATCH);
    total += n;
    if (n < PRUNE_BATCH) break;
  }
  return total;
}

export interface RecordedListen {
  trackId: string;
  action: ListenAction;
  position: number | null;
  source: string | null;
  contextType: string | null;
  sessionId: string | null;
}
