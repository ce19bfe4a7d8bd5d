// Waiting in tests: `waitFor` a condition (what a test nearly always means), and `sleep` only
// where a test means "nothing happens for this long" (each such use says so).

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** Give up after this long (default 10 s: a loaded machine gets a generous deadline). */
  timeoutMs?: number;
  /** Poll this often (default 20 ms). */
  intervalMs?: number;
  /** Said in the error on a timeout. */
  what?: string | (() => string);
}

/**
 * Polls until `cond` holds (a truthy value, sync or async) and answers that value; throws
 * with `what` after `timeoutMs`. An exception from `cond` ends the wait at once.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 20, what } = opts;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) {
      const said = typeof what === 'function' ? what() : (what ?? String(cond));
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${said}`);
    }
    await sleep(intervalMs);
  }
}
