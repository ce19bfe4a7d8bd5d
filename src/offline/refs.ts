// Item references in offline changes: "@<mutationId>:<index>" names the index-th item
// added by the client's change mutationId, whose server id the client does not know yet
// (docs/OFFLINE.md). Only the item fields of queue ops may hold one.

/** A reference to an item this client added offline: "@<mutationId>:<index>". */
const REF_RE = /^@(\d{1,16}):(\d{1,5})$/;
const ITEM_FIELDS = ['itemId', 'afterItemId', 'beforeItemId'] as const;

export interface Ref {
  text: string;
  mutationId: number;
  index: number;
}

function parseRef(v: unknown): Ref | null {
  if (typeof v !== 'string') return null;
  const m = REF_RE.exec(v);
  return m ? { text: v, mutationId: Number(m[1]), index: Number(m[2]) } : null;
}

export function refsIn(args: Record<string, unknown>): Ref[] {
  const out: Ref[] = [];
  for (const f of ITEM_FIELDS) {
    const r = parseRef(args[f]);
    if (r) out.push(r);
  }
  if (Array.isArray(args.itemIds))
    for (const v of args.itemIds) {
      const r = parseRef(v);
      if (r) out.push(r);
    }
  return out;
}

/** The arguments with every item reference replaced by `resolve(ref)`. */
export function withRefs(args: Record<string, unknown>, resolve: (ref: Ref) => string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...args };
  for (const f of ITEM_FIELDS) {
    const r = parseRef(args[f]);
    if (r) out[f] = resolve(r);
  }
  if (Array.isArray(args.itemIds))
    out.itemIds = args.itemIds.map((v) => {
      const r = parseRef(v);
      return r ? resolve(r) : v;
    });
  return out;
}
