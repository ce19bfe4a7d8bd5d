// The hot queue states of this process, bounded by the number of queues and by the items
// they hold together (a 10,000-item queue weighs what 500 queues of 20 do). A state's
// weight counts its played history and its metadata too, in items' worth (issue 24: a
// radio queue keeps a reason per track in its metadata, about as much again as its
// items). States are immutable: a reader holding one is never disturbed.
//
// Eviction is "second chance" (CLOCK), an approximation of least recently used: a hit only
// marks its entry (issue 21: moving the entry to the back of the Map on every hit, a delete
// and a set, was 1.8% of a read's CPU). When room is needed, entries are taken from the
// front: a marked one loses its mark and goes to the back, an unmarked one is dropped. So a
// queue read since the last pass over it stays, and one nobody read goes first.
//
// Only the PACK_AFTER queues used last are kept as they are; the items of one used less
// lately are packed into bytes (packed.ts: ~50-60 bytes an item instead of ~200 in objects
// and strings) and unpacked, as new objects, when it is asked for again (issue 24: a server
// making radio queues for its listeners filled the cache with queues used a few times right
// after they were made, ~15 MB of item objects in its old space). The same second chance
// picks which: a queue used since the packing hand last passed it stays unpacked. Weights
// (and so eviction) count a packed queue as if it were not: the budget's meaning is unchanged.
// Queues of more than PACK_MAX_ITEMS items are never packed (unpacking 9,000 items would be
// a snapshot load's cost on a read).
//
// How many stay unpacked adapts: each unpack (a queue packed too soon) lets one more stay
// unpacked, each pack one eighth fewer, down to PACK_AFTER. Queues read in turn, more of
// them than PACK_AFTER, would otherwise be unpacked and packed on every read (~0.8 µs an
// item, 84 µs a read of 100 items round-robin over 200 queues); so the count grows to cover
// them, and at most about one packed queue in eight is unpacked again in the long run.
import { type PackedState, pack, unpack } from './packed.ts';
import type { QueueState } from './queue.ts';

/** Queues kept unpacked: the ones used last (second chance). */
export const PACK_AFTER = 64;
/** Larger queues are never packed. */
export const PACK_MAX_ITEMS = 2_000;

interface Entry {
  /** The state, or null while it is packed. */
  state: QueueState | null;
  packed: PackedState | null;
  version: number;
  /** What the state counts against the item budget (weightOf), packed or not. */
  weight: number;
  /** Read or written since eviction last passed it. */
  used: boolean;
  /** Read or written since the packing hand last passed it. */
  hot: boolean;
}

/** An item holds five values (itemId, trackId, addedBy, addedAt, key): metadata counts one item per five values. */
const VALUES_PER_ITEM = 5;
/** Metadata objects are shared by the states of a queue until it is updated: counted once each. */
const metadataWeights = new WeakMap<object, number>();

function valuesIn(x: unknown, depth: number): number {
  if (x === null || typeof x !== 'object') return 1;
  if (depth === 0) return 1;
  let n = 0;
  for (const v of Array.isArray(x) ? x : Object.values(x)) n += valuesIn(v, depth - 1);
  return n;
}

/** A state's weight in items: its items, its played history, and its metadata's values over VALUES_PER_ITEM. */
export function weightOf(state: QueueState): number {
  const m = state.metadata;
  let mw = 0;
  if (m !== null && typeof m === 'object') {
    const known = metadataWeights.get(m);
    if (known !== undefined) mw = known;
    else {
      mw = Math.ceil(valuesIn(m, 6) / VALUES_PER_ITEM);
      metadataWeights.set(m, mw);
    }
  }
  return state.items.length + (state.history?.length ?? 0) + mw;
}

export class StateCache {
  private readonly map = new Map<string, Entry>();
  private items = 0;
  /** The entries not packed, oldest first (the packing hand's order). */
  private readonly unpacked = new Set<string>();

  private readonly maxQueues: number;
  private readonly maxItems: number;
  private readonly packAfter: number;
  /** How many stay unpacked now: packAfter, raised by unpacks (see above). */
  private keepUnpacked: number;
  /** `packAfter`: how many queues used last stay unpacked at least (PACK_AFTER). */
  constructor(maxQueues: number, maxItems: number, packAfter = PACK_AFTER) {
    this.maxQueues = maxQueues;
    this.maxItems = maxItems;
    this.packAfter = Math.max(1, packAfter);
    this.keepUnpacked = this.packAfter;
  }

  get(queueId: string): QueueState | undefined {
    const e = this.map.get(queueId);
    if (e === undefined) return undefined;
    e.used = true;
    e.hot = true;
    if (e.state !== null) return e.state;
    const state = unpack(e.packed!);
    e.state = state;
    e.packed = null;
    this.keepUnpacked = Math.min(this.keepUnpacked + 1, Math.max(this.maxQueues, this.packAfter));
    this.unpacked.add(queueId);
    this.packCold(queueId);
    return state;
  }

  /** Whether the queue is held (packed or not), without marking it used. */
  has(queueId: string): boolean {
    return this.map.has(queueId);
  }

  /** Keeps `state` unless a newer one of the queue is here already. */
  set(queueId: string, state: QueueState): void {
    const old = this.map.get(queueId);
    if (old !== undefined) {
      if (old.version > state.version) return;
      const weight = weightOf(state);
      if (weight > this.maxItems) {
        this.delete(queueId);
        return;
      }
      this.items += weight - old.weight;
      old.state = state;
      old.packed = null;
      old.version = state.version;
      old.weight = weight;
      old.used = true;
      old.hot = true;
    } else {
      const weight = weightOf(state);
      if (weight > this.maxItems) return;
      // A new entry starts unmarked: a queue read once does not push out ones read again
      // (nor stays unpacked past them).
      this.map.set(queueId, { state, packed: null, version: state.version, weight, used: false, hot: false });
      this.items += weight;
    }
    this.unpacked.add(queueId);
    this.evict(queueId);
    this.packCold(queueId);
  }

  delete(queueId: string): void {
    const old = this.map.get(queueId);
    if (old === undefined) return;
    this.items -= old.weight;
    this.map.delete(queueId);
    this.unpacked.delete(queueId);
  }

  clear(): void {
    this.map.clear();
    this.unpacked.clear();
    this.items = 0;
  }

  /** How many entries stay unpacked now (at least PACK_AFTER; raised by unpacks). */
  get unpackedLimit(): number {
    return Math.floor(this.keepUnpacked);
  }

  /** Entries held packed now. */
  get packedCount(): number {
    let n = 0;
    for (const e of this.map.values()) if (e.state === null) n++;
    return n;
  }

  get size(): number {
    return this.map.size;
  }

  /** The weight held, in items (weightOf). */
  get weight(): number {
    return this.items;
  }

  /** Makes room, never dropping `keep` (the entry just set) unless it is the only one left. */
  private evict(keep: string): void {
    // Each marked entry is passed over at most once per call: then every one is unmarked.
    let passes = this.map.size;
    while (this.map.size > this.maxQueues || this.items > this.maxItems) {
      const [id, e] = this.map.entries().next().value!;
      if ((e.used || id === keep) && passes-- > 0 && this.map.size > 1) {
        e.used = false;
        this.map.delete(id);
        this.map.set(id, e);
        continue;
      }
      this.map.delete(id);
      this.unpacked.delete(id);
      this.items -= e.weight;
    }
  }

  /** Packs the entries used least lately past PACK_AFTER unpacked ones, never `keep` (the entry just used). */
  private packCold(keep: string): void {
    let passes = this.unpacked.size;
    while (this.unpacked.size > this.keepUnpacked) {
      const id: string = this.unpacked.values().next().value!;
      this.unpacked.delete(id);
      const e = this.map.get(id);
      if (e === undefined || e.state === null) continue;
      if (id === keep && this.unpacked.size > 0) {
        this.unpacked.add(id);
        continue;
      }
      if (e.hot && passes-- > 0) {
        e.hot = false;
        this.unpacked.add(id);
        continue;
      }
      // A queue too large to unpack cheaply, or with items `pack` does not keep, stays as it is.
      const p = e.state.items.length <= PACK_MAX_ITEMS ? pack(e.state) : null;
      if (p === null) continue;
      e.packed = p;
      e.state = null;
      this.keepUnpacked = Math.max(this.packAfter, this.keepUnpacked - 1 / 8);
    }
  }
}
