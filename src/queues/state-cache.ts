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
import type { QueueState } from './queue.ts';

interface Entry {
  state: QueueState;
  /** What `state` counts against the item budget (weightOf). */
  weight: number;
  /** Read or written since eviction last passed it. */
  used: boolean;
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

  private readonly maxQueues: number;
  private readonly maxItems: number;
  constructor(maxQueues: number, maxItems: number) {
    this.maxQueues = maxQueues;
    this.maxItems = maxItems;
  }

  get(queueId: string): QueueState | undefined {
    const e = this.map.get(queueId);
    if (e === undefined) return undefined;
    e.used = true;
    return e.state;
  }

  /** Keeps `state` unless a newer one of the queue is here already. */
  set(queueId: string, state: QueueState): void {
    const old = this.map.get(queueId);
    if (old !== undefined) {
      if (old.state.version > state.version) return;
      const weight = weightOf(state);
      if (weight > this.maxItems) {
        this.delete(queueId);
        return;
      }
      this.items += weight - old.weight;
      old.state = state;
      old.weight = weight;
      old.used = true;
    } else {
      const weight = weightOf(state);
      if (weight > this.maxItems) return;
      // A new entry starts unmarked: a queue read once does not push out ones read again.
      this.map.set(queueId, { state, weight, used: false });
      this.items += weight;
    }
    this.evict(queueId);
  }

  delete(queueId: string): void {
    const old = this.map.get(queueId);
    if (old === undefined) return;
    this.items -= old.weight;
    this.map.delete(queueId);
  }

  clear(): void {
    this.map.clear();
    this.items = 0;
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
      this.items -= e.weight;
    }
  }
}
