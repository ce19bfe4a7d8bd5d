// Building blocks of the fuzzers (test/e2e/fuzz.test.ts): plausible values from a JSON
// schema, the places in a value a mutation can hit, fast-check generators of values a
// schema refuses, and a snapshot of every table so a test can tell that refused
// requests changed nothing.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';

export type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  [k: string]: unknown;
};

/** The JSON types a schema allows; null when it allows any. */
export function allowedTypes(s: Schema): Set<string> | null {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const out = new Set<string>();
    for (const a of alts) {
      const t = allowedTypes(a);
      if (!t) return null;
      for (const x of t) out.add(x);
    }
    return out;
  }
  if (s.const !== undefined) return new Set([jsonType(s.const)]);
  if (s.enum) return new Set(s.enum.map(jsonType));
  if (!s.type) return null;
  const ts = new Set(Array.isArray(s.type) ? s.type : [s.type]);
  if (ts.has('number')) ts.add('integer');
  return ts;
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/**
 * A value the schema most likely accepts: the minimum of numbers, the first enum value,
 * a string from `candidates` that fits the pattern and lengths. Deterministic.
 */
export function plausible(s: Schema, candidates: string[], depth = 0): unknown {
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return plausible(alt.find((a) => a.type !== 'null') ?? alt[0]!, candidates, depth);
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth > 4) return out;
      for (const k of s.required ?? []) if (s.properties?.[k]) out[k] = plausible(s.properties[k]!, candidates, depth + 1);
      return out;
    }
    case 'array':
      return Array.from({ length: s.minItems ?? 0 }, () => plausible(s.items ?? {}, candidates, depth + 1));
    case 'integer':
    case 'number':
      return s.minimum ?? 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'string': {
      if (s.format === 'date-time') return new Date().toISOString();
      const re = s.pattern ? new RegExp(s.pattern, 'u') : null;
      const fits = (c: string) => (!re || re.test(c)) && c.length >= (s.minLength ?? 0) && c.length <= (s.maxLength ?? Infinity);
      return candidates.find(fits) ?? 'x'.repeat(Math.max(1, s.minLength ?? 1));
    }
    default:
      return {};
  }
}

/** Every place in a plausible value with the schema that governs it (objects and arrays, a few levels deep). */
export interface Spot {
  path: (string | number)[];
  schema: Schema;
}

export function spots(s: Schema, value: unknown, path: (string | number)[] = [], depth = 0): Spot[] {
  const out: Spot[] = [{ path, schema: s }];
  if (depth > 3) return out;
  const obj = (s.anyOf ?? s.oneOf)?.find((a) => a.type === 'object' || a.type === 'array') ?? s;
  if (obj.properties) {
    for (const [k, sub] of Object.entries(obj.properties)) {
      const v = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[k] : undefined;
      out.push(...spots(sub, v ?? plausible(sub, []), [...path, k], depth + 1));
    }
  }
  if (obj.items && Array.isArray(value)) out.push(...spots(obj.items, value[0] ?? plausible(obj.items, []), [...path, 0], depth + 1));
  return out;
}

/** A copy of `root` with `value` at `path` (objects and arrays made on the way); undefined deletes. */
export function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const base: any = Array.isArray(root) ? [...root] : root && typeof root === 'object' ? { ...(root as object) } : typeof head === 'number' ? [] : {};
  const next = setAt(base[head as never], rest, value);
  if (next === undefined && rest.length === 0) delete base[head as never];
  else base[head as never] = next;
  return base;
}

const anyJson: Record<string, fc.Arbitrary<unknown>> = {
  string: fc.string({ maxLength: 8 }),
  integer: fc.integer({ min: -5, max: 5 }),
  number: fc.constantFrom(0.5, -1.25),
  boolean: fc.boolean(),
  null: fc.constant(null),
  array: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
  object: fc.constant({ x: 1 }),
};

/** A JSON value of a type the schema does not allow; null when it allows every type. */
export function wrongType(s: Schema): fc.Arbitrary<unknown> | null {
  const ok = allowedTypes(s);
  if (!ok) return null;
  const bad = Object.keys(anyJson).filter((t) => !ok.has(t) && !(t === 'integer' && ok.has('number')));
  return bad.length ? fc.constantFrom(...bad).chain((t) => anyJson[t]!) : null;
}

/** Strings no store may keep: NUL, and lone UTF-16 surrogates. */
export const unstorableString = fc
  .tuple(fc.string({ maxLength: 4 }), fc.constantFrom('\u0000', '\ud800', '\udfff', '\udbff', 'a\u0000', '\ud83d'), fc.string({ maxLength: 4 }))
  .map(([a, b, c]) => a + b + c);

/** Odd but valid text: may be accepted, must never break anything. */
export const oddString = fc.oneof(
  fc.constantFrom(
    '\u202etxet',
    'e\u0301\u0301\u0301',
    '\ufeffbom',
    '\uffff',
    '\u{10ffff}',
    '👩‍👩‍👧‍👦',
    '𝄞',
    'ﬀ',
    '\u200b',
    '\\u0000',
    '%00',
    '../..',
    ' ',
    '\t\n',
    "'; DROP TABLE queues;--",
    '{"$gt":""}',
  ),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s.isWellFormed() && !s.includes('\u0000')),
);

/** Number literals (as JSON text) that JSON.parse cannot keep as written. */
export const unkeepableNumber = fc.constantFrom('1e400', '-1e400', '9007199254740993', '-9007199254740993', '1e300', '123456789012345678901234567890');

/** Path segments the router or the parameter guard must refuse. */
export const badPathSegment = fc.oneof(
  fc.constantFrom('%', '%ZZ', '%C0%AE', '%ED%A0%80', '%FF', '%E2%82', '%00', 'a%00b', '%F0%9F', '%C3'),
  fc.integer({ min: 513, max: 2000 }).map((n) => 'p'.repeat(n)),
);

/** A hash per table of everything the store holds. */
export async function snapshotStore(target: { sqliteFile: string } | { pgUrl: string }): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
  if ('sqliteFile' in target) {
    const db = new Database(target.sqliteFile, { readonly: true, fileMustExist: true });
    try {
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[];
      for (const { name } of tables) {
        const rows = db
          .prepare(`SELECT * FROM "${name}"`)
          .all()
          .map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('hex') : v)))
          .sort();
        out[name] = `${rows.length}:${h(rows.join('\n'))}`;
      }
    } finally {
      db.close();
    }
    return out;
  }
  const c = new pg.Client({ connectionString: target.pgUrl });
  await c.connect();
  try {
    const { rows: tables } = await c.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    for (const { table_name: name } of tables as { table_name: string }[]) {
      const r = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS h FROM "${name}" x`);
      out[name] = `${r.rows[0].n}:${r.rows[0].h}`;
    }
  } finally {
    await c.end();
  }
  return out;
}
