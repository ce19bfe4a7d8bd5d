// Radio queues: created, extended and refreshed through QueueService, so they are
// ordinary queues (events, resume, permissions); the station, the preferences and a
// reason per track live in the queue's metadata. Extends by itself when fewer than
// AUTO_EXTEND_BELOW items are left after the current one.
import type { CatalogStore } from '../catalog/store.ts';
import type { CatalogSync } from '../catalog/sync.ts';
import { AppError, conflict, notFound, VersionConflictError } from '../errors.ts';
import { toView, type QueueEvent, type QueueState, type QueueView } from '../queues/queue.ts';
import { can, roleOf } from '../queues/permissions.ts';
import type { Actor, QueueService } from '../queues/service.ts';
import type { ListenAction } from '../reco/profile.ts';
import { hourOf, type Recommender } from '../reco/recommender.ts';
import { parseStation, resolveStation, UnknownSeed, type Reason, type ResolvedStation, type Station } from '../reco/stations.ts';
import { stationBatch, type BatchItem, type Preferences } from './batch.ts';
import { mergeReasons, mixMeta, radioMeta, type RadioMeta } from './metadata.ts';

export const FIRST_BATCH = 20;
export const AUTO_EXTEND_BELOW = 5;
export const AUTO_EXTEND_COUNT = 10;
/** The device id on events the service appends by itself (auto-extend). */
export const AUTO_DEVICE = 'queue-service:auto-extend';
/** Plays are attributed to a context reported at most this long before them. */
export const CONTEXT_WINDOW_MS = 3 * 3600_000;

export interface RadioDeps {
  queues: QueueService;
  catalog: CatalogStore;
  sync: CatalogSync;
  reco: Recommender;
  now: () => number;
  onError?: (err: unknown, what: string) => void;
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

export function itemsOf(events: QueueEvent[], batch: BatchItem[]): ItemWithReason[] {
  const reason = new Map(batch.map((b) => [b.trackId, b.reason]));
  return events.flatMap((e) => (e.type === 'item_added' ? [{ itemId: e.data.itemId, trackId: e.data.trackId, reason: reason.get(e.data.trackId)! }] : []));
}

/** Items after the current one (all of them when none is current). */
export function upcoming(state: QueueState): number {
  const i = state.currentItemId === null ? -1 : state.items.findIndex((x) => x.itemId === state.currentItemId);
  return state.items.length - 1 - i;
}

export class RadioService {
  private readonly extending = new Set<string>();

  constructor(private readonly d: RadioDeps) {}

  station(stationId: string, userId: string): { station: Station; resolved: ResolvedStation } {
    const station = parseStation(stationId);
    if (!station) throw new AppError('invalid', 'invalid_station', 'station ids are track:<id>, artist:<name>, genre:<name>, album:<id>, playlist:<id> or user:<id>', { stationId });
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
  stationBatch(userId: string, stationId: string, resolved: ResolvedStation, prefs: Preferences, count: number, queueTracks: string[], salt: string): BatchItem[] {
    return stationBatch(this.d.reco, { userId, stationId, resolved, preferences: prefs, count, queueTracks, salt });
  }

  async create(actor: Actor, stationId: string, input: { userId: string; deviceId?: string; preferences?: Preferences }) {
    await this.d.sync.fresh();
    const { station, resolved } = this.station(stationId, actor.userId);
    const prefs = input.preferences ?? {};
    const items = this.stationBatch(actor.userId, stationId, resolved, prefs, FIRST_BATCH, [], `${stationId}:${this.d.now()}`);
    if (items.length === 0) throw conflict('no_tracks', 'the catalog has no tracks for this station yet', { stationId });
    const meta: RadioMeta = { stationId, label: resolved.label, userId: actor.userId, preferences: prefs, batches: 1, reasons: mergeReasons({}, items, null) };
    const who = { userId: actor.userId, deviceId: actor.deviceId ?? input.deviceId ?? null };
    const res = await this.d.queues.create(who, { name: `${resolved.label} radio`, type: 'radio', tracks: items.map((i) => i.trackId), metadata: { radio: meta } });
    return { ...res.body, queue: res.body.queue!, station: { id: stationId, kind: station.kind, label: resolved.label }, items: itemsOf(res.body.events, items) };
  }

  /** Appends `count` tracks to a radio queue (GET /queues/{id}/extend and auto-extend). */
  async extend(actor: Actor, queueId: string, count: number, auto = false): Promise<BatchResult> {
    await this.d.sync.fresh();
    for (let attempt = 1; ; attempt++) {
      const state = await this.d.queues.get(actor, queueId);
      const meta = radioMeta(state);
      if (state.type !== 'radio' || !meta) throw conflict('not_a_radio_queue', 'only radio queues extend; refresh a recommendations queue instead', { queueId, type: state.type });
      if (auto && upcoming(state) >= AUTO_EXTEND_BELOW) return { queue: toView(state), events: [], items: [] };
      const { resolved } = this.station(meta.stationId, meta.userId);
      const tracks = state.items.map((i) => i.trackId);
      const items = this.stationBatch(meta.userId, meta.stationId, resolved, meta.preferences ?? {}, count, tracks, `${queueId}:${meta.batches}`);
      if (items.length === 0) return { queue: toView(state), events: [], items: [] };
      try {
        return await this.appendBatch(actor, state, items, (s, reasons) => ({ ...s.metadata, radio: { ...radioMeta(s)!, batches: meta.batches + 1, reasons } }));
      } catch (err) {
        // The queue changed between the read and the append (another device, another
        // instance): decide again on what is there now.
        if (err instanceof VersionConflictError && attempt < 5) continue;
        throw err;
      }
    }
  }

  /**
   * add_tracks pinned to the version the batch was computed on (so the caller needs the
   * right to add), then the reasons into the metadata (retried on the fresh metadata if
   * someone changed it in between).
   */
  async appendBatch(actor: Actor, state: QueueState, items: BatchItem[], meta: (s: QueueState, reasons: Record<string, Reason>) => Record<string, unknown>): Promise<BatchResult> {
    const added = await this.d.queues.execute(actor, state.id, { type: 'add_tracks', tracks: items.map((i) => i.trackId) }, { expectedVersion: state.version });
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
      this.extend({ userId: state.ownerId, deviceId: AUTO_DEVICE }, queueId, AUTO_EXTEND_COUNT, true)
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
      trackId: input.trackId, action, position: input.position, source: `station:${stationId}`, contextType: 'radio',
      sessionId: input.queueId ? `queue:${input.queueId}` : `station:${actor.userId}:${stationId}`,
    });
    const a = this.d.reco.engine.catalog.artist[this.d.reco.engine.catalog.lookup(input.trackId)!]!;
    const fb = this.d.reco.stationFeedback(actor.userId, stationId);
    return {
      stationId, trackId: input.trackId, action: input.action, position: input.position,
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
    await this.d.catalog.appendEvents(entries.map(({ userId, e }) => {
      const context = this.d.reco.contextAt(userId, nowMs, CONTEXT_WINDOW_MS);
      const hour = contextHour(context) ?? hourOf(occurredAt);
      return { userId, ...e, hour, context, occurredAt };
    }));
    await this.d.sync.refresh();
  }
}

export interface RecordedListen {
  trackId: string;
  action: ListenAction;
  position: number | null;
  source: string | null;
  contextType: string | null;
  sessionId: string | null;
}

/** The hour a context names (its timestamp's clock reading, or an "HH:MM" time of day). */
export function contextHour(c: Record<string, unknown> | null): number | null {
  if (!c) return null;
  if (typeof c.hour === 'number') return c.hour;
  if (typeof c.timeOfDay === 'string') {
    const m = /^(\d{1,2})(?::\d{2})?$/.exec(c.timeOfDay.trim());
    if (m && Number(m[1]) < 24) return Number(m[1]);
  }
  return typeof c.timestamp === 'string' ? hourOf(c.timestamp) : null;
}
