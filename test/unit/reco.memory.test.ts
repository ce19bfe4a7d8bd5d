// Issue 24 (memory): track ids live in a StringTable (bytes outside the JS heap, an
// open-addressing hash), and baskets' tracks in one arena. Behaviour only: the same
// answers as the plain Map / arrays they replaced, under growth, moves and compaction.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Baskets, SKIPPED_WEIGHT } from '../../src/reco/baskets.ts';
import { Catalog } from '../../src/reco/catalog.ts';
import { ContextTracks } from '../../src/reco/context-tracks.ts';
import { StringTable } from '../../src/reco/strings.ts';
import { mulberry32 as seeded } from '../helpers/random.ts';

/** A UUID in canonical form, from a seed. */
function uuid(i: number): string {
  const r = seeded(i + 1);
  const hex = Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('StringTable', () => {
  it('numbers strings in the order added and finds them again, like a Map', () => {
    const table = new StringTable();
    const ref = new Map<string, number>();
    const rnd = seeded(24);
    // ASCII ids with a shared prefix, non-ASCII ones (UTF-8 of 2-4 bytes), the empty string,
    // a long one (kept on the side), and ids differing only in their last character.
    const make = (i: number) => {
      const r = rnd();
      if (r < 0.5) return `spotify:track:${i.toString(36)}x`;
      if (r < 0.7) return `t_${i}-é-${'ß'.repeat(i % 5)}`;
      if (r < 0.8) return `🎵${i}日本`;
      return `id${i}`;
    };
    const all = ['', 'x'.repeat(300_000), ...Array.from({ length: 20_000 }, (_, i) => make(i)), 'id1', 'id2'];
    for (const s of all) {
      const want = ref.get(s);
      assert.equal(table.find(s), want, s.slice(0, 40));
      if (want === undefined) ref.set(s, table.add(s));
      else assert.equal(table.intern(s), want);
    }
    assert.equal(table.size, ref.size);
    for (const [s, i] of ref) {
      assert.equal(table.get(i), s);
      assert.equal(table.find(s), i);
    }
    for (const s of ['spotify:track:', 'id', 'é', 'ids1', 'id12345678', `🎵1日`]) assert.equal(table.find(s), ref.get(s));
    table.trim();
    for (const [s, i] of ref) assert.equal(table.find(s), i);
  });

  it('keeps prefixes up to the last colon once and UUIDs as 16 bytes, and answers as a Map (issue 24 round 7)', () => {
    const table = new StringTable();
    const ref = new Map<string, number>();
    const rnd = seeded(7);
    // More distinct prefixes than the table keeps, prefixes alone, non-ASCII before and
    // after the colon, colons past the longest prefix, and look-alikes across prefixes.
    const make = (i: number) => {
      const r = rnd();
      if (r < 0.3) return `spotify:track:${i.toString(36)}`;
      if (r < 0.4) return `p${i % 400}:${i}`;
      if (r < 0.45) return `p${i % 400}:`;
      if (r < 0.5) return `spotify:track:é${i}`;
      if (r < 0.55) return `é${i % 3}:x${i}`;
      if (r < 0.6) return `${'a'.repeat(70)}:${i}`;
      if (r < 0.65) return `a:b:c:${i}`;
      if (r < 0.7) return `spotify:trackx${i.toString(36)}`;
      if (r < 0.75) return `:${i}`;
      if (r < 0.8) return `session:${i}:${'ü'.repeat(i % 3)}`;
      // Ending in a UUID: packed when it is canonical (lower case) and the string ASCII.
      const u = uuid(i);
      if (r < 0.84) return `t_${u}`;
      if (r < 0.87) return `session:${i % 7}_${u}`;
      if (r < 0.89) return `queue:${u}`;
      if (r < 0.91) return u;
      if (r < 0.93) return `t_${u.toUpperCase()}`;
      if (r < 0.95) return `é_${u}`;
      if (r < 0.97) return `t_${u}x`;
      return `t_${u.slice(0, 35)}g`;
    };
    const all = [...Array.from({ length: 20_000 }, (_, i) => make(i)), 'spotify:track:', 'spotify:track', ':'];
    for (const s of all) {
      const want = ref.get(s);
      assert.equal(table.find(s), want, s);
      if (want === undefined) ref.set(s, table.add(s));
    }
    for (const [s, i] of ref) {
      assert.equal(table.get(i), s);
      assert.equal(table.find(s), i);
    }
    // Not in the table: a known prefix with another rest, a rest under another prefix.
    for (const s of ['spotify:track:zzzzzzzz', 'spotify:album:1', 'p1:', 'p1:2', 'session:1:ü', 'spotify:track:é']) assert.equal(table.find(s), ref.get(s), s);
    // A packed UUID against its look-alikes: other case, one digit off, another head.
    const packed = [...ref.keys()].filter((s) => /^t_[0-9a-f-]{36}$/.test(s)).slice(0, 50);
    assert.ok(packed.length >= 20);
    for (const s of packed) {
      const last = s.at(-1) === '0' ? '1' : '0';
      for (const other of [s.toUpperCase(), s.slice(0, -1) + last, `u_${s.slice(2)}`, s.slice(2), `${s}0`])
        assert.equal(table.find(other), ref.get(other), other);
    }
  });

  it('backs the catalog: ids in, ids out, lookups after removals and re-upserts', () => {
    const cat = new Catalog();
    const ids = Array.from({ length: 5000 }, (_, i) => (i % 3 ? `spotify:track:${i}` : `t_${i}-ü`));
    for (const id of ids) cat.ensure(id);
    cat.upsert({ id: ids[10]!, title: 'Ten', artist: 'A' });
    cat.remove(ids[11]!);
    assert.equal(cat.size, ids.length);
    ids.forEach((id, t) => {
      assert.equal(cat.id(t), id);
      assert.equal(cat.lookup(id), t);
      assert.equal(cat.ensure(id), t);
    });
    assert.equal(cat.lookup('nope'), undefined);
    assert.equal(cat.label(10), 'Ten by A');
    assert.equal(cat.label(12), ids[12]);
  });
});

describe('Baskets arena', () => {
  /** The plain model the arena replaced: an array of tracks and of weights per basket. */
  class Model {
    items = new Map<string, number[]>();
    weights = new Map<string, number[] | null>();
  }

  it('keeps every basket’s tracks and weights through appends, replacements, removals and compactions', () => {
    const b = new Baskets();
    const m = new Model();
    const rnd = seeded(7);
    const keys = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `session:${i}` : i % 3 === 1 ? `playlist:${i}` : `queue:${i}`));
    const check = () => {
      for (const [key, items] of m.items) {
        const x = b.basketOf(key)!;
        assert.ok(!b.dead[x], key);
        assert.equal(b.keyOf(x), key);
        assert.deepEqual(b.items(x), items, key);
        assert.equal(b.length(x), items.length);
        assert.equal(b.last(x), items.length ? items[items.length - 1] : -1);
        const ws = m.weights.get(key)!;
        assert.deepEqual(b.weights(x), ws, key);
        items.forEach((t, i) => {
          assert.equal(b.weight(x, i), ws ? ws[i] : 1);
          assert.ok(b.has(x, t));
          assert.equal(b.data[b.start[x]! + i], t);
          assert.ok(Array.from(b.of(t)).includes(x), `${key} is in the postings of ${t}`);
        });
      }
      assert.equal(b.live, m.items.size);
      for (const key of keys) if (!m.items.has(key)) assert.equal(b.basketOf(key), undefined, key);
    };
    for (let step = 0; step < 20_000; step++) {
      const key = keys[Math.floor(rnd() * keys.length)]!;
      const r = rnd();
      if (key.startsWith('session:') && r < 0.8) {
        // Sessions grow a play at a time (interleaved: they move in the arena).
        const t = Math.floor(rnd() * 500);
        const w = rnd() < 0.3 ? SKIPPED_WEIGHT : 1;
        b.append(key, 'session', t, w);
        if (!m.items.has(key)) {
          m.items.set(key, []);
          m.weights.set(key, []);
        }
        const items = m.items.get(key)!;
        items.push(t);
        // A basket set without weights gets them at its first non-unit one (the earlier weigh 1).
        const ws = m.weights.get(key)!;
        if (ws) ws.push(w);
        else if (w !== 1) m.weights.set(key, [...items.slice(0, -1).map(() => 1), w]);
      } else if (r < 0.93) {
        const tracks = Array.from({ length: Math.floor(rnd() * 30) }, () => Math.floor(rnd() * 500));
        b.set(key, key.startsWith('session:') ? 'session' : key.startsWith('playlist:') ? 'playlist' : 'queue', tracks);
        m.items.set(key, tracks);
        m.weights.set(key, null);
      } else {
        b.remove(key);
        m.items.delete(key);
        m.weights.delete(key);
      }
      if (step % 2500 === 0) check();
      if (step === 10_000) b.trim();
    }
    check();
    b.trim();
    check();
  });

  it('a basket with a first non-unit weight weighs its earlier items 1', () => {
    const b = new Baskets();
    b.append('queue:q', 'queue', 1);
    b.append('queue:q', 'queue', 2);
    const x = b.basketOf('queue:q')!;
    assert.equal(b.weights(x), null, 'no weights while all weigh 1');
    b.append('queue:q', 'queue', 3, SKIPPED_WEIGHT);
    assert.deepEqual(b.weights(x), [1, 1, SKIPPED_WEIGHT]);
    assert.equal(b.weighted[x], 1);
  });
});

describe('ContextTracks counts', () => {
  /** The layout it replaced: one Uint16Array of plays per track and feature. */
  class Reference {
    counts = new Map<string, number[]>();
    totals = new Map<string, number>();
    all: number[] = [];
    total = 0;
    observe(track: number, features: readonly string[]) {
      this.all[track] = (this.all[track] ?? 0) + 1;
      this.total++;
      for (const f of features) {
        if (!/^(hour|tod|day|kind):/.test(f)) continue;
        const a = this.counts.get(f) ?? [];
        a[track] = Math.min(65_535, (a[track] ?? 0) + 1);
        this.counts.set(f, a);
        this.totals.set(f, (this.totals.get(f) ?? 0) + 1);
      }
    }
    top(features: readonly string[], limit: number) {
      const fs = features.filter((f) => this.counts.has(f));
      const out: { track: number; score: number }[] = [];
      for (let t = 0; t < this.all.length; t++) {
        const c = this.all[t] ?? 0;
        if (c <= 0) continue;
        let score = Math.log(c / this.total);
        for (const f of fs) {
          const expected = (c * this.totals.get(f)!) / this.total;
          score += Math.log(((this.counts.get(f)![t] ?? 0) + 10) / (expected + 10));
        }
        out.push({ track: t, score });
      }
      out.sort((a, b) => b.score - a.score || a.track - b.track);
      return out.slice(0, limit);
    }
  }

  it('ranks as one exact count per track and feature did, counts past a byte included', () => {
    const model = new ContextTracks();
    const ref = new Reference();
    const rnd = seeded(11);
    // A few tracks played hundreds of times in one hour (past 255: kept on the side), many a few times.
    for (let i = 0; i < 60_000; i++) {
      const hot = rnd() < 0.3;
      const t = hot ? Math.floor(rnd() * 8) : Math.floor(rnd() * 3000);
      const features = [`hour:${hot ? 5 : Math.floor(rnd() * 24)}`, `day:${Math.floor(rnd() * 7)}`, 'weather:rain'];
      model.observe(t, features);
      ref.observe(t, features);
    }
    model.trim(3000);
    // Lists of one, of a few (many tied scores), and longer than the tracks played (round 7: a bounded selection, not a sort of all).
    for (const fs of [['hour:5'], ['hour:5', 'day:2'], ['hour:17'], ['weather:rain'], []])
      for (const limit of [0, 1, 3, 50, 5000]) assert.deepEqual(model.top(fs, limit), ref.top(fs, limit), `${fs.join(',')} ${limit}`);
  });
});
