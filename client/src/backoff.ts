// Jittered exponential back-off, for reconnects and retries: the n-th wait is
// min(max, base * 2^n), scaled by a random factor in [0.5, 1) so clients spread out.

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/**
 * How long to wait before retrying what the service refused as overloaded ([AD9]): its
 * Retry-After (or `retryAfterSeconds`), scaled by a random factor in [0.5, 1.5) so that
 * the clients a burst refused do not all come back in the same instant.
 */
export function retryAfterMs(seconds: unknown): number {
  const s = Number(seconds);
  return (Number.isFinite(s) && s > 0 ? s : 1) * 1000 * (0.5 + Math.random());
}

/** A retry the client waits for because the service said it was busy ([AD9]). */
export interface BusyRetry {
  /** What was refused: a REST request, or a command or subscription on the socket. */
  source: 'rest' | 'socket';
  /** The refusal's code (`overloaded`, `shutting_down`) and reason (`wait_time`, ...). */
  code: string;
  reason?: string;
  /** How long until the retry (ms), and how many refusals this request has had so far. */
  retryInMs: number;
  attempt: number;
}
