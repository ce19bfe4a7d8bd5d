// Issue 24: radio's memory of a listener is configured by a short window, a count and a
// retention in days; the old 30-day window's variable is refused rather than ignored.
// The pruning loop deletes in batches until a batch comes back short.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RADIO, loadConfig } from '../../src/config.ts';
import { pruneRadioHistory } from '../../src/radio/service.ts';
import { select } from '../../src/reco/engine.ts';

describe('radio bounds (issue 24)', () => {
  it('reads RADIO_RECENT_HOURS, RADIO_RECENT_TRACKS and RADIO_HISTORY_DAYS, with defaults', () => {
    assert.deepEqual(loadConfig({}).radio, { recentHours: 24, recentTracks: 200, historyDays: 90 });
    assert.deepEqual(DEFAULT_RADIO, loadConfig({}).radio);
    assert.deepEqual(loadConfig({ RADIO_RECENT_HOURS: '0', RADIO_RECENT_TRACKS: '50', RADIO_HISTORY_DAYS: '7' }).radio, {
      recentHours: 0,
      recentTracks: 50,
      historyDays: 7,
    });
    assert.throws(() => loadConfig({ RADIO_HISTORY_DAYS: '0' }), /RADIO_HISTORY_DAYS must be an integer >= 1/);
    assert.throws(() => loadConfig({ RADIO_RECENT_TRACKS: '-1' }), /RADIO_RECENT_TRACKS must be an integer >= 0/);
  });

  it('refuses RADIO_NO_REPEAT_DAYS at start and says what replaced it', () => {
    assert.throws(() => loadConfig({ RADIO_NO_REPEAT_DAYS: '30' }), /RADIO_NO_REPEAT_DAYS is no longer read; use RADIO_RECENT_HOURS and RADIO_RECENT_TRACKS/);
    assert.doesNotThrow(() => loadConfig({ RADIO_NO_REPEAT_DAYS: '' }));
  });

  it('prunes history older than RADIO_HISTORY_DAYS a batch at a time until a batch comes back short', async () => {
    const now = Date.parse('2026-12-01T00:00:00.000Z');
    let rows = 12_345;
    const calls: { before: string; limit: number }[] = [];
    const catalog = {
      async pruneRadioHistory(before: string, limit: number) {
        calls.push({ before, limit });
        const n = Math.min(rows, limit);
        rows -= n;
        return n;
      },
    };
    assert.equal(await pruneRadioHistory(catalog, { ...DEFAULT_RADIO, historyDays: 10 }, now), 12_345);
    assert.equal(rows, 0);
    assert.deepEqual(
      calls.map((c) => c.before),
      Array(3).fill('2026-11-21T00:00:00.000Z'),
    );
    assert.equal(await pruneRadioHistory(catalog, DEFAULT_RADIO, now), 0);
  });

  it('select finds the k-th smallest as sorting would, duplicates and all', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (const n of [1, 2, 3, 10, 101, 5_000]) {
      for (const distinct of [2, 50, 1e9]) {
        const xs = Float64Array.from({ length: n }, () => Math.floor(rand() * distinct) / 7);
        const sorted = Float64Array.from(xs).sort();
        for (const k of [0, n - 1, Math.floor(n / 2), Math.floor(rand() * n)]) assert.equal(select(Float64Array.from(xs), k), sorted[k], `n ${n} k ${k}`);
      }
    }
  });
});
