// Knobs of the benchmarks, read from the environment.

/** An integer knob: `fallback` when unset or empty; anything else not an integer >= min ends the run (exit 2). */
export function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer >= ${min}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}
