// Packed queue states (src/queues/packed.ts) and the state cache's packing of the queues it
// holds that nobody used lately (src/queues/state-cache.ts): what comes back equals what
// went in, in values, key order and JSON, and the packing changes neither what the cache
// keeps nor what it weighs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { pack, packedBytes, unpack } from '../../src/queues/packed.ts';
import { evolve, initialState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { StateCache, weightOf } from '../../src/queues/state-cache.ts';
import { plain } from '../helpers/domain.ts';

let seq = 0;
const event = (state: QueueState, type: string, data: Record<string, unknown>, userId = 'owner-1', timestamp = '2026-12-06T22:00:00.000Z') =>
  ({ type, queueId: state.id, sequenceNumber: state.version + 1, timestamp, userId, deviceId: null, data, id: `e${++seq}` }) as unknown as QueueEvent;

/** Shared reason objects, as src/radio/metadata.ts keeps them (frozen, one per kind and text). */
const SIMILAR = Object.freeze({ kind: 'similar', text: 'similar to Song' });
const ARTIST = Object.freeze({ kind: 'artist', text: 'more by Band' });

/** A dictionary-mode object, as the radio's reasons are. */
function dictionary(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1, b: 2 };
  delete o.a;
  delete o.b;
  return o;
}

/** A radio-like queue: `n` items (canonical UUID ids unless `ids` says otherwise), added by two users at a few times, reasons for most tracks. */
function radioQueue(n: number, opts: { ids?: (i: number) => string; track?: (i: number) => string; shuffle?: boolean } = {}): QueueState {
  let s = initialState(`q-${randomUUID()}`);
  const reasons = dictionary();
  for (let i = 0; i < n; i += 3) reasons[opts.track?.(i) ?? `spotify:track:${String(i).padStart(22, 'x')}`] = i % 2 ? SIMILAR : ARTIST;
  const metadata = { radio: { stationId: 'track:x', label: 'Radio', userId: 'owner-1', preferences: {}, batches: 2, reasons }, note: 'kept' };
  s = evolve(s, event(s, 'queue_created', { name: 'Radio', type: 'radio', ownerId: 'owner-1', metadata }));
  for (let i = 0; i < n; i++) {
    const data: Record<string, unknown> = {
      itemId: opts.ids?.(i) ?? randomUUID(),
      trackId: opts.track?.(i) ?? `spotify:track:${String(i).padStart(22, 'x')}`,
      key: `a${i.toString(36)}`,
    };
    if (opts.shuffle) data.shuffleKey = `b${(n - i).toString(36)}`;
    s = evolve(s, event(s, 'item_added', data, i % 2 ? 'owner-1' : 'guest-2', `2026-12-06T22:0${i % 3}:00.000Z`));
  }
  return s;
}

describe('pack / unpack', () => {
  it('gives back an equal state: values, key order, JSON, and the same reason objects', () => {
    for (const s of [radioQueue(0), radioQueue(1), radioQueue(150), radioQueue(40, { shuffle: true })]) {
      const p = pack(s)!;
      assert.ok(p, 'packed');
      const u = unpack(p);
      assert.notEqual(u, s);
      assert.deepStrictEqual(plain(u), plain(s));
      assert.equal(JSON.stringify(u), JSON.stringify(s));
      for (const [i, item] of [...u.items].entries()) assert.deepEqual(Object.keys(item), Object.keys(s.items.at(i)!));
      const a = (u.metadata.radio as { reasons: Record<string, unknown> }).reasons;
      const b = (s.metadata.radio as { reasons: Record<string, unknown> }).reasons;
      assert.deepEqual(Object.keys(a), Object.keys(b));
      for (const k of Object.keys(b)) assert.equal(a[k], b[k], 'the same (shared) reason object');
      assert.deepEqual(Object.keys(u.metadata), Object.keys(s.metadata));
      assert.deepEqual(Object.keys(u.metadata.radio as object), Object.keys(s.metadata.radio as object));
      // Unpacking twice gives equal states, not the same objects.
      assert.deepStrictEqual(plain(unpack(p)), plain(u));
    }
  });

  it('keeps item ids that are not canonical UUIDs, non-ASCII and long strings, integer-like reason keys', () => {
    const odd = [
      'item-1',
      'E0A1B2C3-D4E5-4F60-8A9B-0C1D2E3F4A5B', // upper case: not canonical
      '01234567-89ab-cdef-0123-456789abcdeg', // not hex
      'ünïcode-id',
    ];
    const s = radioQueue(8, {
      ids: (i) => odd[i] ?? randomUUID(),
      track: (i) => (i === 1 ? 'spotify:track:ñandú' : i === 2 ? 'x'.repeat(300) : i === 3 ? '42' : `t${i}`),
    });
    const u = unpack(pack(s)!);
    assert.deepStrictEqual(plain(u), plain(s));
    assert.equal(JSON.stringify(u), JSON.stringify(s));
  });

  it('does not pack a state whose items carry votes', () => {
    let s = radioQueue(3);
    s = evolve(s, event(s, 'item_voted', { itemId: s.items.at(1)!.itemId, userId: 'guest-2', vote: 1 }));
    assert.equal(pack(s), null);
  });

  it('leaves metadata without reasons as the same object', () => {
    let s = initialState('q-plain');
    const metadata = { mood: 'chill', nested: { reasons: [1, 2] } };
    s = evolve(s, event(s, 'queue_created', { name: 'Mine', type: 'user', ownerId: 'owner-1', metadata }));
    s = evolve(s, event(s, 'item_added', { itemId: randomUUID(), trackId: 't1', key: 'a0' }));
    const p = pack(s)!;
    assert.equal(p.sections, null);
    const u = unpack(p);
    assert.equal(u.metadata, s.metadata);
    assert.deepStrictEqual(plain(u), plain(s));
  });

  it("holds a radio queue in a fraction of its objects' bytes", () => {
    const p = pack(radioQueue(200))!;
    // 200 items (16-byte ids, 36-character track ids, short keys) and 67 reasons.
    const perItem = packedBytes(p) / 200;
    assert.ok(perItem < 80, `${perItem.toFixed(1)} bytes an item`);
    assert.ok(p.strings.length <= 5, `${p.strings.length} strings: who added and when, not per item`);
  });
});

describe('StateCache packing', () => {
  const ids = Array.from({ length: 6 }, (_, i) => `q${i}`);

  it('packs the queues used least lately past its unpacked count, and gives them back equal', () => {
    const c = new StateCache(100, 100_000, 2);
    const states = new Map(ids.map((id) => [id, radioQueue(30)]));
    for (const id of ids) c.set(id, states.get(id)!);
    assert.equal(c.packedCount, 4, 'all but the 2 used last');
    const w = c.weight;
    assert.equal(
      w,
      [...states.values()].reduce((n, s) => n + weightOf(s), 0),
      'weights count packed queues as they were',
    );
    for (const id of ids) assert.deepStrictEqual(plain(c.get(id)!), plain(states.get(id)!));
    assert.equal(c.weight, w);
    assert.equal(c.size, 6);
    assert.ok(c.packedCount <= 4);
  });

  it('keeps a queue read since the packing hand last passed it unpacked (second chance)', () => {
    const c = new StateCache(100, 100_000, 2);
    const hot = radioQueue(10);
    c.set('hot', hot);
    for (const id of ids) {
      c.get('hot');
      c.set(id, radioQueue(10));
    }
    assert.equal(c.get('hot'), hot, 'the very object set: never packed');
    assert.equal(c.packedCount, ids.length - 1);
  });

  it('returns the same object on every read until it is packed', () => {
    const c = new StateCache(100, 100_000, 2);
    c.set('a', radioQueue(5));
    const first = c.get('a');
    assert.equal(c.get('a'), first);
  });

  it('a newer state replaces a packed one; an older one does not', () => {
    const c = new StateCache(100, 100_000, 1);
    const a = radioQueue(5);
    c.set('a', a);
    c.set('b', radioQueue(5));
    c.set('c', radioQueue(5));
    assert.ok(c.packedCount >= 1);
    c.set('a', { ...a, version: a.version - 1 });
    assert.equal(c.get('a')?.version, a.version, 'the older state was refused');
    const newer = { ...a, version: a.version + 1 };
    c.set('b', radioQueue(5));
    c.set('a', newer);
    assert.equal(c.get('a'), newer);
  });

  it('keeps more unpacked when queues are read in turn past its count, and fewer again as it packs', () => {
    const c = new StateCache(1000, 1_000_000, 4);
    const turn = Array.from({ length: 12 }, (_, i) => `r${i}`);
    for (const id of turn) c.set(id, radioQueue(5));
    for (let round = 0; round < 10; round++) for (const id of turn) c.get(id);
    assert.ok(c.unpackedLimit >= turn.length, `limit ${c.unpackedLimit}`);
    // Now a round unpacks nothing: every read gives the object the previous round got.
    const seen = turn.map((id) => c.get(id));
    assert.deepEqual(
      turn.map((id) => c.get(id)),
      seen,
    );
    assert.ok(seen.every((s, i) => s === c.get(turn[i]!)));
    assert.equal(c.packedCount, 0);
    // New queues, each used once: packing them brings the count back down to its floor.
    for (let i = 0; i < 400; i++) c.set(`n${i}`, radioQueue(2));
    assert.equal(c.unpackedLimit, 4);
  });

  it('evicts in the same order with packing as without', () => {
    // The same operations on a cache that packs all but one and one that never packs.
    const run = (packAfter: number) => {
      const c = new StateCache(5, 200, packAfter);
      const kept: string[][] = [];
      for (let i = 0; i < 40; i++) {
        c.set(`q${i}`, radioQueue(5 + (i % 7)));
        if (i % 3 === 0) c.get(`q${i - 2}`);
        if (i % 5 === 0) c.get(`q${i - 4}`);
        kept.push(Array.from({ length: i + 1 }, (_, k) => `q${k}`).filter((id) => c.has(id)));
      }
      return kept;
    };
    assert.deepEqual(run(1), run(1_000));
  });
});
