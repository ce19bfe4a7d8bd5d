// The recommender: the engine plus what it learns per listener (taste profile,
// feedback per station, contexts). Every listening event goes through `ingest`, from
// the store at start-up and catch-up, or directly after a local write, so feedback
// is folded in before the request that carried it answers.
import { contextFeatures, ContextModel, type ContextInput } from './context.ts';
import { ContextTracks } from './context-tracks.ts';
import { Engine } from './engine.ts';
import { Profile, type ListenAction } from './profile.ts';

export interface IngestEvent {
  /** null for imported anonymous sessions. */
  userId: string | null;
  sessionId: string | null;
  trackId: string;
  action: ListenAction;
  /** Seconds into the track. */
  position: number | null;
  /** Where it was played from: queue:<id>, station:<id>, reco:<context>, import. */
  source: string | null;
  /** Kind of source (user_collection, radio, personalized_playlist, ...). */
  contextType: string | null;
  /** Hour of day 0-23 in the listener's time, when known. */
  hour: number | null;
  /** The user's context the event is attributed to. */
  context: Record<string, unknown> | null;
  occurredAt: string;
}

/** What a listener told one station: liked tracks pull its next batches, skipped ones push. */
export interface StationFeedback {
  liked: number[];
  skipped: number[];
  artist: Map<number, number>;
}

const STATION_MEMORY = 50;

/** Local hour of an ISO timestamp with an offset (its clock reading), else the UTC hour. */
export function hourOf(iso: string): number | null {
  const m = /T(\d{2}):/.exec(iso);
  return m ? Number(m[1]) : null;
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

/** Plays are attributed to a context reported at most this long before them. */
export const CONTEXT_WINDOW_MS = 3 * 3600_000;

/** Day of week (0 = Sunday) of the date part of an ISO timestamp. */
export function dayOf(iso: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(iso);
  return m ? new Date(`${m[1]}T12:00:00Z`).getUTCDay() : null;
}

export class Recommender {
  readonly engine = new Engine();
  readonly contexts = new ContextModel();
  readonly contextTracks = new ContextTracks();
  private readonly profiles = new Map<string, Profile>();
  private readonly stations = new Map<string, StationFeedback>();
  /** The latest context each user reported, and when it was observed (epoch ms). */
  private readonly latestContext = new Map<string, { context: Record<string, unknown>; at: number }>();
  /** Per user and source (queue:<id>, station:<id>, ...): plays by context feature. */
  private readonly sources = new Map<string, Map<string, Map<string, number>>>();

  profile(userId: string): Profile {
    let p = this.profiles.get(userId);
    if (!p) this.profiles.set(userId, (p = new Profile()));
    return p;
  }

  peekProfile(userId: string): Profile | null {
    return this.profiles.get(userId) ?? null;
  }

  stationFeedback(userId: string, stationId: string): StationFeedback | null {
    return this.stations.get(`${userId}\u0000${stationId}`) ?? null;
  }

  /** Plays of a user's source in contexts with each feature ('' = all contexts). */
  sourcePlays(userId: string, source: string): Map<string, number> | null {
    return this.sources.get(userId)?.get(source) ?? null;
  }

  /** The sources a user played, most played first. */
  userSources(userId: string, limit: number): string[] {
    const m = this.sources.get(userId);
    if (!m) return [];
    return [...m]
      .sort((a, b) => (b[1].get('') ?? 0) - (a[1].get('') ?? 0))
      .slice(0, limit)
      .map(([s]) => s);
  }

  setContext(userId: string, context: Record<string, unknown>, observedAt: string): void {
    const at = Date.parse(observedAt);
    const cur = this.latestContext.get(userId);
    if (!cur || at >= cur.at) this.latestContext.set(userId, { context, at });
  }

  /** The context a play at `at` (epoch ms) is attributed to: the latest one reported within `windowMs` before it. */
  contextAt(userId: string, at: number, windowMs: number): Record<string, unknown> | null {
    const c = this.latestContext.get(userId);
    return c && c.at <= at + 60_000 && at - c.at <= windowMs ? c.context : null;
  }

  /** Context features of a user now: the latest reported context (within `windowMs`), and the time. */
  currentFeatures(userId: string, nowMs: number, windowMs: number): string[] {
    const c = (this.contextAt(userId, nowMs, windowMs) ?? {}) as ContextInput & { timestamp?: string };
    const iso = typeof c.timestamp === 'string' ? c.timestamp : new Date(nowMs).toISOString();
    return contextFeatures({ ...c, hour: c.timeOfDay ? null : hourOf(iso), dow: dayOf(iso) });
  }

  /** Gives back the spare room of lists grown during a bulk build (see Baskets.trim). */
  compact(): void {
    this.engine.baskets.trim();
    this.engine.catalog.trim();
    this.contextTracks.trim(this.engine.catalog.size);
  }

  ingest(e: IngestEvent): void {
    const { engine } = this;
    const cat = engine.catalog;
    const t = cat.ensure(e.trackId);
    const ended = e.action === 'complete' || e.action === 'skip';
    const played = ended || e.action === 'play';
    // Plays of what the engine itself chose (radio stations, mixes) teach the profile but
    // are kept out of the co-occurrence data, so the engine does not learn from itself.
    const ours = e.source !== null && (e.source.startsWith('station:') || e.source.startsWith('reco:'));
    if (played && !ours) {
      const key = e.sessionId ?? `${e.userId ?? 'anonymous'}:${e.occurredAt.slice(0, 10)}`;
      const b = engine.baskets.basketOf(`session:${key}`);
      // A play followed by its own end is one play.
      if (b === undefined || engine.baskets.last(b) !== t) engine.addSessionPlay(key, e.trackId, e.action === 'skip', e.contextType);
      else if (ended) cat.addOutcome(t, e.action === 'skip');
    }
    if (e.userId === null) {
      if (played) {
        const features = contextFeatures({ hour: e.hour, dow: dayOf(e.occurredAt) });
        if (e.contextType) this.contexts.observe(e.contextType, features, null);
        if (e.action !== 'skip') this.contextTracks.observe(t, e.contextType ? [...features, `kind:${e.contextType}`] : features);
      }
      return;
    }
    const profile = this.profile(e.userId);
    profile.fold({ track: t, artist: cat.artist[t]!, action: e.action, position: e.position, durationMs: cat.durationMs[t] });
    if (played && e.contextType) profile.contextType = e.contextType;
    if (e.source?.startsWith('station:')) this.foldStation(e.userId, e.source.slice('station:'.length), t, e.action);
    if (played) {
      const ctx = (e.context ?? {}) as ContextInput;
      const features = contextFeatures({ ...ctx, hour: e.hour ?? ctx.hour ?? null, dow: ctx.dow ?? dayOf(e.occurredAt) });
      if (e.contextType) this.contexts.observe(e.contextType, features, e.userId);
      if (e.action !== 'skip' && !ours) this.contextTracks.observe(t, e.contextType ? [...features, `kind:${e.contextType}`] : features);
      if (e.source) {
        let bySource = this.sources.get(e.userId);
        if (!bySource) this.sources.set(e.userId, (bySource = new Map()));
        let counts = bySource.get(e.source);
        if (!counts) bySource.set(e.source, (counts = new Map()));
        for (const f of ['', ...features]) counts.set(f, (counts.get(f) ?? 0) + 1);
      }
    }
  }

  private foldStation(userId: string, stationId: string, t: number, action: ListenAction): void {
    const key = `${userId}\u0000${stationId}`;
    let s = this.stations.get(key);
    if (!s) this.stations.set(key, (s = { liked: [], skipped: [], artist: new Map() }));
    const a = this.engine.catalog.artist[t]!;
    const bump = (d: number) => {
      if (a >= 0) s!.artist.set(a, Math.max(-6, Math.min(6, (s!.artist.get(a) ?? 0) + d)));
    };
    if (action === 'like' || action === 'complete') {
      const list = action === 'like' ? s.liked : null;
      if (list && !list.includes(t)) list.push(t);
      if (s.liked.length > STATION_MEMORY) s.liked.shift();
      bump(action === 'like' ? 1.5 : 0.3);
    } else if (action === 'skip' || action === 'dislike') {
      if (!s.skipped.includes(t)) s.skipped.push(t);
      if (s.skipped.length > STATION_MEMORY) s.skipped.shift();
      bump(action === 'dislike' ? -2 : -1.5);
    }
  }
}
