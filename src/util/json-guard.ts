// Input that JSON allows but the stores cannot keep: NUL characters and lone UTF-16
// surrogates (PostgreSQL rejects both in text and JSONB), numbers a double does not
// hold exactly (1e400 parses as Infinity, 2^53+1 as 2^53), and nesting so deep that
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
    if (badString(value))
      throw new AppError('invalid', 'invalid_string', `${path || 'value'} contains a NUL character or an unpaired surrogate`, { path: path || '/' });
    return;
  }
  if (typeof value === 'number') {
    // JSON.parse turns 1e400 into Infinity and 2^53+1 into a neighbour: neither is what was sent.
    if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      throw new AppError('invalid', 'number_out_of_range', `${path || 'value'} is not a number between -(2^53-1) and 2^53-1`, { path: path || '/' });
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_JSON_DEPTH)
    throw new AppError('invalid', 'too_deep', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, { path: path || '/', maxDepth: MAX_JSON_DEPTH });
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) guardJson(v, `${path}/${i}`, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (badString(k))
      throw new AppError('invalid', 'invalid_string', `a key under ${path || '/'} contains a NUL character or an unpaired surrogate`, { path: path || '/' });
    guardJson(v, `${path}/${k}`, depth + 1);
  }
}

/**
 * The same rule for path parameters and query strings, which percent-escapes can fill
 * with anything (`/catalog/tracks/a%00b`): 400 naming the parameter.
 */
export function guardParams(values: unknown, where: 'path' | 'query'): void {
  if (values === null || typeof values !== 'object') return;
  for (const [name, v] of Object.entries(values)) {
    const all = Array.isArray(v) ? v : [v];
    if (!badString(name) && !all.some((x) => typeof x === 'string' && badString(x))) continue;
    const shown = name.toWellFormed().replaceAll('\u0000', '\\0');
    throw new AppError('invalid', 'invalid_string', `the ${where} parameter "${shown}" contains a NUL character or an unpaired surrogate`, {
      in: where,
      name: shown,
    });
  }
}
