// Recommendation queues (type `recommendations`): discover_weekly (unheard tracks near
// the user's taste), daily_mix (one mix per cluster of the user's taste, familiar plus
// new), album_radio (from an album seed). Refresh regenerates a radio or mix queue,
// keeping the items already played.
import { conflict, invalid, notFound } from '../errors.ts';
import type { QueueState } from '../queues/queue.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService } from '../queues/service.ts';
import type { Profile } from '../reco/profile.ts';
import { CONTEXT_WINDOW_MS, type Recommender } from '../reco/recommender.ts';
import type { Reason } from '../reco/stations.ts';
import { generateBatch, type BatchItem, type Preferences } from './batch.ts';
import { mergeReasons, mixMeta, radioMeta, type MixMeta } from './metadata.ts';
import { FIRST_BATCH, itemsOf, type RadioService } from './service.ts';
import { MIX_CONTEXTS } from '../model/wire.ts';

export { MIX_CONTEXTS };
export type MixContext = (typeof MIX_CONTEXTS)[number];
export const MIX_LENGTH = 30;
export const MAX_DAILY_MIXES = 4;

export interface MixDeps {
  queues: QueueService;
  reco: Recommender;
  radio: RadioService;
  now: () => number;
}

interface MixPlan {
  name: string;
  label: string;
  seeds: Map<number, number>;
  exclude: Set<number>;
  familiarity?: number;
  boost: Map<number, { score: number; reason: Reason }>;
  mix?: number;
}

export class MixService {
  private readonly d: MixDeps;
  constructor(d: MixDeps) {
    this.d = d;
  }

  async create(actor: Actor, input: { context: MixContext; seedTracks?: string[]; preferences?: Preferences }) {
    const { reco } = this.d;
    const cat = reco.engine.catalog;
    const seedIdx = (input.seedTracks ?? []).map((id) => {
      const t = cat.lookup(id);
      if (t === undefined) throw notFound('track_not_found', `seed track ${id} is not in the catalog`, { trackId: id });
      return t;
    });
    const profile = reco.peekProfile(actor.userId);
    const plans = this.plans(input.context, seedIdx, profile, reco.currentFeatures(actor.userId, this.d.now(), CONTEXT_WINDOW_MS));
    const prefs = input.preferences ?? {};
    const created = [];
    for (const plan of plans) {
      const items = this.generate(plan, profile, prefs, [], `${input.context}:${plan.mix ?? 0}:${this.d.now()}`);
      if (items.length === 0) throw conflict('no_tracks', 'the catalog has no tracks to recommend yet', { context: input.context });
      const meta: MixMeta = {
        context: input.context,
        label: plan.label,
        userId: actor.userId,
        seedTracks: [...plan.seeds.keys()].map((t) => cat.id(t)),
        preferences: prefs,
        ...(plan.mix ? { mix: plan.mix } : {}),
        refreshable: true,
        batches: 1,
        reasons: mergeReasons({}, items, null),
      };
      const res = await this.d.queues.create(actor, {
        name: plan.name,
        type: 'recommendations',
        tracks: items.map((i) => i.trackId),
        metadata: { recommendations: meta },
      });
      await this.d.radio.remember(
        res.body.queue!.id,
        actor.userId,
        items.map((i) => i.trackId),
      );
      created.push({ ...res.body, queue: res.body.queue!, items: itemsOf(res.body.events, items) });
    }
    const first = created[0]!;
    return { ...first, mixes: created.map((c) => ({ queueId: c.queue.id, name: c.queue.name, label: (c.queue.metadata.recommendations as MixMeta).label })) };
  }

  private plans(kind: MixContext, seeds: number[], profile: Profile | null, context: readonly string[]): MixPlan[] {
    const cat = this.d.reco.engine.catalog;
    const heard = new Set<number>(profile?.heard ?? []);
    const taste = profile ? profile.tasteSeeds(40).tracks : new Map<number, number>();
    switch (kind) {
      case 'discover_weekly': {
        const s = new Map([...taste].filter(([, w]) => w > 0));
        for (const t of seeds) s.set(t, (s.get(t) ?? 0) + 2);
        // A listener without history: what people play in their context now.
        if (s.size === 0) for (const [i, x] of this.d.reco.contextTracks.top(context, 20).entries()) s.set(x.track, 1 - i / 40);
        for (const t of seeds) heard.add(t);
        return [{ name: 'Discover Weekly', label: 'new to you', seeds: s, exclude: heard, familiarity: 0, boost: new Map() }];
      }
      case 'album_radio': {
        if (seeds.length === 0) throw invalid('seed_required', 'album_radio needs seedTracks (a track of the album)');
        const al = cat.album[seeds[0]!]!;
        const albumTracks = al >= 0 ? (cat.albumTracks[al] ?? []) : [seeds[0]!];
        const title = al >= 0 ? cat.albumTitles[al]! : cat.label(seeds[0]!);
        const s = new Map(albumTracks.map((t) => [t, 1] as [number, number]));
        const boost = new Map(albumTracks.slice(0, 5).map((t, i) => [t, { score: 10 - i, reason: { kind: 'album', text: `from ${title}` } }] as const));
        return [{ name: `${title} radio`, label: title, seeds: s, exclude: new Set(), boost }];
      }
      case 'daily_mix': {
        const base = [...seeds.map((t) => [t, 2] as [number, number]), ...[...taste].filter(([, w]) => w > 0)];
        if (base.length === 0) return [{ name: 'Daily Mix 1', label: 'popular right now', seeds: new Map(), exclude: new Set(), boost: new Map(), mix: 1 }];
        return this.clusters(base).map((cluster, i) => {
          const artists = [...new Set(cluster.map(([t]) => cat.artistName(t)).filter((a): a is string => a !== null))].slice(0, 2);
          const label = artists.length ? `${artists.join(', ')} and more` : `mix ${i + 1}`;
          // Familiar: the cluster's own tracks, interleaved with new ones by the re-ranker.
          const boost = new Map(
            cluster
              .slice(0, Math.ceil(MIX_LENGTH / 3))
              .map(([t], k) => [t, { score: 5 - k * 0.1, reason: { kind: 'familiar', text: `you listen to ${cat.label(t)}` } }] as const),
          );
          return { name: `Daily Mix ${i + 1}`, label, seeds: new Map(cluster), exclude: new Set(), familiarity: 0.3, boost, mix: i + 1 };
        });
      }
    }
  }

  /** Groups taste tracks: same artist, or sharing baskets with the group. */
  private clusters(taste: [number, number][]): [number, number][][] {
    const { engine } = this.d.reco;
    const groups: { tracks: [number, number][]; artists: Set<number>; baskets: Set<number> }[] = [];
    for (const [t, w] of taste) {
      const a = engine.catalog.artist[t]!;
      const bs = engine.baskets.of(t);
      let best = -1;
      let bestV = 0;
      groups.forEach((g, i) => {
        let shared = 0;
        for (const b of bs) if (g.baskets.has(b)) shared++;
        const v = (a >= 0 && g.artists.has(a) ? 1 : 0) + shared / (1 + bs.length);
        if (v > bestV) {
          bestV = v;
          best = i;
        }
      });
      if (best < 0 || (bestV < 0.2 && groups.length < MAX_DAILY_MIXES)) {
        groups.push({ tracks: [], artists: new Set(), baskets: new Set() });
        best = groups.length - 1;
      }
      const g = groups[best]!;
      g.tracks.push([t, w]);
      if (a >= 0) g.artists.add(a);
      for (const b of bs.slice(-200)) g.baskets.add(b);
    }
    return groups.sort((x, y) => y.tracks.length - x.tracks.length).map((g) => g.tracks);
  }

  private generate(plan: MixPlan, profile: Profile | null, prefs: Preferences, queueTracks: string[], salt: string): BatchItem[] {
    return generateBatch(this.d.reco, {
      seeds: { tracks: plan.seeds },
      label: plan.label,
      count: MIX_LENGTH,
      profile,
      queueTracks,
      exclude: plan.exclude,
      salt,
      preferences: plan.familiarity !== undefined && prefs.familiarity === undefined ? { ...prefs, familiarity: plan.familiarity } : prefs,
      boost: plan.boost,
    });
  }

  /** Regenerates a radio or recommendations queue: items up to the current one stay, the rest is replaced. */
  async refresh(actor: Actor, queueId: string) {
    const { queues, reco, radio } = this.d;
    const state = await queues.get(actor, queueId);
    const rm = radioMeta(state);
    const mm = mixMeta(state);
    if (!(state.type === 'radio' && rm) && !(state.type === 'recommendations' && mm)) {
      throw conflict('not_refreshable', 'only radio and recommendations queues refresh', { queueId, type: state.type });
    }
    const cur = state.currentItemId === null ? -1 : state.items.findIndex((i) => i.itemId === state.currentItemId);
    const played = state.items.slice(0, cur + 1).map((i) => i.trackId);
    const cleared = await queues.execute(actor, queueId, { type: 'clear', upcomingOnly: true });
    const after = await queues.get(actor, queueId);
    let items: BatchItem[];
    let meta: (s: QueueState, reasons: Record<string, Reason>) => Record<string, unknown>;
    if (rm) {
      const { resolved } = radio.station(rm.stationId, rm.userId);
      items = radio.stationBatch(
        rm.userId,
        rm.stationId,
        resolved,
        rm.preferences ?? {},
        FIRST_BATCH,
        played,
        `${queueId}:refresh:${rm.batches}`,
        await radio.historyOf(queueId, rm.userId),
      );
      meta = (s, reasons) => ({ ...s.metadata, radio: { ...radioMeta(s)!, batches: rm.batches + 1, reasons } });
    } else {
      const cat = reco.engine.catalog;
      const seeds = new Map(mm!.seedTracks.map((id) => [cat.ensure(id), 1] as [number, number]));
      const profile = reco.peekProfile(mm!.userId);
      const exclude = new Set<number>(played.map((id) => cat.ensure(id)));
      if (mm!.context === 'discover_weekly') for (const t of profile?.heard ?? []) exclude.add(t);
      const plan: MixPlan = {
        name: state.name,
        label: mm!.label,
        seeds,
        exclude,
        boost: new Map(),
        familiarity: mm!.context === 'discover_weekly' ? 0 : undefined,
      };
      items = this.generate(plan, profile, mm!.preferences ?? {}, played, `${queueId}:refresh:${mm!.batches}`);
      meta = (s, reasons) => ({ ...s.metadata, recommendations: { ...mixMeta(s)!, batches: mm!.batches + 1, reasons } });
    }
    if (items.length === 0) return { queue: cleared.body.queue, events: cleared.body.events, items: [], kept: played.length };
    const res = await radio.appendBatch(actor, after, items, meta);
    await radio.remember(
      queueId,
      rm?.userId ?? mm!.userId,
      res.items.map((i) => i.trackId),
    );
    return { queue: res.queue, events: [...cleared.body.events, ...res.events], items: res.items, kept: played.length };
  }
}
