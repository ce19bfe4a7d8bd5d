// Issue 24: the catalog's most popular tracks come from a selection (the whole catalog's
// sort blocked the event loop for 200-350 ms on the shared data); they must be the same
// tracks in the same order as the full sort (popularity, then index), ties included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Catalog, POPULAR_TOP } from '../../src/reco/catalog.ts';
import { select } from '../../src/reco/select.ts';
import { mulberry32 as seeded } from '../helpers/random.ts';

describe('most popular tracks (issue 24)', () => {
  it('the top is the full order cut, ties broken by index, as popularity changes', () => {
    const cat = new Catalog();
    const rnd = seeded(24);
    const n = POPULAR_TOP * 3;
    for (let t = 0; t < n; t++) cat.ensure(`t${t}`);
    for (let round = 0; round < 4; round++) {
      // Few distinct values: most tracks tie with many others.
      for (let i = 0; i < n; i++) cat.addPopularity(Math.floor(rnd() * n), rnd() < 0.2 ? 0.25 : 1);
      if (round === 2) for (let t = 0; t < 50; t++) cat.remove(`t${t * 7}`);
      const full = cat.popular(n);
      assert.equal(cat.popularCount, full.length);
      assert.deepEqual(cat.popular(POPULAR_TOP), full.slice(0, POPULAR_TOP));
      assert.deepEqual(cat.popular(10), full.slice(0, 10));
      for (let i = 1; i < full.length; i++) {
        const [a, b] = [full[i - 1]!, full[i]!];
        assert.ok(cat.popularity[a]! > cat.popularity[b]! || (cat.popularity[a] === cat.popularity[b] && a < b));
      }
    }
  });

  it('select answers the k-th smallest, with and without many equal values', () => {
    const rnd = seeded(7);
    for (let r = 0; r < 300; r++) {
      const m = 1 + Math.floor(rnd() * 400);
      const distinct = 1 + (r % 9) * 5;
      const a = Float64Array.from({ length: m }, () => Math.floor(rnd() * distinct) / 4);
      const k = Math.floor(rnd() * m);
      assert.equal(select(a.slice(), k), a.slice().sort()[k]);
    }
  });
});
