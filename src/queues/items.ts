// A queue's items in play order, as an immutable list that a change copies only in part
// (issue 21). The fold used to copy the whole items array on every item event: 72 KB at
// 9,000 items, twice per add-and-remove, and the garbage collector then spent more than the
// fold. Here the items sit in chunks of at most MAX_CHUNK; a change copies the one chunk it
// touches and the list of chunks (about n / 128 references), and shares the other chunks
// with the list it came from. Lists are never changed in place: a reader holding one (a
// state being written as a snapshot, a read racing a write) sees it as it was.
//
// Reads: `length`, `at(i)` (O(log chunks)), iteration, `slice` and the array methods the
// code uses, all without building an array. `toArray()` gives one for code that wants a plain
// array (not kept: a flat copy held by the cached states would cost memory, issue 24);
// JSON.stringify writes a list as its array.
import type { ItemList, QueueItem } from '../model/queue.ts';

/** Items per chunk at most; a chunk that grows past it is split in two. */
const MAX_CHUNK = 256;
/** Chunks of a list built from an array hold this many. */
const BUILD_CHUNK = 128;
/** A chunk that shrinks below this is merged with a neighbour (and split again if that is too big). */
const MIN_CHUNK = 32;

const NO_CHUNKS: readonly (readonly QueueItem[])[] = [];
const NO_ITEMS: readonly QueueItem[] = [];

export class Items implements ItemList {
  static readonly EMPTY = new Items(NO_CHUNKS);

  readonly length: number;
  /** The chunks, none empty. */
  private readonly chunks: readonly (readonly QueueItem[])[];
  /** starts[c]: the index of chunk c's first item; starts[chunks.length] = length. */
  private readonly starts: readonly number[];

  private constructor(chunks: readonly (readonly QueueItem[])[]) {
    this.chunks = chunks;
    const starts = new Array<number>(chunks.length + 1);
    let n = 0;
    for (let c = 0; c < chunks.length; c++) {
      starts[c] = n;
      n += chunks[c]!.length;
    }
    starts[chunks.length] = n;
    this.starts = starts;
    this.length = n;
  }

  /** A list of these items (the array is not kept: later changes to it do not show). */
  static from(items: Iterable<QueueItem>): Items {
    if (items instanceof Items) return items;
    const all = Array.isArray(items) ? (items as readonly QueueItem[]) : [...items];
    if (all.length === 0) return Items.EMPTY;
    const chunks: QueueItem[][] = [];
    for (let i = 0; i < all.length; i += BUILD_CHUNK) chunks.push(all.slice(i, i + BUILD_CHUNK));
    return new Items(chunks);
  }

  /** The chunk holding index i (0 <= i < length): the last chunk starting at or before it. */
  private chunkOf(i: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  at(index: number): QueueItem | undefined {
    const i = index < 0 ? index + this.length : index;
    if (!(i >= 0 && i < this.length)) return undefined;
    const c = this.chunkOf(i);
    return this.chunks[c]![i - this.starts[c]!];
  }

  /**
   * The index of the first item for which `before(item)` is false, the items being ordered
   * so that `before` is true for a prefix of them (a binary search: O(log n)).
   */
  partitionPoint(before: (item: QueueItem) => boolean): number {
    const chunks = this.chunks;
    // The first chunk whose last item is not before: the point is in it (or at the end).
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const ch = chunks[mid]!;
      if (before(ch[ch.length - 1]!)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === chunks.length) return this.length;
    const ch = chunks[lo]!;
    let a = 0;
    let b = ch.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (before(ch[mid]!)) a = mid + 1;
      else b = mid;
    }
    return this.starts[lo]! + a;
  }

  /** A list with `item` inserted before index `at` (0 <= at <= length). */
  inserted(at: number, item: QueueItem): Items {
    if (!(at >= 0 && at <= this.length)) throw new RangeError(`insert at ${at} of ${this.length}`);
    if (this.chunks.length === 0) return new Items([[item]]);
    // At a chunk boundary the item joins the chunk before it (so appends grow the last chunk).
    const c = at === this.length ? this.chunks.length - 1 : at > 0 ? this.chunkOf(at - 1) : 0;
    const chunk = this.chunks[c]!.toSpliced(at - this.starts[c]!, 0, item);
    if (chunk.length <= MAX_CHUNK) return new Items(this.chunks.with(c, chunk));
    const half = chunk.length >>> 1;
    return new Items(this.chunks.toSpliced(c, 1, chunk.slice(0, half), chunk.slice(half)));
  }

  /** A list without the item at index `at` (0 <= at < length). */
  removed(at: number): Items {
    if (!(at >= 0 && at < this.length)) throw new RangeError(`remove at ${at} of ${this.length}`);
    const c = this.chunkOf(at);
    const chunk = this.chunks[c]!.toSpliced(at - this.starts[c]!, 1);
    if (chunk.length >= MIN_CHUNK || this.chunks.length === 1) {
      return chunk.length === 0 ? Items.EMPTY : new Items(this.chunks.with(c, chunk));
    }
    // Too small: merged with the smaller neighbour, split again if that is too big.
    const before = c > 0 ? this.chunks[c - 1]! : undefined;
    const after = c + 1 < this.chunks.length ? this.chunks[c + 1]! : undefined;
    const left = before !== undefined && (after === undefined || before.length <= after.length);
    const merged = left ? before!.concat(chunk) : chunk.concat(after!);
    const from = left ? c - 1 : c;
    if (merged.length <= MAX_CHUNK) return new Items(this.chunks.toSpliced(from, 2, merged));
    const half = merged.length >>> 1;
    return new Items(this.chunks.toSpliced(from, 2, merged.slice(0, half), merged.slice(half)));
  }

  /** A list with the item at index `at` replaced by `item`. */
  replaced(at: number, item: QueueItem): Items {
    if (!(at >= 0 && at < this.length)) throw new RangeError(`replace at ${at} of ${this.length}`);
    const c = this.chunkOf(at);
    return new Items(this.chunks.with(c, this.chunks[c]!.with(at - this.starts[c]!, item)));
  }

  /** The items as one array: the list's own chunk when it has one (shared: do not change it), else a new array. */
  toArray(): readonly QueueItem[] {
    if (this.chunks.length === 0) return NO_ITEMS;
    return this.chunks.length === 1 ? this.chunks[0]! : this.chunks.flat();
  }

  toJSON(): readonly QueueItem[] {
    return this.toArray();
  }

  [Symbol.iterator](): Iterator<QueueItem> {
    // One chunk: the array's own iterator. (A generator over the chunks was 7x slower than an
    // array's loop at 9,000 items; this iterator is about as fast.)
    return this.chunks.length === 1 ? this.chunks[0]![Symbol.iterator]() : new ChunksIterator(this.chunks);
  }

  /** Items [start, end) as a new array (negative indexes count from the end, as Array's). */
  slice(start = 0, end = this.length): QueueItem[] {
    const n = this.length;
    let a = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
    const b = end < 0 ? Math.max(0, n + end) : Math.min(end, n);
    if (a >= b) return [];
    const out = new Array<QueueItem>(b - a);
    let c = this.chunkOf(a);
    let k = 0;
    while (a < b) {
      const ch = this.chunks[c]!;
      const from = a - this.starts[c]!;
      const to = Math.min(ch.length, from + (b - a));
      for (let j = from; j < to; j++) out[k++] = ch[j]!;
      a += to - from;
      c++;
    }
    return out;
  }

  forEach(f: (item: QueueItem, index: number) => void): void {
    let i = 0;
    for (const ch of this.chunks) for (const it of ch) f(it, i++);
  }

  map<U>(f: (item: QueueItem, index: number) => U): U[] {
    const out = new Array<U>(this.length);
    let i = 0;
    for (const ch of this.chunks) for (const it of ch) out[i] = f(it, i++);
    return out;
  }

  filter(f: (item: QueueItem, index: number) => boolean): QueueItem[] {
    const out: QueueItem[] = [];
    let i = 0;
    for (const ch of this.chunks) for (const it of ch) if (f(it, i++)) out.push(it);
    return out;
  }

  findIndex(f: (item: QueueItem, index: number) => boolean): number {
    let i = 0;
    for (const ch of this.chunks)
      for (const it of ch) {
        if (f(it, i)) return i;
        i++;
      }
    return -1;
  }

  find(f: (item: QueueItem, index: number) => boolean): QueueItem | undefined {
    let i = 0;
    for (const ch of this.chunks) for (const it of ch) if (f(it, i++)) return it;
    return undefined;
  }

  some(f: (item: QueueItem, index: number) => boolean): boolean {
    return this.findIndex(f) >= 0;
  }

  every(f: (item: QueueItem, index: number) => boolean): boolean {
    return this.findIndex((it, i) => !f(it, i)) < 0;
  }

  indexOf(item: QueueItem): number {
    for (let c = 0; c < this.chunks.length; c++) {
      const j = this.chunks[c]!.indexOf(item);
      if (j >= 0) return this.starts[c]! + j;
    }
    return -1;
  }

  includes(item: QueueItem): boolean {
    return this.indexOf(item) >= 0;
  }
}

/** Walks the chunks of a list in order. */
class ChunksIterator implements Iterator<QueueItem> {
  private readonly chunks: readonly (readonly QueueItem[])[];
  private c = 0;
  private j = 0;

  constructor(chunks: readonly (readonly QueueItem[])[]) {
    this.chunks = chunks;
  }

  next(): IteratorResult<QueueItem, undefined> {
    while (this.c < this.chunks.length) {
      const ch = this.chunks[this.c]!;
      if (this.j < ch.length) return { value: ch[this.j++]!, done: false };
      this.c++;
      this.j = 0;
    }
    return { value: undefined, done: true };
  }
}
