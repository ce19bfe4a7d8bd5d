// What a syncing client needs to rebase: where its catch-up starts in a stream.

/**
 * The last sequence number whose event's server time is at or before `ts` (0 when none),
 * by binary search over the stream (times follow sequence order).
 */
export async function lastAtOrBefore(ts: number, head: number, readOne: (after: number) => Promise<{ timestamp: string }[]>): Promise<number> {
  let lo = 0;
  let hi = head;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const [e] = await readOne(mid - 1);
    if (e && Date.parse(e.timestamp) <= ts) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
