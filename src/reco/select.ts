// Selection without sorting: the k-th smallest of a typed array in O(n) (the engine's
// thresholds over up to 100,000 candidate scores; the catalog's most popular tracks).

/**
 * The value that would be at index `k` of `a` sorted ascending: quickselect with a median
 * of three and a three-way partition, O(n) where sorting the candidates (up to 100,000 a
 * call) was O(n log n). Values equal to the pivot are set aside in one pass, so arrays of
 * few distinct values (popularity counts, scores mostly 0) cost no more than others: the
 * two-way partition before it took 30-300 ms on the catalog's popularity. Reorders `a`.
 */
export function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    // a[lo, lt) < pivot, a[lt, i) == pivot, a(gt, hi] > pivot.
    let lt = lo;
    let i = lo;
    let gt = hi;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt] = v;
        lt++;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt] = v;
        gt--;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k]!;
}
