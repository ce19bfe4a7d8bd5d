// Jittered exponential back-off, for reconnects and retries: the n-th wait is
// min(max, base * 2^n), scaled by a random factor in [0.5, 1) so clients spread out.

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}
