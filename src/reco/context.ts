// Context-aware suggestion: which kind of queue fits a context (time of day, day of
// week, location, activity, weather). A naive-Bayes model over context features,
// learned from everyone's listening (the population prior, which is what a new user
// gets) and sharpened by the user's own plays in similar contexts.

import { CONTEXT_KINDS } from '../model/wire.ts';

export { CONTEXT_KINDS };

export const TIMES_OF_DAY = ['morning', 'afternoon', 'evening', 'night'] as const;
export type TimeOfDay = (typeof TIMES_OF_DAY)[number];

export interface ContextInput {
  /** 0-23. */
  hour?: number | null;
  /** 0 = Sunday. */
  dow?: number | null;
  timeOfDay?: string | null;
  location?: string | null;
  activity?: string | null;
  weather?: string | null;
}

export function timeOfDayOf(hour: number): TimeOfDay {
  if (hour >= 5 && hour < 12) return 'morning';
  if (hour >= 12 && hour < 17) return 'afternoon';
  if (hour >= 17 && hour < 22) return 'evening';
  return 'night';
}

/** "morning" | "evening" | ..., or "HH:MM" / "HH": the hour (and its time of day). */
export function parseTimeOfDay(s: string): { hour: number | null; timeOfDay: TimeOfDay } | null {
  const v = s.trim().toLowerCase();
  if ((TIMES_OF_DAY as readonly string[]).includes(v)) return { hour: null, timeOfDay: v as TimeOfDay };
  const m = /^(\d{1,2})(?::(\d{2}))?$/.exec(v);
  if (!m) return null;
  const h = Number(m[1]);
  if (h > 23 || (m[2] !== undefined && Number(m[2]) > 59)) return null;
  return { hour: h, timeOfDay: timeOfDayOf(h) };
}

const slug = (s: string) => s.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, '_').slice(0, 64);

/** Features of a context: one per slot that is known. */
export function contextFeatures(c: ContextInput): string[] {
  const f: string[] = [];
  let hour = c.hour ?? null;
  let tod: TimeOfDay | null = null;
  if (c.timeOfDay) {
    const p = parseTimeOfDay(c.timeOfDay);
    if (p) {
      tod = p.timeOfDay;
      hour ??= p.hour;
    }
  }
  if (hour !== null) f.push(`hour:${Math.floor(hour / 3)}`);
  else if (tod) f.push(`tod:${tod}`);
  if (c.dow !== null && c.dow !== undefined) f.push(`day:${c.dow === 0 || c.dow === 6 ? 'weekend' : 'weekday'}`);
  if (c.location) f.push(`location:${slug(c.location)}`);
  if (c.activity) f.push(`activity:${slug(c.activity)}`);
  if (c.weather) f.push(`weather:${slug(c.weather)}`);
  return f;
}

/** Counts of kinds, overall and per feature. */
class Counts {
  total = 0;
  readonly kind = new Map<string, number>();
  readonly byFeature = new Map<string, Map<string, number>>();
  readonly feature = new Map<string, number>();

  add(kind: string, features: readonly string[], w: number): void {
    this.total += w;
    this.kind.set(kind, (this.kind.get(kind) ?? 0) + w);
    for (const f of features) {
      this.feature.set(f, (this.feature.get(f) ?? 0) + w);
      let m = this.byFeature.get(f);
      if (!m) this.byFeature.set(f, (m = new Map()));
      m.set(kind, (m.get(kind) ?? 0) + w);
    }
  }
}

export interface KindScore {
  kind: string;
  /** Probability of the kind in this context. */
  p: number;
  /** The feature that raised it most above its overall share, if any. */
  because: string | null;
  /** The user's own plays weighed in (false: population prior only). */
  personal: boolean;
}

/** Pseudo-counts of the prior: the population prior weighs as much as this many own plays. */
const USER_PRIOR_WEIGHT = 20;
const SMOOTHING = 1;

export class ContextModel {
  private readonly population = new Counts();
  private readonly users = new Map<string, Counts>();

  observe(kind: string, features: readonly string[], userId: string | null, weight = 1): void {
    this.population.add(kind, features, weight);
    if (userId !== null) {
      let u = this.users.get(userId);
      if (!u) this.users.set(userId, (u = new Counts()));
      u.add(kind, features, weight);
    }
  }

  /** Kinds in this context, most likely first. `features` empty = the context-free ranking. */
  rank(features: readonly string[], userId: string | null = null, kinds: readonly string[] = CONTEXT_KINDS): KindScore[] {
    const pop = nb(this.population, features, kinds);
    const u = userId !== null ? this.users.get(userId) : undefined;
    let post = pop.p;
    if (u && u.total > 0) {
      // The user's own naive Bayes, with the population posterior as its prior.
      const own = nb(u, features, kinds, pop.p, USER_PRIOR_WEIGHT);
      post = own.p;
    }
    return kinds
      .map((kind, i) => ({ kind, p: post[i]!, because: pop.because[i]!, personal: !!u && u.total > 0 }))
      .sort((a, b) => b.p - a.p || a.kind.localeCompare(b.kind));
  }

  /** How many plays the user has with a kind, for reasons ("you often ..."). */
  userCount(userId: string, kind: string, feature?: string): number {
    const u = this.users.get(userId);
    if (!u) return 0;
    return feature ? (u.byFeature.get(feature)?.get(kind) ?? 0) : (u.kind.get(kind) ?? 0);
  }
}

function nb(c: Counts, features: readonly string[], kinds: readonly string[], prior?: number[], priorWeight = 0) {
  const K = kinds.length;
  const logp = kinds.map((k, i) => {
    const base = prior
      ? ((c.kind.get(k) ?? 0) + priorWeight * prior[i]!) / (c.total + priorWeight)
      : ((c.kind.get(k) ?? 0) + SMOOTHING) / (c.total + SMOOTHING * K);
    return Math.log(base);
  });
  const because: (string | null)[] = kinds.map(() => null);
  const lift = kinds.map(() => 0);
  for (const f of features) {
    const byKind = c.byFeature.get(f);
    const nf = c.feature.get(f) ?? 0;
    const pf = (nf + SMOOTHING) / (c.total + SMOOTHING * 2);
    kinds.forEach((k, i) => {
      const nk = c.kind.get(k) ?? 0;
      // P(f | k), smoothed towards P(f) so an unseen pair is neutral, not impossible.
      const pfk = ((byKind?.get(k) ?? 0) + 5 * pf) / (nk + 5);
      const l = Math.log(pfk / pf);
      logp[i]! += l;
      if (l > lift[i]!) {
        lift[i] = l;
        because[i] = f;
      }
    });
  }
  const m = Math.max(...logp);
  const e = logp.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return { p: e.map((x) => x / z), because };
}
