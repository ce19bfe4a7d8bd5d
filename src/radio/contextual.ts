// Context-aware suggestions: the user reports a context (POST /users/{id}/context;
// plays that follow are attributed to it), and asks which queues fit a context
// (POST /queues/contextual). Candidates are the user's own queues, radio stations and
// mixes, and catalog playlists whose names match the context; each is scored by how
// likely its kind is in the context (population prior, sharpened by the user's own
// plays) and by the user's own plays of it in similar contexts.
import type { CatalogStore } from '../catalog/store.ts';
import type { CatalogSync } from '../catalog/sync.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService } from '../queues/service.ts';
import { contextFeatures, type ContextInput } from '../reco/context.ts';
import { nameTokens } from '../reco/engine.ts';
import { dayOf, hourOf, type Recommender } from '../reco/recommender.ts';

export interface ContextBody {
  location?: string;
  activity?: string;
  timeOfDay?: string;
  weather?: string;
  timestamp?: string;
  [extra: string]: unknown;
}

export interface Suggestion {
  type: 'queue' | 'station' | 'mix' | 'playlist';
  name: string;
  /** Which kind of listening it is (the sessions data's context types). */
  kind: string;
  score: number;
  reasons: string[];
  queueId?: string;
  stationId?: string;
  context?: string;
  playlistId?: string;
  /** How to start it: the request that makes (or opens) the queue. */
  open: { method: 'GET' | 'POST'; path: string; body?: Record<string, unknown> };
}

const KIND_OF_QUEUE: Record<string, string> = {
  user: 'user_collection',
  collaborative: 'user_collection',
  radio: 'radio',
  recommendations: 'personalized_playlist',
  party: 'user_collection',
};
const KIND_TEXT: Record<string, string> = {
  user_collection: 'your own queues',
  catalog: 'albums and artists',
  editorial_playlist: 'playlists',
  radio: 'radio',
  personalized_playlist: 'mixes made for you',
  charts: 'the charts',
};

function featureText(f: string): string {
  const [slot, v] = f.split(':') as [string, string];
  switch (slot) {
    case 'hour':
      return `around ${Number(v) * 3}:00-${Number(v) * 3 + 3}:00`;
    case 'tod':
      return `in the ${v}`;
    case 'day':
      return `on ${v}s`;
    case 'location':
      return `at ${v.replace(/_/g, ' ')}`;
    case 'activity':
      return `while ${v.replace(/_/g, ' ')}`;
    case 'weather':
      return `when it is ${v.replace(/_/g, ' ')}`;
    default:
      return f;
  }
}

export function featuresOf(c: ContextBody, nowIso: string): string[] {
  const ts = typeof c.timestamp === 'string' ? c.timestamp : null;
  const input: ContextInput = {
    hour: !c.timeOfDay && ts ? hourOf(ts) : null,
    dow: dayOf(ts ?? nowIso),
    timeOfDay: c.timeOfDay ?? null,
    location: c.location ?? null,
    activity: c.activity ?? null,
    weather: c.weather ?? null,
  };
  return contextFeatures(input);
}

export class ContextualService {
  private readonly d: { queues: QueueService; catalog: CatalogStore; sync: CatalogSync; reco: Recommender; now: () => number };
  constructor(d: { queues: QueueService; catalog: CatalogStore; sync: CatalogSync; reco: Recommender; now: () => number }) {
    this.d = d;
  }

  async report(userId: string, context: ContextBody) {
    const recordedAt = new Date(this.d.now()).toISOString();
    const observedAt = typeof context.timestamp === 'string' ? new Date(context.timestamp).toISOString() : recordedAt;
    const rec = await this.d.catalog.recordContext(userId, context as Record<string, unknown>, observedAt, recordedAt);
    await this.d.sync.refresh();
    return { id: rec.id, userId, context, observedAt, features: featuresOf(context, observedAt) };
  }

  async suggest(actor: Actor, context: ContextBody, limit: number) {
    await this.d.sync.fresh();
    const { reco } = this.d;
    const nowIso = new Date(this.d.now()).toISOString();
    const features = featuresOf(context, nowIso);
    const kinds = reco.contexts.rank(features, actor.userId);
    const pKind = new Map(kinds.map((k) => [k.kind, k]));
    const out: Suggestion[] = [];
    const add = (s: Omit<Suggestion, 'score' | 'reasons'>, source: string | null, extra: string[] = [], bonus = 0) => {
      const k = pKind.get(s.kind);
      const p = k?.p ?? 0.01;
      const reasons: string[] = [];
      if (k?.because) reasons.push(`${k.personal ? 'you often listen to' : 'people often listen to'} ${KIND_TEXT[s.kind] ?? s.kind} ${featureText(k.because)}`);
      let own = 0;
      if (source) {
        const plays = reco.sourcePlays(actor.userId, source);
        if (plays) {
          const total = plays.get('') ?? 0;
          const matching = features.length ? Math.max(...features.map((f) => plays.get(f) ?? 0)) : total;
          const best = features.find((f) => (plays.get(f) ?? 0) === matching && matching > 0);
          own = (matching + 0.5 * total) / (total + 2);
          if (best) reasons.push(`you played it ${matching} times ${featureText(best)}`);
          else if (total > 0) reasons.push(`you played it ${total} times`);
        }
      }
      out.push({ ...s, score: round(p * (1 + 2 * own) + bonus), reasons: [...reasons, ...extra] });
    };

    const mine = await this.d.queues.list(actor, 50, null);
    for (const q of mine.items) {
      add(
        { type: 'queue', name: q.name, kind: KIND_OF_QUEUE[q.type] ?? 'user_collection', queueId: q.id, open: { method: 'GET', path: `/queues/${q.id}` } },
        `queue:${q.id}`,
      );
    }
    const stations = new Set<string>([`user:${actor.userId}`]);
    for (const src of reco.userSources(actor.userId, 20)) if (src.startsWith('station:')) stations.add(src.slice('station:'.length));
    const profile = reco.peekProfile(actor.userId);
    for (const a of profile?.topArtists(3) ?? []) stations.add(`artist:${reco.engine.catalog.artists.display[a]}`);
    for (const st of stations) {
      const own = st === `user:${actor.userId}`;
      add(
        {
          type: 'station',
          name: own ? 'Your radio' : `${st.slice(st.indexOf(':') + 1)} radio`,
          kind: 'radio',
          stationId: st,
          open: { method: 'POST', path: `/radio/${encodeURIComponent(st)}/queue`, body: { userId: 'me' } },
        },
        `station:${st}`,
      );
    }
    for (const mix of ['discover_weekly', 'daily_mix'] as const) {
      add(
        {
          type: 'mix',
          name: mix === 'discover_weekly' ? 'Discover Weekly' : 'Daily Mix',
          kind: 'personalized_playlist',
          context: mix,
          open: { method: 'POST', path: '/recommendations/queue', body: { context: mix, userId: 'me' } },
        },
        `reco:${mix}`,
      );
    }
    // Catalog playlists named after the context ("workout", "rainy day", "morning").
    const words = [context.activity, context.location, context.weather, context.timeOfDay]
      .filter((w): w is string => typeof w === 'string')
      .flatMap(nameTokens);
    for (const p of reco.engine.playlistsNamed(words, 3)) {
      const charts = /\b(top|hits|charts?)\b/i.test(p.name);
      add(
        {
          type: 'playlist',
          name: p.name,
          kind: charts ? 'charts' : 'editorial_playlist',
          playlistId: p.id,
          open: { method: 'POST', path: `/radio/${encodeURIComponent(`playlist:${p.id}`)}/queue`, body: { userId: 'me' } },
        },
        `station:playlist:${p.id}`,
        [`its name matches “${p.matched.join(' ')}”`],
        0.05 * p.matched.length,
      );
    }
    out.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
    return { features, kinds: kinds.map((k) => ({ kind: k.kind, p: round(k.p) })), personal: kinds[0]?.personal ?? false, suggestions: out.slice(0, limit) };
  }
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
