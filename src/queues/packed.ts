// A queue state's items packed into bytes, for the state cache to hold queues nobody has
// used for a while (issue 24: a cached radio queue's item objects, their item-id and
// order-key strings and the items' index were ~200 bytes an item, ~15 MB of the server's
// old space once the cache had filled up with listeners' stations; packed, ~50-60 bytes off
// the JS heap). `unpack` gives back an equal state: the same fields, values and order, items
// as fresh objects (the index by id is rebuilt when first asked, see itemIndex).
//
// An item is a flags byte, then its item id (16 bytes when it is a canonical lower-case
// UUID, else a string-table reference), its track id (length-prefixed ASCII, else a
// reference), who added it and when (references: a queue's items share a few of each),
// its order key and shuffle key (ASCII, else references). Items with votes (or any field
// but these six) are not packed: `pack` answers null and the state stays as it is.
import { Items } from './items.ts';
import type { QueueItem, QueueState } from './queue.ts';

const ID_UUID = 1;
const TRACK_INLINE = 2;
const KEY_INLINE = 4;
const HAS_SHUFFLE = 8;
const SHUFFLE_INLINE = 16;

export interface PackedState {
  /** The state without its items (items: an empty array) and, in its metadata, without the reasons packed. */
  readonly head: QueueState;
  readonly count: number;
  readonly bytes: Buffer;
  /** Strings the bytes refer to by number. */
  readonly strings: readonly string[];
  /** The metadata sections whose `reasons` are packed (after the items), in order; null: none. */
  readonly sections: readonly string[] | null;
  /** The reasons' distinct values, by number. */
  readonly values: readonly unknown[];
}

let out = Buffer.allocUnsafeSlow(1 << 16);
let at = 0;
let table: string[] = [];
let tableIndex = new Map<string, number>();

function room(n: number): void {
  if (at + n <= out.length) return;
  const next = Buffer.allocUnsafeSlow(Math.max(out.length * 2, at + n));
  out.copy(next, 0, 0, at);
  out = next;
}

function varint(n: number): void {
  room(5);
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
}

function refOf(s: string): number {
  let i = tableIndex.get(s);
  if (i === undefined) {
    i = table.length;
    table.push(s);
    tableIndex.set(s, i);
  }
  return i;
}

function ref(s: string): void {
  varint(refOf(s));
}

/** Writes `s` as one length byte and its characters when it is ASCII of at most 255; false (nothing written) otherwise. */
function ascii(s: string): boolean {
  const n = s.length;
  if (n > 255) return false;
  room(n + 1);
  const start = at;
  out[at++] = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      at = start;
      return false;
    }
    out[at++] = c;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Writes a canonical lower-case UUID (8-4-4-4-12) as 16 bytes; false (nothing written) for anything else. */
function uuid(s: string): boolean {
  if (s.length !== 36 || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45) return false;
  room(16);
  const start = at;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const hi = hexValue(s.charCodeAt(i));
    const lo = hexValue(s.charCodeAt(++i));
    if (hi < 0 || lo < 0) {
      at = start;
      return false;
    }
    out[at++] = (hi << 4) | lo;
  }
  return true;
}

/**
 * Whether `pack` keeps all of the item: its five strings and a shuffle key, no votes. (Items
 * are made by the fold, or parsed from the snapshots it wrote: no other fields; unpacked
 * ones have them in the fold's order.)
 */
function plain(item: QueueItem): boolean {
  return (
    item.votes === undefined &&
    typeof item.itemId === 'string' &&
    typeof item.trackId === 'string' &&
    typeof item.addedBy === 'string' &&
    typeof item.addedAt === 'string' &&
    typeof item.key === 'string' &&
    (item.shuffleKey === undefined || typeof item.shuffleKey === 'string')
  );
}

/** The state's items as bytes, or null when an item has more than `pack` keeps (votes). */
export function pack(state: QueueState): PackedState | null {
  const items = state.items.toArray();
  at = 0;
  table = [];
  tableIndex = new Map();
  // Who added an item and when are mostly the previous item's: asked of the table only when not.
  let by: string | null = null;
  let byRef = 0;
  let when: string | null = null;
  let whenRef = 0;
  for (const item of items) {
    if (!plain(item)) return null;
    room(1);
    const flagsAt = at++;
    let flags = 0;
    if (uuid(item.itemId)) flags |= ID_UUID;
    else ref(item.itemId);
    if (ascii(item.trackId)) flags |= TRACK_INLINE;
    else ref(item.trackId);
    if (item.addedBy !== by) {
      by = item.addedBy;
      byRef = refOf(by);
    }
    varint(byRef);
    if (item.addedAt !== when) {
      when = item.addedAt;
      whenRef = refOf(when);
    }
    varint(whenRef);
    if (ascii(item.key)) flags |= KEY_INLINE;
    else ref(item.key);
    if (item.shuffleKey !== undefined) {
      flags |= HAS_SHUFFLE;
      if (ascii(item.shuffleKey)) flags |= SHUFFLE_INLINE;
      else ref(item.shuffleKey);
    }
    out[flagsAt] = flags;
  }
  let metadata = state.metadata;
  let sections: string[] | null = null;
  const values: unknown[] = [];
  if (metadata !== null && typeof metadata === 'object') {
    const valueIndex = new Map<unknown, number>();
    // A reason's key is mostly the track id of an item: then it is that item's number.
    let itemOf: Map<string, number> | null = null;
    for (const sec of Object.keys(metadata)) {
      const m = metadata[sec] as Record<string, unknown> | null;
      if (m === null || typeof m !== 'object' || Array.isArray(m) || !Object.hasOwn(m, 'reasons')) continue;
      const r = m.reasons as Record<string, unknown> | null;
      if (r === null || typeof r !== 'object' || Array.isArray(r) || Object.getPrototypeOf(r) !== Object.prototype) continue;
      const keys = Object.keys(r);
      varint(keys.length);
      for (const k of keys) {
        if (itemOf === null) {
          itemOf = new Map();
          for (let n = items.length - 1; n >= 0; n--) itemOf.set(items[n]!.trackId, n);
        }
        room(1);
        const tagAt = at++;
        const n = itemOf.get(k);
        if (n !== undefined) {
          out[tagAt] = 2;
          varint(n);
        } else if (ascii(k)) out[tagAt] = 1;
        else {
          out[tagAt] = 0;
          ref(k);
        }
        let v = valueIndex.get(r[k]);
        if (v === undefined) {
          v = values.length;
          values.push(r[k]);
          valueIndex.set(r[k], v);
        }
        varint(v);
      }
      if (sections === null) {
        sections = [];
        metadata = { ...metadata };
      }
      sections.push(sec);
      metadata[sec] = { ...m, reasons: null };
    }
  }
  const bytes = Buffer.allocUnsafeSlow(at);
  out.copy(bytes, 0, 0, at);
  const strings = table;
  table = [];
  tableIndex = new Map();
  return { head: { ...state, items: Items.EMPTY, metadata }, count: items.length, bytes, strings, sections, values };
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Buffer's own latin1 decoder (undocumented but there since Node 0.x; `toString('latin1', ...)` adds ~100 ns a call of argument checks). */
const latin1 = (Buffer.prototype as unknown as { latin1Slice: (this: Buffer, start: number, end: number) => string }).latin1Slice;
const idScratch = Buffer.allocUnsafeSlow(36);

/** The state `pack` was given, with its items as new objects. */
export function unpack(p: PackedState): QueueState {
  const { bytes, strings } = p;
  const items = new Array<QueueItem>(p.count);
  let i = 0;
  const readVarint = (): number => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++]!;
      n |= (b & 0x7f) << shift;
      if (b < 0x80) return n >>> 0;
      shift += 7;
    }
  };
  const readAscii = (): string => {
    const n = bytes[i]!;
    const s = latin1.call(bytes, i + 1, i + 1 + n);
    i += n + 1;
    return s;
  };
  for (let k = 0; k < p.count; k++) {
    const flags = bytes[i++]!;
    let itemId: string;
    if (flags & ID_UUID) {
      let o = 0;
      for (let j = 0; j < 16; j++) {
        if (j === 4 || j === 6 || j === 8 || j === 10) idScratch[o++] = 45;
        const b = bytes[i++]!;
        idScratch[o++] = HEX[b >> 4]!;
        idScratch[o++] = HEX[b & 15]!;
      }
      itemId = latin1.call(idScratch, 0, 36);
    } else itemId = strings[readVarint()]!;
    const trackId = flags & TRACK_INLINE ? readAscii() : strings[readVarint()]!;
    const addedBy = strings[readVarint()]!;
    const addedAt = strings[readVarint()]!;
    const key = flags & KEY_INLINE ? readAscii() : strings[readVarint()]!;
    const item: QueueItem = { itemId, trackId, addedBy, addedAt, key };
    if (flags & HAS_SHUFFLE) item.shuffleKey = flags & SHUFFLE_INLINE ? readAscii() : strings[readVarint()]!;
    items[k] = item;
  }
  let metadata = p.head.metadata;
  if (p.sections !== null) {
    metadata = { ...metadata };
    for (const sec of p.sections) {
      const r = dictionary();
      for (let n = readVarint(); n > 0; n--) {
        const tag = bytes[i++];
        const k = tag === 2 ? items[readVarint()]!.trackId : tag === 1 ? readAscii() : strings[readVarint()]!;
        r[k] = p.values[readVarint()];
      }
      metadata[sec] = { ...(metadata[sec] as Record<string, unknown>), reasons: r };
    }
  }
  return { ...p.head, items: Items.from(items), metadata };
}

/**
 * An empty plain object in V8's dictionary mode (as src/radio/metadata.ts makes its reasons):
 * keyed by track ids, a fast-mode object would get a hidden class of its own per key.
 */
function dictionary(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: undefined, b: undefined };
  delete o.a;
  delete o.b;
  return o;
}

/** Bytes `p` holds beyond its head: its packed items and its string table (estimate, for tests and figures). */
export function packedBytes(p: PackedState): number {
  let n = p.bytes.length;
  for (const s of p.strings) n += 16 + s.length;
  return n;
}
