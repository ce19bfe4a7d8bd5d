// The importers on small fixtures made here (CSV, JSONL, MPD JSONL and slices,
// sessions CSV; plain and gzipped), into a real SQLite store, then the engine built
// from that store; and the CLI command as a process, with its progress line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { importPlaylists, importSessions, importTracks } from '../../src/catalog/cli.ts';
import { mpdPlaylists, parseCsvLine, type ReadProgress } from '../../src/catalog/formats.ts';
import type { CatalogStore } from '../../src/catalog/store.ts';
import { openSqliteStore, sqliteStorage } from '../../src/stores.ts';
import { CatalogSync } from '../../src/catalog/sync.ts';
import { Recommender } from '../../src/reco/recommender.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';

const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'qs-import-'));
const file = (name: string, text: string, gz = false) => {
  const p = join(dir, name);
  writeFileSync(p, gz ? gzipSync(text) : text);
  return p;
};
const progress = (): ReadProgress => ({ bytes: 0, total: 0 });
const noop = () => {};

describe('importers', () => {
  let store: SqliteStore;
  let catalog: CatalogStore;

  before(async () => {
    store = openSqliteStore(join(dir, 'queue.db'));
    await store.migrate();
    catalog = sqliteStorage(store).features().catalog;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses CSV lines with quotes, commas and empty fields', () => {
    assert.deepEqual(parseCsvLine('a,"b, c","say ""hi""",,e'), ['a', 'b, c', 'say "hi"', '', 'e']);
    assert.deepEqual(parseCsvLine('x,'), ['x', '']);
    assert.throws(() => parseCsvLine('"open'));
  });

  it('imports a catalog CSV (gzipped) with genres and features, skipping rows without an artist', async () => {
    const csv = [
      'id,title,artist,album,album_id,duration_ms,genres,energy,tempo,release_date',
      't1,"Hello, World",Ann,First,al1,200000,pop|rock,0.8,120,2020-01-02',
      't2,Second,Ann,First,al1,180000,pop,0.7,,2020',
      't3,No artist,,,,,,,,',
    ].join('\n');
    const p = progress();
    const r = await importTracks(catalog, file('tracks.csv.gz', csv, true), 'csv', noop, p);
    assert.deepEqual(r, { read: 2, skipped: 1 });
    assert.ok(p.total > 0 && p.bytes === p.total, 'progress counted the whole file');
    const t1 = await catalog.getTrack('t1');
    assert.equal(t1?.title, 'Hello, World');
    assert.deepEqual(t1?.genres, ['pop', 'rock']);
    assert.deepEqual(t1?.features, { energy: 0.8, tempo: 120 });
    assert.equal(t1?.durationMs, 200000);
    assert.equal(t1?.albumId, 'al1');
    assert.equal(await catalog.getTrack('t3'), null);
  });

  it('imports a catalog JSONL and upserts by id (the last wins)', async () => {
    const jsonl = [
      JSON.stringify({ id: 't4', title: 'Four', artist: 'Bob', duration: 61, genres: ['jazz'], features: { valence: 0.2 } }),
      JSON.stringify({ id: 't1', title: 'Hello again', artist: 'Ann' }),
    ].join('\n');
    const r = await importTracks(catalog, file('tracks.jsonl', jsonl), 'jsonl', noop, progress());
    assert.equal(r.read, 2);
    assert.equal((await catalog.getTrack('t4'))?.durationMs, 61000);
    assert.equal((await catalog.getTrack('t1'))?.title, 'Hello again');
  });

  it('imports MPD playlists from JSONL and from a JSON slice with inline track metadata', async () => {
    const jsonl = [
      JSON.stringify({ pid: 1, name: 'Road trip', num_followers: 3, tracks: ['t1', 't2', 't4'] }),
      JSON.stringify({ pid: 2, name: 'Chill', num_followers: 1, tracks: ['t2', 't4'] }),
    ].join('\n');
    assert.equal(await importPlaylists(catalog, file('mpd.jsonl.gz', jsonl, true), noop, progress()), 2);
    const slice = JSON.stringify(
      {
        info: { slice: '0-1' },
        playlists: [
          {
            pid: 3,
            name: 'Slice',
            num_followers: 0,
            tracks: [
              {
                pos: 0,
                track_uri: 'spotify:track:s1',
                track_name: 'S One',
                artist_name: 'Cat',
                album_uri: 'spotify:album:x',
                album_name: 'X',
                duration_ms: 1000,
              },
              {
                pos: 1,
                track_uri: 'spotify:track:s2',
                track_name: 'S Two',
                artist_name: 'Cat',
                album_uri: 'spotify:album:x',
                album_name: 'X',
                duration_ms: 2000,
              },
            ],
          },
        ],
      },
      null,
      2,
    );
    const seen = [];
    for await (const p of mpdPlaylists(file('slice.json', slice))) seen.push(p);
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]!.tracks, ['spotify:track:s1', 'spotify:track:s2']);
    assert.equal(await importPlaylists(catalog, join(dir, 'slice.json'), noop, progress()), 1);
    assert.equal((await catalog.getTrack('spotify:track:s2'))?.albumId, 'spotify:album:x');
    const pl = await catalog.getPlaylist('1');
    assert.deepEqual(pl?.tracks, ['t1', 't2', 't4']);
    assert.equal(pl?.name, 'Road trip');
  });

  it('imports sessions as anonymous plays: skip_2 is a skip, with hour and context type', async () => {
    const header =
      'session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end';
    const row = (s: string, pos: number, t: string, skip: boolean) =>
      `${s},${pos},2,${t},${skip},${skip},${skip},${!skip},0,0,0,0,0,0,false,21,2018-07-14,true,radio,fwdbtn,fwdbtn`;
    const csv = [header, row('s1', 1, 't1', true), row('s1', 2, 't2', false), row('s2', 1, 't2', false), row('s2', 2, 't4', false)].join('\n');
    const r = await importSessions(catalog, file('sessions.csv.gz', csv, true), noop, progress());
    assert.deepEqual(r, { plays: 4, sessions: 2 });
    const events = await catalog.eventsAfter(0, 10);
    assert.deepEqual(
      events.map((e) => [e.sessionId, e.trackId, e.action, e.hour, e.contextType, e.userId]),
      [
        ['s1', 't1', 'skip', 21, 'radio', null],
        ['s1', 't2', 'complete', 21, 'radio', null],
        ['s2', 't2', 'complete', 21, 'radio', null],
        ['s2', 't4', 'complete', 21, 'radio', null],
      ],
    );
    assert.equal(events[0]!.occurredAt, '2018-07-14T21:00:00.000Z');
  });

  it('the engine built from the store knows all of it', async () => {
    const reco = new Recommender();
    const sync = new CatalogSync(catalog, reco, { outOfOrder: false });
    await sync.ready;
    const cat = reco.engine.catalog;
    assert.equal(cat.title(cat.lookup('t1')!), 'Hello again');
    assert.ok(reco.engine.baskets.basketOf('playlist:1') !== undefined);
    assert.ok(reco.engine.baskets.basketOf('session:s1') !== undefined);
    const t2 = cat.lookup('t2')!;
    assert.equal(cat.plays[t2], 2);
    assert.equal(cat.skips[cat.lookup('t1')!], 1);
    const kinds = reco.contexts.rank(['hour:7']);
    assert.equal(kinds[0]!.kind, 'radio', 'imported sessions feed the context prior');
    // A later import is picked up by the next catch-up.
    await catalog.upsertTracks([{ id: 't9', title: 'Nine', artist: 'Dee' }], new Date().toISOString());
    await sync.refresh();
    assert.equal(cat.title(cat.lookup('t9')!), 'Nine');
  });

  it("[issue 21] listening events this process appended are applied once, without reading them back; after another writer's row, the table is read", async () => {
    // The real store, with a count of the catch-up reads of the events table.
    let reads = 0;
    const counted: CatalogStore = Object.create(catalog);
    counted.eventsAfter = (id, limit) => {
      reads++;
      return catalog.eventsAfter(id, limit);
    };
    const reco = new Recommender();
    const sync = new CatalogSync(counted, reco, { outOfOrder: false });
    await sync.ready;
    const cat = reco.engine.catalog;
    const t4 = cat.lookup('t4')!;
    const base = cat.plays[t4]!;
    const play = (sessionId: string) => ({
      userId: 'u-own',
      sessionId,
      trackId: 't4',
      action: 'complete' as const,
      position: null,
      source: 'queue:q-own',
      contextType: null,
      hour: 9,
      context: { activity: 'run' },
      occurredAt: new Date().toISOString(),
    });
    const own = async (sessionId: string) => {
      const rows = [play(sessionId)];
      const ids = await catalog.appendEvents(rows);
      await sync.applyOwnEvents(rows.map((r, i) => ({ ...r, id: ids[i]! })));
    };
    const before = reads;
    await own('own-1');
    assert.equal(cat.plays[t4], base + 1);
    assert.equal(reads, before, 'applied as written, not read back');
    await sync.refresh();
    assert.equal(cat.plays[t4], base + 1, 'a later catch-up does not apply it again');
    // Another writer's row comes first: ours may not skip over it, so the table is read.
    await catalog.appendEvents([play('someone-else')]);
    const beforeOther = reads;
    await own('own-2');
    assert.ok(reads > beforeOther, 'read back');
    assert.equal(cat.plays[t4], base + 3, "both: the other writer's and ours, once each");
    await sync.refresh();
    assert.equal(cat.plays[t4], base + 3);
  });
});

describe('catalog CLI', () => {
  it('imports tracks with a progress line and a summary', () => {
    const d = mkdtempSync(join(tmpdir(), 'qs-cli-catalog-'));
    try {
      const csv = ['track_uri,track_name,artist_name', ...Array.from({ length: 50 }, (_, i) => `spotify:track:${i},Name ${i},Artist ${i % 5}`)].join('\n');
      writeFileSync(join(d, 'tracks.csv'), csv);
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: d };
      const r = spawnSync(process.execPath, [join(root, 'src/cli.ts'), 'catalog', 'import-tracks', join(d, 'tracks.csv')], {
        env,
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /\rtracks: 50 \(100%\)\n/);
      assert.match(r.stderr, /imported 50 tracks into SQLite file .*queue\.db in [\d.]+ s/);
      const bad = spawnSync(process.execPath, [join(root, 'src/cli.ts'), 'catalog', 'import-nothing', 'x'], { env, cwd: root, encoding: 'utf8' });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /unknown catalog command/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
