// Input that JSON allows but the stores cannot keep: NUL characters and lone UTF-16
// surrogates (PostgreSQL rejects both in text and JSONB), and nesting so deep that
// serialising it would overflow the stack. Checked once, on every parsed body and
// socket message, so they are answered 400 instead of failing deep inside a store.
import { AppError } from '../errors.ts';

export const MAX_JSON_DEPTH = 32;

function badString(s: string): boolean {
  return s.includes('\u0000') || !s.isWellFormed();
}

/** Throws AppError 400 naming the first offending path. */
export function guardJson(value: unknown, path = '', depth = 0): void {
  if (typeof value === 'string') {
    if (badString(value)) throw new AppError('invalid', 'invalid_string', `${path || 'value'} contains a NUL character or an unpaired surrogate`, { path: path || '/' });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_JSON_DEPTH) throw new AppError('invalid', 'too_deep', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, { path: path || '/', maxDepth: MAX_JSON_DEPTH });
  if (Array.isArray(value)) {
    value.forEach((v, i) => guardJson(v, `${path}/${i}`, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (badString(k)) throw new AppError('invalid', 'invalid_string', `a key under ${path || '/'} contains a NUL character or an unpaired surrogate`, { path: path || '/' });
    guardJson(v, `${path}/${k}`, depth + 1);
  }
}
