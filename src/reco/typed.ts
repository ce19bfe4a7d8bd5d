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
