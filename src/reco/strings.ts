// Many short strings (track ids) kept as bytes outside V8's heap, numbered in the order
// they were added, with an open-addressing hash table from string to number (issue 24).
// As JS strings in an array and a Map, a 38-character id cost ~106 bytes of heap (the
// string ~56, the Map's entry ~42, the array's slot 8) and every one of them was marked
// by each full collection; here it is ~55 bytes in typed arrays (the bytes, their start,
// length and hash, and the table's slots) that the collector never walks.
// Issue 24 round 7: a string's ASCII prefix up to its last ':' (`spotify:track:`,
// `playlist:`, `session:`) is kept once in a table of prefixes, and the string's own bytes
// are the rest (14 of a Spotify track id's 36 bytes); and an ASCII string that ends in a
// UUID in its canonical lower-case form (the sessions' track ids `t_<uuid>`, session and
// queue keys) keeps those 36 characters as their 16 bytes. 12 -> 7.4 MB of id bytes on the
// shared data.

import { resized } from './typed.ts';

/** Bytes per chunk: a string never spans two (chunks are never moved or freed). */
const CHUNK = 1 << 20;
/** Strings longer than this (in UTF-8) are kept as JS strings on the side. */
const LONG = CHUNK / 4;
/** The hash table is grown to keep it at most this full. */
const MAX_LOAD = 0.7;
const EMPTY_SLOT = 0;
/** Strings `get` keeps at hand (a power of two). */
const RECENT = 4096;
/** Prefixes kept at most (a byte per string numbers its prefix, 0 for none, below UUID_TAIL), and their longest. */
const MAX_PREFIXES = 127;
const MAX_PREFIX = 64;
/** The bit of a string's prefix byte that says its last 16 stored bytes are a UUID's (36 characters). */
const UUID_TAIL = 128;
const HEX = '0123456789abcdef';

/** FNV-1a step: the same for a code unit < 128 and its UTF-8 byte, so both paths agree. */
const step = (h: number, c: number) => Math.imul(h ^ c, 16777619);
/** murmur3's finaliser: spreads FNV's low bits before masking. */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class StringTable {
  private readonly chunks: Buffer[] = [];
  /** Bytes used in the last chunk (CHUNK: none yet, the next string opens one). */
  private fill = CHUNK;
  /** Per string: chunk * CHUNK + offset; its UTF-8 length; its hash. */
  private start = new Int32Array(0);
  private len = new Int32Array(0);
  private hashes = new Int32Array(0);
  /** Per string: its prefix's number + 1 in `prefixes` (0: none), | UUID_TAIL when it ends in a packed UUID. */
  private pre = new Uint8Array(0);
  private readonly prefixes: string[] = [];
  private readonly prefixBytes: Buffer[] = [];
  private readonly prefixNo = new Map<string, number>();
  private readonly long = new Map<number, string>();
  /** String number + 1 per slot, EMPTY_SLOT when free; linear probing. */
  private slots = new Int32Array(0);
  private mask = -1;
  private n = 0;
  private scratch = Buffer.allocUnsafe(256);
  /** The UTF-8 bytes of the last non-ASCII string hashed (in `scratch`), -1 when it was ASCII. */
  private scratchLen = -1;
  // The strings `get` made lately, direct-mapped by number: answers name the same popular
  // tracks over and over, and the queues they go into then share one string per track
  // instead of a copy per item.
  private readonly recentNo = new Int32Array(RECENT).fill(-1);
  private readonly recent: string[] = new Array(RECENT).fill('');

  get size(): number {
    return this.n;
  }

  /** The string numbered `i` (0 <= i < size). */
  get(i: number): string {
    const slot = i & (RECENT - 1);
    if (this.recentNo[slot] === i) return this.recent[slot]!;
    const len = this.len[i]!;
    if (len < 0) return this.long.get(i)!;
    const at = this.start[i]!;
    const off = at % CHUNK;
    const chunk = this.chunks[(at - off) / CHUNK]!;
    const p = this.pre[i]!;
    let s: string;
    if (p === 0) s = chunk.toString('utf8', off, off + len);
    else {
      // One flat string from the prefix's bytes, the rest's and the UUID's characters (a
      // concatenation would be a cons string that V8 flattens into a second copy the first
      // time it is hashed).
      const pb = (p & ~UUID_TAIL) === 0 ? null : this.prefixBytes[(p & ~UUID_TAIL) - 1]!;
      const uuid = (p & UUID_TAIL) !== 0;
      const head = uuid ? len - 16 : len;
      const skip = pb ? pb.length : 0;
      const n = skip + head + (uuid ? 36 : 0);
      if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(n, this.scratch.length * 2));
      const out = this.scratch;
      if (pb) pb.copy(out, 0);
      chunk.copy(out, skip, off, off + head);
      if (uuid) {
        let w = skip + head;
        for (let k = 0; k < 16; k++) {
          if (k === 4 || k === 6 || k === 8 || k === 10) out[w++] = 45; // '-'
          const b = chunk[off + head + k]!;
          out[w++] = HEX.charCodeAt(b >> 4);
          out[w++] = HEX.charCodeAt(b & 15);
        }
      }
      s = out.toString('utf8', 0, n);
    }
    this.recentNo[slot] = i;
    this.recent[slot] = s;
    return s;
  }

  /** The number of `s`, or undefined. */
  find(s: string): number | undefined {
    if (this.n === 0) return undefined;
    const h = this.hash(s);
    for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
      const e = this.slots[slot]!;
      if (e === EMPTY_SLOT) return undefined;
      if (this.hashes[e - 1] === h && this.equals(e - 1, s)) return e - 1;
    }
  }

  /** The number of `s`, adding it when new. */
  intern(s: string): number {
    const found = this.find(s);
    if (found !== undefined) return found;
    return this.add(s);
  }

  /** Adds `s`, which must not be in the table yet (see `find`), and returns its number. */
  add(s: string): number {
    const i = this.n;
    if (i === this.start.length) this.resizeEntries(Math.max(1024, Math.ceil(i * 1.5)));
    if ((i + 1) / this.slots.length > MAX_LOAD) this.rehash(Math.max(2048, this.slots.length * 2));
    const h = this.hash(s); // and, for a non-ASCII s, its bytes in `scratch`
    const all = this.scratchLen >= 0 ? this.scratchLen : s.length;
    if (all > LONG) {
      this.long.set(i, s);
      this.len[i] = -1;
      this.pre[i] = 0;
    } else {
      // The prefix is ASCII: as many bytes as characters, in `scratch` too.
      const p = this.prefixOf(s);
      const skip = p === 0 ? 0 : this.prefixes[p - 1]!.length;
      const uuid = this.scratchLen < 0 && s.length - skip >= 36 && isUuidAt(s, s.length - 36);
      const bytes = uuid ? all - skip - 20 : all - skip;
      if (this.fill + bytes > CHUNK) {
        this.chunks.push(Buffer.allocUnsafeSlow(CHUNK));
        this.fill = 0;
      }
      const c = this.chunks.length - 1;
      const chunk = this.chunks[c]!;
      if (uuid) {
        const head = bytes - 16;
        for (let k = 0; k < head; k++) chunk[this.fill + k] = s.charCodeAt(skip + k);
        for (let k = 0, q = s.length - 36; k < 16; k++, q += 2) {
          if (s.charCodeAt(q) === 45) q++;
          chunk[this.fill + head + k] = (nibble(s.charCodeAt(q)) << 4) | nibble(s.charCodeAt(q + 1));
        }
      } else if (this.scratchLen >= 0) this.scratch.copy(chunk, this.fill, skip, all);
      else for (let k = 0; k < bytes; k++) chunk[this.fill + k] = s.charCodeAt(skip + k);
      this.pre[i] = uuid ? p | UUID_TAIL : p;
      this.start[i] = c * CHUNK + this.fill;
      this.len[i] = bytes;
      this.fill += bytes;
    }
    this.hashes[i] = h;
    this.n = i + 1;
    this.place(i, h);
    return i;
  }

  /** The number + 1 of `s`'s prefix (its ASCII start up to its last ':'), numbering it when new; 0: none. */
  private prefixOf(s: string): number {
    const colon = s.lastIndexOf(':', MAX_PREFIX - 1);
    if (colon < 0) return 0;
    const prefix = s.slice(0, colon + 1);
    const known = this.prefixNo.get(prefix);
    if (known !== undefined) return known;
    if (this.prefixes.length >= MAX_PREFIXES) return 0;
    for (let k = 0; k <= colon; k++) if (s.charCodeAt(k) > 127) return 0;
    this.prefixes.push(prefix);
    this.prefixBytes.push(Buffer.from(prefix, 'latin1'));
    this.prefixNo.set(prefix, this.prefixes.length);
    return this.prefixes.length;
  }

  /** Hash of the UTF-8 bytes of `s`; for a non-ASCII `s` leaves them in `scratch` (scratchLen). */
  private hash(s: string): number {
    let h = 0x811c9dc5 | 0;
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) break;
      h = step(h, c);
    }
    if (i === n) {
      this.scratchLen = -1;
      return finish(h);
    }
    const need = Buffer.byteLength(s, 'utf8');
    if (need > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    const len = this.scratch.write(s, 0, 'utf8');
    h = 0x811c9dc5 | 0;
    for (let k = 0; k < len; k++) h = step(h, this.scratch[k]!);
    this.scratchLen = len;
    return finish(h);
  }

  /** Whether string `i` is `s` (whose bytes, when non-ASCII, `hash` left in `scratch`). */
  private equals(i: number, s: string): boolean {
    const len = this.len[i]!;
    if (len < 0) return this.long.get(i) === s;
    const ascii = this.scratchLen < 0;
    const p = this.pre[i]!;
    // The prefix's characters are its bytes (ASCII), in s and in `scratch` alike.
    let skip = 0;
    if ((p & ~UUID_TAIL) !== 0) {
      const prefix = this.prefixes[(p & ~UUID_TAIL) - 1]!;
      if (!s.startsWith(prefix)) return false;
      skip = prefix.length;
    }
    const at = this.start[i]!;
    const off = (at % CHUNK) - skip;
    const chunk = this.chunks[(at - (at % CHUNK)) / CHUNK]!;
    if (p & UUID_TAIL) {
      // Only an ASCII string ends in a packed UUID: compare the head, then the UUID's
      // characters with those its bytes stand for.
      const head = len - 16;
      if (!ascii || skip + head + 36 !== s.length) return false;
      for (let k = skip; k < skip + head; k++) if (chunk[off + k] !== s.charCodeAt(k)) return false;
      for (let k = 0, q = s.length - 36; k < 16; k++, q += 2) {
        if (k === 4 || k === 6 || k === 8 || k === 10) {
          if (s.charCodeAt(q) !== 45) return false;
          q++;
        }
        const b = chunk[off + skip + head + k]!;
        if (s.charCodeAt(q) !== HEX.charCodeAt(b >> 4) || s.charCodeAt(q + 1) !== HEX.charCodeAt(b & 15)) return false;
      }
      return true;
    }
    if (skip + len !== (ascii ? s.length : this.scratchLen)) return false;
    if (ascii) {
      for (let k = skip; k < skip + len; k++) if (chunk[off + k] !== s.charCodeAt(k)) return false;
    } else {
      for (let k = skip; k < skip + len; k++) if (chunk[off + k] !== this.scratch[k]) return false;
    }
    return true;
  }

  private place(i: number, h: number): void {
    let slot = h & this.mask;
    while (this.slots[slot] !== EMPTY_SLOT) slot = (slot + 1) & this.mask;
    this.slots[slot] = i + 1;
  }

  private resizeEntries(cap: number): void {
    this.start = resized(this.start, cap);
    this.len = resized(this.len, cap);
    this.hashes = resized(this.hashes, cap);
    this.pre = resized(this.pre, cap);
  }

  private rehash(cap: number): void {
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    for (let i = 0; i < this.n; i++) this.place(i, this.hashes[i]!);
  }

  /** Gives back the spare room of the per-string arrays (after a bulk build). */
  trim(): void {
    if (this.start.length > this.n + 1024) this.resizeEntries(this.n + 1024);
  }
}

/**
 * A string (or null) per index, kept as UTF-8 bytes in chunks like StringTable's, without
 * a hash: the catalog's titles. A value set again leaves its old bytes behind; they are
 * reclaimed by rewriting the chunks once they are over half of them.
 */
export class StringColumn {
  private chunks: Buffer[] = [];
  private fill = CHUNK;
  /** Per index: chunk * CHUNK + offset, and the UTF-8 length (NULL_LEN: null, LONG_LEN: in `long`). */
  private start = new Int32Array(0);
  private len = new Int32Array(0);
  private long = new Map<number, string>();
  private n = 0;
  private bytes = 0;
  private wasted = 0;

  get size(): number {
    return this.n;
  }

  get(i: number): string | null {
    if (i >= this.n) return null;
    const len = this.len[i]!;
    if (len === NULL_LEN) return null;
    if (len === LONG_LEN) return this.long.get(i)!;
    const at = this.start[i]!;
    const off = at % CHUNK;
    return this.chunks[(at - off) / CHUNK]!.toString('utf8', off, off + len);
  }

  set(i: number, s: string | null): void {
    if (i >= this.start.length) this.grow(Math.max(1024, i + 1, Math.ceil(this.start.length * 1.5)));
    if (i >= this.n) {
      this.len.fill(NULL_LEN, this.n, i + 1);
      this.n = i + 1;
    }
    const old = this.len[i]!;
    if (old === LONG_LEN) this.long.delete(i);
    else if (old > 0) this.wasted += old;
    if (s === null) {
      this.len[i] = NULL_LEN;
    } else {
      const bytes = Buffer.byteLength(s, 'utf8');
      if (bytes > LONG) {
        this.long.set(i, s);
        this.len[i] = LONG_LEN;
      } else {
        this.store(i, s, bytes);
      }
    }
    if (this.wasted > Math.max(CHUNK, this.bytes / 2)) this.rewrite();
  }

  private store(i: number, s: string, bytes: number): void {
    if (this.fill + bytes > CHUNK) {
      this.chunks.push(Buffer.allocUnsafeSlow(CHUNK));
      this.fill = 0;
    }
    const c = this.chunks.length - 1;
    this.chunks[c]!.write(s, this.fill, bytes, 'utf8');
    this.start[i] = c * CHUNK + this.fill;
    this.len[i] = bytes;
    this.fill += bytes;
    this.bytes += bytes;
  }

  /** Copies the live values into new chunks, leaving the old values' bytes behind. */
  private rewrite(): void {
    const values: (string | null)[] = [];
    for (let i = 0; i < this.n; i++) values.push(this.len[i] === LONG_LEN ? null : this.get(i));
    this.chunks = [];
    this.fill = CHUNK;
    this.bytes = 0;
    this.wasted = 0;
    for (let i = 0; i < this.n; i++) {
      const s = values[i];
      if (s !== null && s !== undefined) this.store(i, s, Buffer.byteLength(s, 'utf8'));
    }
  }

  private grow(cap: number): void {
    this.start = resized(this.start, cap);
    this.len = resized(this.len, cap, NULL_LEN);
  }

  /** Gives back the spare room of the per-index arrays (after a bulk build). */
  trim(): void {
    if (this.start.length > this.n + 1024) this.grow(this.n + 1024);
  }
}

const NULL_LEN = -1;
const LONG_LEN = -2;

/** Whether s[at .. at + 36) is a UUID in its canonical form: lower-case hex digits in groups of 8-4-4-4-12. */
function isUuidAt(s: string, at: number): boolean {
  for (let k = 0; k < 36; k++) {
    const c = s.charCodeAt(at + k);
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (c !== 45) return false;
    } else if (nibble(c) < 0) return false;
  }
  return true;
}

/** The value of a lower-case hex digit, -1 for any other character. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
