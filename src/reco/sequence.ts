// Seeds from what was just played, in order: recent plays weigh more. Feedback on
// them (skipped or kept) goes in as outcomes to match (see Seeds.skipped): after a
// skip of X, "what people kept after skipping X" counts, not "what came after X".
// (Evaluated in bench/eval: turning skipped plays into negative seeds lowered
// next-track accuracy on the sessions sample; matching outcomes raised it a little.)

export interface Played {
  track: number;
  skipped: boolean;
}

/** Recency-weighted seeds of the last `window` plays (a track played twice adds up). */
export function sequenceSeeds(history: readonly Played[], o: { decay?: number; window?: number } = {}): Map<number, number> {
  const decay = o.decay ?? 0.7;
  const recent = history.slice(-(o.window ?? 20));
  const seeds = new Map<number, number>();
  for (const [i, p] of recent.entries()) seeds.set(p.track, (seeds.get(p.track) ?? 0) + decay ** (recent.length - 1 - i));
  return seeds;
}

/** The listener's outcome per played track (the latest one when played twice). */
export function outcomes(history: readonly Played[]): Map<number, boolean> {
  return new Map(history.map((p) => [p.track, p.skipped] as [number, boolean]));
}
