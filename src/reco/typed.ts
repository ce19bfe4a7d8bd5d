// Growing and trimming the engine's typed arrays (per track, per basket, per string):
// one copy routine for all of them.

export type NumberArray = Int32Array | Uint32Array | Uint8Array | Float32Array | Float64Array;

/** A new array of `a`'s type with `length` elements: `a`'s first ones, the rest set to `fill` (0 by default). */
export function resized<T extends NumberArray>(a: T, length: number, fill = 0): T {
  const out = new (a.constructor as new (n: number) => T)(length);
  if (fill !== 0 && length > a.length) out.fill(fill, a.length);
  out.set((a.length > length ? a.subarray(0, length) : a) as never);
  return out;
}

/**
 * Lists of numbers per key packed in one arena: key k's are data[off[k] .. off[k + 1]).
 * Issue 24 round 7: as a JS array per key, the baskets per artist (indexes.ts: 37,271
 * arrays, 285,000 entries on the shared data) took 8.6 MB of heap, most of it the arrays'
 * headers and spare room, and twice that while a rebuild made the next set; packed, 1.3 MB
 * outside the heap. The tracks per artist (catalog.ts) likewise.
 */
export class PackedLists {
  readonly off: Int32Array;
  readonly data: Int32Array;
  constructor(off: Int32Array = new Int32Array(1), data: Int32Array = new Int32Array(0)) {
    this.off = off;
    this.data = data;
  }

  /** Keys (0 .. keys - 1; any other key's list is empty). */
  get keys(): number {
    return this.off.length - 1;
  }

  /** Where key k's list starts in `data`. */
  start(k: number): number {
    return k >= 0 && k < this.off.length - 1 ? this.off[k]! : 0;
  }

  /** Where key k's list ends in `data` (`start(k)` when empty). */
  end(k: number): number {
    return k >= 0 && k < this.off.length - 1 ? this.off[k + 1]! : 0;
  }

  /** Key k's list, a copy (tests). */
  list(k: number): number[] {
    return Array.from(this.data.subarray(this.start(k), this.end(k)));
  }
}
