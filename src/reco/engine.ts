// The recommendation engine: candidate retrieval over the baskets of the seeds,
// then one blended score per candidate from
//   co     item-item co-occurrence (damped for long baskets, normalised by popularity,
//          sequence-aware in sessions: what came next counts more than what came before)
//   knn    neighbouring baskets: baskets most like the seed set vote for their tracks
//   seq    (session mode) what followed the listener's last plays in other sessions, the
//          longer the run of them matched there the more (variable-order transitions)
//   artist / genre / features   content similarity when the catalog has it
//   pop    popularity prior
// and the listener's affinities on top. Everything is synchronous over dense arrays
// reused between calls, so one call costs milliseconds on the full data.
import type { Seeds } from './seeds.ts';
import { Baskets, KIND_CODE, SKIPPED_WEIGHT } from './baskets.ts';
import { CO_POP_EXPONENT, Catalog } from './catalog.ts';
import { bestGenre, featureScore, genreScore, seedAlbums, sum, topKeys } from './content.ts';
import { BasketIndexes, type IndexOptions } from './indexes.ts';
import { select } from './select.ts';
import { resized } from './typed.ts';
import type { Profile } from './profile.ts';

export { nameTokens } from './indexes.ts';
export { select } from './select.ts';

export type ReasonKind = 'similar' | 'listeners' | 'artist' | 'album' | 'genre' | 'features' | 'popular';

export interface Scored {
  track: number;
  score: number;
  /** The component that contributed most, and the seed (track, or artist / genre index) behind it. */
  reason: { kind: ReasonKind; seed: number };
}

export interface Blend {
  co: number;
  knn: number;
  artist: number;
  genre: number;
  features: number;
  pop: number;
  /** Exponent of the candidate-side popularity normalisation of co-occurrence (0 = raw counts). */
  coPopExponent: number;
  /** Exponent of the seed-side one: a rare seed's neighbours say more than a hit's. */
  seedPopExponent: number;
  /** Neighbour baskets that vote. */
  neighbours: number;
  /** Exponent of the basket length in basket similarity (0.5 = cosine-like). */
  basketLengthExponent: number;
  /** Exponent applied to a neighbour basket's similarity before it votes. */
  neighbourSharpness: number;
  /** Baskets walked per seed at most: a very popular seed's newest ones. */
  maxPostings: number;
  /** Weight of sharing an artist with the seeds in basket similarity (sharing a track weighs 1). */
  artistOverlap: number;
  /** Co-occurrence in a basket of length L weighs L^-x (0: 1 / log2(2 + L)). */
  basketDamp: number;
  /** Weight of a shared name word (by its rarity) in basket similarity. */
  nameOverlap: number;
  /** Playlist and queue baskets whose tracks get co-occurrence at most: those with the most seed weight. */
  spreadBaskets: number;
  /** Content candidates per seed artist (its most popular tracks; the ten heaviest seed artists). */
  contentPerArtist: number;
  /** Weight of the sequence score (0: off; needs Seeds.sequence). */
  seq: number;
  /** A session's continuation weighs seqBase^(m - 1) when it matched the listener's last m plays in a row. */
  seqBase: number;
  /** Longest run matched (plays). */
  seqOrder: number;
  /** Tracks after the matched run that score, the d-th weighing seqDecay^(d - 1). */
  seqForward: number;
  seqDecay: number;
  /** Sessions of the last play walked at most (its newest). */
  seqPostings: number;
  /** Weight of a session played from another context type than the listener's (Seeds.contextType; 1 = no matter). */
  contextMismatch: number;
}

const BASE: Blend = {
  co: 1,
  knn: 1,
  artist: 0.25,
  genre: 0.15,
  features: 0.1,
  pop: 0.02,
  coPopExponent: CO_POP_EXPONENT,
  seedPopExponent: 0.3,
  neighbours: 200,
  basketLengthExponent: 0.5,
  neighbourSharpness: 1.5,
  maxPostings: 400,
  artistOverlap: 0.3,
  basketDamp: 0,
  nameOverlap: 0.5,
  // 100-300 and unlimited score alike on the tuning split (R-precision and NDCG at K = 1-25,
  // within 0.002); 40 starts to lose NDCG. At least radio's maxPostings: a one-seed station spreads all its baskets.
  spreadBaskets: 150,
  contentPerArtist: 40,
  seq: 0,
  seqBase: 4,
  seqOrder: 5,
  seqForward: 3,
  seqDecay: 0.5,
  seqPostings: 2000,
  contextMismatch: 1,
};

/** Per-mode blends, chosen on the tuning split of `npm run eval` (see README). */
export const BLENDS: Record<'radio' | 'continuation' | 'session', Blend> = {
  radio: { ...BASE, artist: 0.35, genre: 0.2, features: 0.15, pop: 0.05, neighbours: 150, maxPostings: 150 },
  // Issue 24 (tuning split, playlist stations of 100 at K = 5 / 25, through the station
  // code, `--only stations`): a stronger artist weight (0.4 -> 1.6), more of the seed
  // artists' tracks as candidates (40 -> 200 each; the largest single gain), shared artists
  // weighing more in basket similarity (0.3 -> 0.6), fewer neighbour votes (1 -> 0.8) and
  // the name's words out of basket similarity (they cost 0.4-2.5% there) lift R-precision
  // from 1.17 / 1.14 to 1.32 / 1.34x co-occurrence and NDCG from 1.15 / 1.14 to 1.27 / 1.28x
  // (with LIST_SPREAD; the station as it was: 1.04-1.06x).
  continuation: { ...BASE, artist: 1.6, knn: 0.8, artistOverlap: 0.6, nameOverlap: 0, contentPerArtist: 200 },
  // Issue 24 round 5 (tuning split, a user station's first 10 after a session's prefix,
  // `bench/eval/next-track.ts`): the sequence score (seq 1) and sessions of another context
  // type at 0.25 lift HR@10 from 1.10 / 1.12x session co-occurrence (with / without skip
  // flags) to 1.19 / 1.21x; neighbours then weigh 1.5 (0.6 before; 1-2 score alike).
  session: { ...BASE, knn: 1.5, artist: 0.1, neighbours: 150, neighbourSharpness: 1, seq: 1, contextMismatch: 0.25 },
};

/** Weight of a seed's basket occurrence whose outcome (skipped / kept) differs from the listener's. */
export const OUTCOME_MISMATCH = 0.3;

export interface ScoreOptions {
  mode: keyof typeof BLENDS;
  blend?: Partial<Blend>;
  /** How many scored candidates to return (best first). */
  limit: number;
  /** Never returned. Seeds with a positive weight are excluded too unless `keepSeeds`. */
  exclude?: ReadonlySet<number>;
  keepSeeds?: boolean;
  profile?: Profile | null;
  /** 0 = only new to the listener, 1 = only familiar; absent = no preference. */
  familiarity?: number;
  /** Target energy 0..1, used when the catalog has features. */
  energy?: number;
  /** Only tracks with one of these genres (when the catalog has genres). */
  onlyGenres?: ReadonlySet<number>;
  excludeArtists?: ReadonlySet<number>;
  /** See Seeds.skipped. */
  outcomeMismatch?: number;
}

const CONTENT_PER_GENRE = 80;
const POPULAR_FILL = 200;
/** Candidates fully scored: this many times the limit, by co-occurrence and neighbours (2 and 5 score alike on the tuning split: R-precision and NDCG at K = 1-25 and the sessions within 0.0001). */
const PRESELECT = 2;
/** Items of a queue that count as one basket (the first ones; a 10,000-item queue is not a mix). */
const MAX_QUEUE_BASKET = 500;
/** Seeds walked with the full maxPostings; more share that budget (at least 20 baskets each). */
const SEED_BUDGET = 50;

export class Engine {
  readonly catalog = new Catalog();
  readonly baskets = new Baskets();
  private readonly indexes: BasketIndexes;
  /** `indexes`: when the secondary indexes rebuild (tests make them small and quick). */
  constructor(o: { indexes?: Partial<IndexOptions> } = {}) {
    this.indexes = new BasketIndexes(this.catalog, this.baskets, o.indexes);
  }

  /** Whether a secondary index is being rebuilt in the background (answers meanwhile use the previous one). */
  get indexesRebuilding(): boolean {
    return this.indexes.rebuilding;
  }
  // Scratch space, indexed by track / basket, reset after each call through the touched lists.
  /** The tracks a call touches (10,000-17,000 for a playlist station): one buffer reused, not a JS array per call that large-object space keeps until a full collection. */
  private readonly touched = new IntList();
  /**
   * Per track: its candidate number in this call + 1 (0: not a candidate), the order it
   * was first touched (its index in `touched`).
   */
  private candOf = new Int32Array(0);
  // Per candidate of this call (by candidate number k, index k * SLOT + CO etc.), side by
  // side: co-occurrence, neighbour votes, the largest single co-occurrence contribution
  // and MARK, s + 1 when that came from seed s. Issue 24 round 7: these were per track
  // (j * SLOT), 32 bytes for each of the catalog's tracks, all resident once calls had
  // touched tracks all over it (13 MB); by candidate, only the first ones the largest call
  // reached are (0.5 MB for a playlist station's ~17,000), and a call reads them in order.
  private slot = new Float64Array(0);
  private flag = new Uint8Array(0);
  private sim = new Float64Array(0);
  // Phase 1's per-basket gathering (see walkSeeds): summed seed weight, the two largest
  // seed weights and their seeds, and the list of (seed, weight) visits per basket.
  private acc = new Float64Array(0);
  private top1 = new Float64Array(0);
  private top1Seed = new Int32Array(0);
  private top2 = new Float64Array(0);
  private top2Seed = new Int32Array(0);
  private visitHead = new Int32Array(0);
  /** Baskets whose entries of the per-basket arrays above hold their initial values (see grow). */
  private basketsReady = 0;
  private visitSeed = new Int32Array(0);
  private visitCw = new Float64Array(0);
  private visitNext = new Int32Array(0);
  /**
   * Per track: its own weight while `spread` is at a basket it walked as a seed (read only
   * where `selfMark` is 1). A byte per track is what spread's inner loop reads per entry
   * (issue 24 round 6: it read this array, 8 bytes per track and filled with NaN, so every
   * page was resident and every entry a cache miss).
   */
  private selfCw = new Float64Array(0);
  private selfMark = new Uint8Array(0);
  /** Per candidate (as `slot`): its sequence score this call (Blend.seq; 0 otherwise). */
  private seqv = new Float32Array(0);
  // Per-call candidate arrays, reused.
  private cand = new Float64Array(0);
  private candSort = new Float64Array(0);
  private candCo = new Float64Array(0);
  private candKnn = new Float64Array(0);
  private candSeq = new Float64Array(0);
  private candSeed = new Int32Array(0);
  private candFlag = new Uint8Array(0);

  /** Adds or replaces a playlist; its entries count towards popularity. */
  addPlaylist(id: string, name: string | null, trackIds: readonly string[]): void {
    const key = `playlist:${id}`;
    const old = this.baskets.basketOf(key);
    if (old !== undefined) for (const t of this.baskets.items(old)) this.catalog.addPopularity(t, -1);
    const tracks = trackIds.map((x) => this.catalog.ensure(x));
    for (const t of tracks) this.catalog.addPopularity(t, 1);
    this.baskets.set(key, 'playlist', tracks, null, name);
  }

  /** A catalog delete of a playlist: it stops counting (co-occurrence, popularity, stations). */
  removePlaylist(id: string): void {
    const key = `playlist:${id}`;
    const old = this.baskets.basketOf(key);
    if (old === undefined) return;
    for (const t of this.baskets.items(old)) this.catalog.addPopularity(t, -1);
    this.baskets.remove(key);
  }

  /** One play of a listening session (imported, or a listener's own); skipped plays weigh less. */
  addSessionPlay(sessionKey: string, trackId: string, skipped: boolean, contextType?: string | null): number {
    const t = this.catalog.ensure(trackId);
    const w = skipped ? SKIPPED_WEIGHT : 1;
    const b = this.baskets.append(`session:${sessionKey}`, 'session', t, w);
    if (contextType) this.baskets.context[b] = this.baskets.contextCode(contextType);
    this.catalog.addPopularity(t, w);
    this.catalog.addOutcome(t, skipped);
    return t;
  }

  /**
   * A queue people put together (user and collaborative queues): co-occurrence only.
   * `trackIds` is the queue's order from its start (at most MAX_QUEUE_BASKET are used; none
   * once it is deleted). What the service chose for it is forgotten once it left the queue,
   * so that `chosen` holds no more than the queues' own tracks (it grew with every queue
   * ever extended, deleted ones too).
   */
  setQueue(queueId: string, trackIds: readonly string[]): void {
    this.forgetChosen(queueId, trackIds);
    this.rebuildQueue(queueId, trackIds);
  }

  private forgetChosen(queueId: string, trackIds: readonly string[]): void {
    const chosen = this.chosen.get(queueId);
    // A longer queue may hold chosen tracks past the ones given: those are kept.
    if (chosen === undefined || trackIds.length >= MAX_QUEUE_BASKET) return;
    const present = new Set(trackIds);
    for (const t of chosen) if (!present.has(t)) chosen.delete(t);
    if (chosen.size === 0) this.chosen.delete(queueId);
  }

  /** Queues with chosen tracks remembered (tests). */
  get chosenQueues(): number {
    return this.chosen.size;
  }

  private rebuildQueue(queueId: string, trackIds: readonly string[]): void {
    const chosen = this.chosen.get(queueId);
    const people = chosen ? trackIds.filter((t) => !chosen.has(t)) : trackIds;
    if (people.length < 2) {
      this.baskets.remove(`queue:${queueId}`);
      return;
    }
    this.baskets.set(
      `queue:${queueId}`,
      'queue',
      people.slice(0, MAX_QUEUE_BASKET).map((x) => this.catalog.ensure(x)),
    );
  }

  /** Tracks of a queue the service chose (extend, autoplay): never its co-occurrence data, so the engine does not learn from itself. */
  private readonly chosen = new Map<string, Set<string>>();

  markChosen(queueId: string, trackIds: readonly string[]): void {
    let set = this.chosen.get(queueId);
    if (!set) this.chosen.set(queueId, (set = new Set()));
    for (const t of trackIds) set.add(t);
    const b = this.baskets.basketOf(`queue:${queueId}`);
    // The basket holds people's tracks only: rebuilt without forgetting what was just chosen.
    if (b !== undefined)
      this.rebuildQueue(
        queueId,
        this.baskets.items(b).map((t) => this.catalog.id(t)),
      );
  }

  /** Playlists whose names share words with `words`, most matching (rarest words) first. */
  playlistsNamed(words: readonly string[], limit: number): { id: string; name: string; matched: string[] }[] {
    return this.indexes.playlistsNamed(words, limit);
  }

  private grow(): void {
    const n = this.catalog.size;
    if (this.flag.length < n) {
      const cap = Math.max(1024, Math.ceil(n * 1.25));
      // A call has at most one candidate per track; the arrays by candidate are resident
      // only as far as the largest call went (zero pages until written).
      this.candOf = new Int32Array(cap);
      this.slot = new Float64Array(cap * SLOT);
      this.flag = new Uint8Array(cap);
      this.selfCw = new Float64Array(cap);
      this.selfMark = new Uint8Array(cap);
      this.seqv = new Float32Array(cap);
    }
    const nb = this.baskets.size;
    if (this.sim.length < nb) {
      const cap = Math.max(1024, nb * 2);
      this.sim = new Float64Array(cap);
      this.acc = new Float64Array(cap);
      this.top1 = new Float64Array(cap);
      this.top2 = new Float64Array(cap);
      this.top1Seed = new Int32Array(cap);
      this.top2Seed = new Int32Array(cap);
      this.visitHead = new Int32Array(cap);
      this.basketsReady = 0;
    }
    // Their initial values up to the baskets there are (issue 24 round 7: filling the whole
    // room at once made the half not in use yet resident, 1.5 MB on the shared data).
    if (this.basketsReady < nb) {
      this.top1.fill(Number.NEGATIVE_INFINITY, this.basketsReady, nb);
      this.top2.fill(Number.NEGATIVE_INFINITY, this.basketsReady, nb);
      this.top1Seed.fill(-1, this.basketsReady, nb);
      this.top2Seed.fill(-1, this.basketsReady, nb);
      this.visitHead.fill(-1, this.basketsReady, nb);
      this.basketsReady = nb;
    }
  }

  /**
   * The best `opts.limit` candidates for the seeds, best first, in four phases: (1) walk
   * the seeds' baskets for co-occurrence and basket similarity, (2) the most similar
   * baskets vote for their tracks, (3) content candidates from the seeds' artists and
   * genres, (4) blend the components and the listener's affinities.
   */
  score(seeds: Seeds, opts: ScoreOptions): Scored[] {
    this.grow();
    const c: ScoreCall = {
      seeds,
      opts,
      B: { ...BLENDS[opts.mode], ...opts.blend },
      touched: this.touched.clear(),
      touchedBaskets: [],
      artistW: new Map<number, number>(seeds.artists ?? []),
      sequenced: false,
    };
    this.walkSeeds(c);
    if (c.B.seq > 0 && seeds.sequence?.length) {
      c.sequenced = true;
      this.walkSequence(c, seeds.sequence);
    }
    this.similarBaskets(c);
    this.voteNeighbours(c);
    const content = this.contentCandidates(c);
    return this.blend(c, content);
  }

  /** Phase 1's credit to candidate j: co-occurrence `co`, and `best` from `seed` when it is j's largest single contribution. */
  private credit(c: ScoreCall, j: number, co: number, best: number, seed: number): void {
    const { slot } = this;
    const o = this.touch(c, j) * SLOT;
    slot[o + CO] += co;
    if (best > slot[o + BEST]!) {
      slot[o + BEST] = best;
      slot[o + MARK] = seed + 1;
    }
  }

  /** Track j's candidate number in this call, making it a candidate when it is not one yet (reset in `blend`). */
  private touch(c: ScoreCall, j: number): number {
    const k = this.candOf[j]! - 1;
    if (k >= 0) return k;
    const n = c.touched.length;
    c.touched.push(j);
    this.candOf[j] = n + 1;
    return n;
  }

  /**
   * Phase 1: co-occurrence and basket similarity, walking each seed's baskets once. Many
   * seeds (a whole playlist or queue) share a budget, so a call stays milliseconds.
   * A playlist or queue basket that several seeds reach is walked once, not once per seed
   * (issue 24: a playlist station's seeds share most of their baskets, 3-7 visits each):
   * its seeds' weights are summed first (`gather`), then `spread` adds them to its tracks,
   * each seed's own weight left out of its own entry. Session baskets, where the order
   * and the outcome of each play count, are walked per seed as before.
   */
  private walkSeeds(c: ScoreCall): void {
    const { seeds, B, touchedBaskets } = c;
    const { catalog: cat, baskets } = this;
    const { acc, top1, top1Seed, top2, top2Seed, visitHead } = this;
    const { data, wdata, start, count, weighted } = baskets;
    const sessionCode = KIND_CODE.session;
    const mismatch = c.opts.outcomeMismatch ?? OUTCOME_MISMATCH;
    const ctx = B.contextMismatch !== 1 ? baskets.findContext(seeds.contextType) : 0;
    const perSeed = Math.max(20, Math.min(B.maxPostings, Math.floor((B.maxPostings * SEED_BUDGET) / Math.max(1, seeds.tracks.size))));
    const gathered: number[] = [];
    let visits = 0;
    for (const [s, w] of seeds.tracks) {
      if (w === 0) continue;
      const posting = baskets.of(s);
      const walk = Math.min(posting.length, perSeed);
      const seedNorm = B.seedPopExponent > 0 ? 1 / (1 + cat.popularity[s]!) ** B.seedPopExponent : 1;
      const own = seeds.skipped?.get(s);
      for (let k = 0; k < walk; k++) {
        const b = posting[posting.length - 1 - k]!; // newest baskets first
        if (baskets.dead[b]) continue;
        const st = start[b]!;
        const L = count[b]!;
        if (L < 2) continue;
        const ws = weighted[b] === 1;
        const seq = baskets.kind[b] === sessionCode;
        if (!ws && !seq) {
          // Every occurrence weighs 1: gather the seed's weight, spread below.
          const seedWeight = own === undefined || own === false ? w : w * mismatch;
          const cw = seedNorm * seedWeight;
          if (this.sim[b] === 0) touchedBaskets.push(b);
          this.sim[b] += seedWeight / L ** B.basketLengthExponent;
          if (visitHead[b] === -1) gathered.push(b);
          if (visits === this.visitSeed.length) this.growVisits();
          this.visitSeed[visits] = s;
          this.visitCw[visits] = cw;
          this.visitNext[visits] = visitHead[b]!;
          visitHead[b] = visits++;
          acc[b] += cw;
          if (cw > top1[b]!) {
            top2[b] = top1[b]!;
            top2Seed[b] = top1Seed[b]!;
            top1[b] = cw;
            top1Seed[b] = s;
          } else if (cw > top2[b]!) {
            top2[b] = cw;
            top2Seed[b] = s;
          }
          continue;
        }
        let ps = 0;
        while (ps < L && data[st + ps] !== s) ps++; // s is in b (b is in its posting list)
        const occ = ws ? wdata[st + ps]! : 1;
        // A session played from another context than the listener's weighs contextMismatch.
        const ctxWeight = ctx !== 0 && seq && baskets.context[b] !== ctx ? B.contextMismatch : 1;
        const seedWeight = (own === undefined ? w * occ : occ < 1 === own ? w : w * mismatch) * ctxWeight;
        const coSeedWeight = seedNorm * seedWeight;
        if (this.sim[b] === 0) touchedBaskets.push(b);
        this.sim[b] += seedWeight / L ** B.basketLengthExponent;
        const damp = B.basketDamp > 0 ? L ** -B.basketDamp : 1 / Math.log2(2 + L);
        const base = coSeedWeight * damp;
        // The hot loop: no closures, no property chains (credit is a small method V8 inlines).
        for (let i = 0; i < L; i++) {
          const j = data[st + i]!;
          if (j === s) continue;
          let co = ws ? base * wdata[st + i]! : base;
          if (seq) {
            const d = i - ps;
            co *= d > 0 ? 1 / d : 0.4 / -d;
          }
          this.credit(c, j, co, co, s);
        }
      }
    }
    this.spread(c, gathered);
  }

  /** Phase 1's gathered baskets: each adds its seeds' summed weight to its tracks once (see walkSeeds). */
  private spread(c: ScoreCall, gathered: readonly number[]): void {
    const { B } = c;
    const { baskets, acc, top1, top1Seed, top2, top2Seed, visitHead, visitSeed, visitCw, visitNext, selfCw, selfMark } = this;
    const { data, start, count } = baskets;
    // Only the `spreadBaskets` baskets with the most seed weight are spread (the others
    // still count in basket similarity): a long playlist's seeds reach ~1,500 baskets.
    let floor = Number.NEGATIVE_INFINITY;
    if (gathered.length > B.spreadBaskets) {
      if (this.candSort.length < gathered.length) this.candSort = new Float64Array(gathered.length * 2);
      const view = this.candSort.subarray(0, gathered.length);
      for (let i = 0; i < gathered.length; i++) view[i] = acc[gathered[i]!]! * dampOf(B, count[gathered[i]!]!);
      floor = select(view, gathered.length - B.spreadBaskets);
    }
    for (const b of gathered) {
      const st = start[b]!;
      const L = count[b]!;
      const damp = dampOf(B, L);
      const head = visitHead[b]!;
      if (acc[b]! * damp < floor) {
        visitHead[b] = -1;
        acc[b] = 0;
        top1[b] = Number.NEGATIVE_INFINITY;
        top2[b] = Number.NEGATIVE_INFINITY;
        top1Seed[b] = -1;
        top2Seed[b] = -1;
        continue;
      }
      const single = visitNext[head] === -1;
      // The seeds that walked this basket: their own weight is left out of their entry.
      for (let v = head; v !== -1; v = visitNext[v]!) {
        selfCw[visitSeed[v]!] = visitCw[v]!;
        selfMark[visitSeed[v]!] = 1;
      }
      const total = acc[b]!;
      const s1 = top1Seed[b]!;
      const s2 = top2Seed[b]!;
      const best1 = top1[b]! * damp;
      const best2 = top2[b]! * damp;
      const all = total * damp;
      for (let i = 0; i < L; i++) {
        const j = data[st + i]!;
        let cv = all;
        let best = best1;
        let bs = s1;
        if (selfMark[j] === 1) {
          // j is a seed that walked this basket.
          if (single) continue;
          cv = (total - selfCw[j]!) * damp;
          if (j === s1) {
            best = best2;
            bs = s2;
          }
        }
        this.credit(c, j, cv, best, bs);
      }
      for (let v = head; v !== -1; v = visitNext[v]!) selfMark[visitSeed[v]!] = 0;
      visitHead[b] = -1;
      acc[b] = 0;
      top1[b] = Number.NEGATIVE_INFINITY;
      top2[b] = Number.NEGATIVE_INFINITY;
      top1Seed[b] = -1;
      top2Seed[b] = -1;
    }
  }

  /**
   * Phase 1, for a listener's plays in order (Seeds.sequence): in the newest sessions that
   * hold the last play, what came right after it scores seqBase^(m - 1) when the m plays up
   * to it there match the listener's last m in a row (an album or a playlist played in
   * order is followed again; a shared first-order transition alone says little), the d-th
   * track after it seqDecay^(d - 1) of that, times its weight there (a skipped play 0.25).
   */
  private walkSequence(c: ScoreCall, sequence: readonly number[]): void {
    const { B } = c;
    const { baskets, seqv } = this;
    const { data, wdata, start, count, weighted, kind, dead } = baskets;
    const sessionCode = KIND_CODE.session;
    const n = sequence.length;
    const last = sequence[n - 1]!;
    const ctx = baskets.findContext(c.seeds.contextType);
    const ctxOf = baskets.context;
    if (last < 0 || last >= this.catalog.size) return;
    const posting = baskets.of(last);
    const walk = Math.min(posting.length, B.seqPostings);
    for (let k = 0; k < walk; k++) {
      const b = posting[posting.length - 1 - k]!;
      if (dead[b] || kind[b] !== sessionCode) continue;
      const st = start[b]!;
      const L = count[b]!;
      const ws = weighted[b] === 1;
      for (let q = 0; q < L - 1; q++) {
        if (data[st + q] !== last) continue;
        let m = 1;
        while (m < B.seqOrder && m < n && q - m >= 0 && data[st + q - m] === sequence[n - 1 - m]) m++;
        let v = B.seqBase ** (m - 1);
        if (ctx !== 0 && ctxOf[b] !== ctx) v *= B.contextMismatch;
        for (let d = 1; d <= B.seqForward && q + d < L; d++) {
          const j = data[st + q + d]!;
          seqv[this.touch(c, j)] += ws ? v * wdata[st + q + d]! : v;
          v *= B.seqDecay;
        }
      }
    }
  }

  private growVisits(): void {
    const n = Math.max(1024, this.visitSeed.length * 2);
    this.visitSeed = resized(this.visitSeed, n);
    this.visitCw = resized(this.visitCw, n);
    this.visitNext = resized(this.visitNext, n);
  }

  /**
   * Phase 1, continued: baskets sharing the seeds' artists are similar too (sparse data
   * shares artists far more often than exact tracks; the artists also drive the content
   * phase), and so are playlists whose names share the seeds' words.
   */
  private similarBaskets(c: ScoreCall): void {
    const { seeds, B, touchedBaskets, artistW } = c;
    const { catalog: cat, baskets } = this;
    for (const [s, w] of seeds.tracks) {
      const a = cat.artist[s]!;
      if (w > 0 && a >= 0) artistW.set(a, (artistW.get(a) ?? 0) + w);
    }
    if (B.artistOverlap > 0 && B.knn > 0 && artistW.size > 0) {
      const byArtist = this.indexes.byArtist();
      const posting = byArtist.data;
      for (const [a, w] of artistW) {
        if (w <= 0) continue;
        const end = byArtist.end(a);
        const walk = Math.min(end - byArtist.start(a), B.maxPostings * 2);
        const v = B.artistOverlap * Math.sqrt(w);
        for (let k = 0; k < walk; k++) {
          const b = posting[end - 1 - k]!;
          if (baskets.dead[b]) continue;
          if (this.sim[b] === 0) touchedBaskets.push(b);
          this.sim[b] += v / baskets.count[b]! ** B.basketLengthExponent;
        }
      }
    }

    if (B.nameOverlap > 0 && B.knn > 0 && seeds.words?.length) {
      const index = this.indexes.byWord();
      // Words matter most when there are few seed tracks to go by.
      const nameWeight = B.nameOverlap / 10 / Math.max(1, seeds.tracks.size);
      for (const w of seeds.words) {
        const posting = index.get(w);
        if (!posting) continue;
        const idf = Math.log(1 + this.baskets.live / posting.length);
        const walk = Math.min(posting.length, B.maxPostings * 2);
        for (let k = 0; k < walk; k++) {
          const b = posting[posting.length - 1 - k]!;
          if (baskets.dead[b]) continue;
          if (this.sim[b] === 0) touchedBaskets.push(b);
          this.sim[b] += nameWeight * idf;
        }
      }
    }
  }

  /** Phase 2: the most similar baskets vote for their tracks. */
  private voteNeighbours(c: ScoreCall): void {
    const { B, touchedBaskets } = c;
    const { baskets, slot } = this;
    let neighbours = touchedBaskets.filter((b) => this.sim[b]! > 0);
    if (neighbours.length > B.neighbours) {
      neighbours.sort((a, b) => this.sim[b]! - this.sim[a]!);
      neighbours = neighbours.slice(0, B.neighbours);
    }
    if (B.knn > 0) {
      for (const b of neighbours) {
        const v = this.sim[b]! ** B.neighbourSharpness;
        const st = baskets.start[b]!;
        const end = st + baskets.count[b]!;
        const ws = baskets.weighted[b] === 1;
        for (let i = st; i < end; i++) {
          const o = this.touch(c, baskets.data[i]!) * SLOT;
          slot[o + KNN] += ws ? v * baskets.wdata[i]! : v;
        }
      }
    }
    for (const b of touchedBaskets) this.sim[b] = 0;
  }

  /**
   * Phase 3: content. The seeds' artists and genres (weighted), and candidates from them,
   * which always get a full score (they may have no co-occurrence at all).
   */
  private contentCandidates(c: ScoreCall): Content {
    const { seeds, opts, artistW } = c;
    const cat = this.catalog;
    const genreW = new Map<number, number>(seeds.genres ?? []);
    let seedMass = 0;
    const featureSeeds: number[] = [];
    for (const [s, w] of seeds.tracks) {
      if (w <= 0) continue;
      seedMass += w;
      for (const g of cat.genresOf(s) ?? []) genreW.set(g, (genreW.get(g) ?? 0) + w);
      if (featureSeeds.length < 50 && cat.features(s)) featureSeeds.push(s);
    }
    const tracks = new Set<number>();
    const byContent = (t: number) => {
      tracks.add(t);
      this.touch(c, t);
    };
    for (const a of topKeys(artistW, 10)) for (const t of cat.topOfArtist(a, c.B.contentPerArtist)) byContent(t);
    for (const g of topKeys(genreW, 5)) for (const t of cat.topOfGenre(g, CONTENT_PER_GENRE)) byContent(t);
    if (c.touched.length < opts.limit * 2 || seedMass === 0) for (const t of cat.popular(POPULAR_FILL)) byContent(t);
    return { tracks, genreW, featureSeeds, artistMass: sum(artistW.values()) || 1, genreMass: sum(genreW.values()) || 1 };
  }

  /**
   * Phase 4: blend. Co-occurrence and neighbours are normalised over the tracks that can be
   * returned; the best PRESELECT x limit by those two, and the content candidates, get the
   * full score (content, popularity, the listener's affinities and preferences); reasons
   * are made for the best `limit` only. Resets the scratch arrays.
   */
  private blend(c: ScoreCall, content: Content): Scored[] {
    const { seeds, opts, B, touched, artistW, sequenced } = c;
    const { genreW, featureSeeds, artistMass, genreMass } = content;
    const { catalog: cat, slot, candOf } = this;
    // Per-track flags instead of a Set / Map look-up per candidate (a large seed set
    // touches 100,000 tracks): 1 = never returned (excluded, or a seed), 2 = a content candidate.
    const { flag } = this;
    const unflag: number[] = [];
    const raise = (j: number, f: number) => {
      if (flag[j] === 0) unflag.push(j);
      flag[j] = flag[j]! | f;
    };
    for (const j of opts.exclude ?? []) raise(j, 1);
    if (!opts.keepSeeds) for (const [j, w] of seeds.tracks) if (w > 0) raise(j, 1);
    for (const j of content.tracks) raise(j, 2);
    const maxPop = Math.log1p(cat.maxPopularity) || 1;
    const profile = opts.profile ?? null;
    const albums = seedAlbums(cat, seeds);
    // Components of one candidate; the largest names the reason.
    // The sequence score counts with co-occurrence here ("similar to" the seed).
    const components = (j: number, co: number, knn: number, seq: number) => {
      const a = cat.artist[j]!;
      return [
        (maxCo > 0 ? (B.co * co) / maxCo : 0) + seqScale * seq,
        maxKnn > 0 ? (B.knn * knn) / maxKnn : 0,
        a >= 0 && artistW.size ? (B.artist * (artistW.get(a) ?? 0)) / artistMass : 0,
        genreW.size ? B.genre * genreScore(cat.genresOf(j), genreW, genreMass) : 0,
        featureSeeds.length ? B.features * featureScore(cat, j, featureSeeds) : 0,
        (B.pop * Math.log1p(Math.max(0, cat.popularity[j]!))) / maxPop,
      ] as const;
    };
    // Every candidate into flat arrays, read once from the scratch space and reset there;
    // objects and reasons are made only for the best `limit`.
    const n = touched.length;
    const tj = touched.data;
    if (this.cand.length < n) {
      const cap = n * 2;
      this.cand = new Float64Array(cap);
      this.candSort = new Float64Array(cap);
      this.candCo = new Float64Array(cap);
      this.candKnn = new Float64Array(cap);
      this.candSeq = new Float64Array(cap);
      this.candSeed = new Int32Array(cap);
      this.candFlag = new Uint8Array(cap);
    }
    const { cand: scores, candCo: coOf, candKnn: knnOf, candSeq: seqOf, candSeed: seedOf, candFlag: flagOf, seqv } = this;
    /** The k-th largest of scores[0..n) (k >= 1), without allocating. */
    const kthLargest = (k: number) => {
      const view = this.candSort.subarray(0, n);
      view.set(scores.subarray(0, n));
      return select(view, n - k);
    };
    let maxCo = 0;
    let maxKnn = 0;
    let maxSeq = 0;
    // The catalog keeps the default exponent's divisor per track (a power per candidate was a tenth of a call).
    const popNorm = B.coPopExponent === CO_POP_EXPONENT ? cat.popNorm : null;
    for (let k = 0; k < n; k++) {
      const j = tj[k]!;
      const o = k * SLOT;
      candOf[j] = 0;
      let cv = slot[o + CO]!;
      if (cv !== 0) cv /= popNorm ? popNorm[j]! : (1 + cat.popularity[j]!) ** B.coPopExponent;
      const kv = slot[o + KNN]!;
      // seqv is read (and reset) only when this call walked a sequence.
      let sv = 0;
      if (sequenced) {
        sv = seqv[k]!;
        seqv[k] = 0;
      }
      seqOf[k] = sv;
      seedOf[k] = slot[o + BEST]! > 0 ? slot[o + MARK]! - 1 : -1;
      slot[o + CO] = 0;
      slot[o + KNN] = 0;
      slot[o + BEST] = 0;
      slot[o + MARK] = 0;
      coOf[k] = cv;
      knnOf[k] = kv;
      const f = flag[j]!;
      flagOf[k] = f;
      // Scales come from the tracks that can be returned: the seeds co-occur with each other
      // most (a listener's own history is a basket of them all) and would shrink the rest.
      if (f & 1) continue;
      if (cv > maxCo) maxCo = cv;
      if (kv > maxKnn) maxKnn = kv;
      if (sv > maxSeq) maxSeq = sv;
    }
    const seqScale = maxSeq > 0 ? B.seq / maxSeq : 0;
    for (const j of unflag) flag[j] = 0;
    for (let k = 0; k < n; k++)
      scores[k] = (maxCo > 0 ? (B.co * coOf[k]!) / maxCo : 0) + (maxKnn > 0 ? (B.knn * knnOf[k]!) / maxKnn : 0) + seqScale * seqOf[k]!;
    // Re-rank only the best PRESELECT x limit by co-occurrence and neighbours, plus the content candidates.
    let pre = -Infinity;
    if (n > PRESELECT * opts.limit) pre = kthLargest(PRESELECT * opts.limit);
    for (let k = 0; k < n; k++) {
      const j = tj[k]!;
      const cv = coOf[k]!;
      const kv = knnOf[k]!;
      const fl = flagOf[k]!;
      const keep = scores[k]! >= pre || (fl & 2) !== 0;
      scores[k] = 0;
      if (!keep) continue;
      if (fl & 1 || cat.removed[j]) continue;
      const a = cat.artist[j]!;
      if (a >= 0 && opts.excludeArtists?.has(a)) continue;
      if (opts.onlyGenres && !(cat.genresOf(j) ?? []).some((g) => opts.onlyGenres!.has(g))) continue;
      if (profile?.rejects(j)) continue;
      // components(j, cv, kv) summed, without an array per candidate.
      let score =
        (maxCo > 0 ? (B.co * cv) / maxCo : 0) +
        (maxKnn > 0 ? (B.knn * kv) / maxKnn : 0) +
        seqScale * seqOf[k]! +
        (a >= 0 && artistW.size ? (B.artist * (artistW.get(a) ?? 0)) / artistMass : 0) +
        (genreW.size ? B.genre * genreScore(cat.genresOf(j), genreW, genreMass) : 0) +
        (featureSeeds.length ? B.features * featureScore(cat, j, featureSeeds) : 0) +
        (B.pop * Math.log1p(Math.max(0, cat.popularity[j]!))) / maxPop;
      if (profile) {
        score *= profile.artistFactor(a);
        const ta = profile.trackAffinity.get(j);
        if (ta !== undefined) score *= Math.exp(0.3 * ta);
        if (opts.familiarity !== undefined) score *= profile.heard.has(j) ? 0.25 + 1.5 * opts.familiarity : 1.75 - 1.5 * opts.familiarity;
      }
      if (opts.energy !== undefined) {
        const f = cat.features(j);
        const e = f ? f[1]! : Number.NaN;
        if (!Number.isNaN(e)) score *= 1 - 0.6 * Math.abs(e - opts.energy);
      }
      scores[k] = score;
    }
    let threshold = Number.MIN_VALUE;
    if (n > opts.limit) threshold = Math.max(threshold, kthLargest(opts.limit));
    const out: Scored[] = [];
    for (let k = 0; k < n; k++) {
      if (scores[k]! < threshold || scores[k]! <= 0) continue;
      const j = tj[k]!;
      const c = components(j, coOf[k]!, knnOf[k]!, seqOf[k]!);
      const top = Math.max(...c);
      let reason: Scored['reason'] = { kind: 'popular', seed: -1 };
      if (top === c[0] && (coOf[k]! > 0 || seqOf[k]! > 0)) reason = { kind: 'similar', seed: seedOf[k]! };
      else if (top === c[1] && knnOf[k]! > 0) reason = { kind: 'listeners', seed: seedOf[k]! };
      else if (top === c[2] && c[2] > 0) reason = { kind: cat.album[j]! >= 0 && albums.has(cat.album[j]!) ? 'album' : 'artist', seed: cat.artist[j]! };
      else if (top === c[3] && c[3] > 0) reason = { kind: 'genre', seed: bestGenre(cat.genresOf(j), genreW) };
      else if (top === c[4] && c[4] > 0) reason = { kind: 'features', seed: featureSeeds[0]! };
      out.push({ track: j, score: scores[k]!, reason });
    }
    out.sort((x, y) => y.score - x.score || x.track - y.track);
    return out.slice(0, opts.limit);
  }
}

/** A growable list of int32s over one reused buffer. */
class IntList {
  data = new Int32Array(1024);
  length = 0;

  push(x: number): void {
    if (this.length === this.data.length) this.data = resized(this.data, this.data.length * 2);
    this.data[this.length++] = x;
  }

  clear(): this {
    this.length = 0;
    return this;
  }
}

/** Engine.slot: numbers per candidate, and their offsets. */
const SLOT = 4;
const CO = 0;
const KNN = 1;
const BEST = 2;
const MARK = 3;

/** Weight of co-occurrence in a basket of length L (see Blend.basketDamp). */
function dampOf(B: Blend, L: number): number {
  return B.basketDamp > 0 ? L ** -B.basketDamp : 1 / Math.log2(2 + L);
}

/** What one `score` call carries from phase to phase. */
interface ScoreCall {
  seeds: Seeds;
  opts: ScoreOptions;
  B: Blend;
  /** Candidate tracks, in the order first reached: by candidate number (Engine.candOf). */
  touched: IntList;
  /** Baskets with a similarity (in Engine.sim) to reset. */
  touchedBaskets: number[];
  /** Weight of each seed artist: the seeds' own plus the tracks' artists (phase 1). */
  artistW: Map<number, number>;
  /** walkSequence ran: Engine.seqv holds this call's sequence scores (all 0 otherwise, and blend does not read it). */
  sequenced: boolean;
}

/** Phase 3's answer: the content candidates and the content weights blend uses. */
interface Content {
  tracks: Set<number>;
  genreW: Map<number, number>;
  featureSeeds: number[];
  artistMass: number;
  genreMass: number;
}
