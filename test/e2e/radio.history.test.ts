// Issue 24: radio's memory of a listener is bounded. Against real server processes on
// both stores: a listener with 100,000 radio-history rows still gets a station and an
// extend quickly (a loose bound here; the real figures come from bench/reco.ts); a station
// never repeats itself across 30 extends; another station avoids only what the listener
// heard inside the recent window; the sweeper deletes history older than
// RADIO_HISTORY_DAYS. History is written straight into the database, dated in the past.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { generateCatalog } from '../helpers/catalog.ts';
import { client, mintToken, startServerOn, storeKinds, type RunningServer } from '../helpers/server.ts';
import type { TempDatabase } from '../helpers/pg.ts';
import { waitFor } from '../helpers/wait.ts';

type Res = Awaited<ReturnType<ReturnType<typeof client>>>;

function ok(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const g = generateCatalog({ artists: 80, tracksPerArtist: 10, clusters: 4, playlists: 300, length: 14 });
const enc = encodeURIComponent;
const HOUR = 3_600_000;

interface HistoryRow {
  queueId: string;
  trackId: string;
  userId: string;
  at: number;
}

/** Writes radio-history rows into the server's database (SQLite file or PostgreSQL). */
function historyWriter(server: RunningServer, db: TempDatabase | null) {
  if (db) {
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    return {
      async insert(rows: HistoryRow[]) {
        for (let i = 0; i < rows.length; i += 10_000) {
          const part = rows.slice(i, i + 10_000);
          await pool.query(
            `INSERT INTO radio_history (queue_id, track_id, user_id, added_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT DO NOTHING`,
            [part.map((r) => r.queueId), part.map((r) => r.trackId), part.map((r) => r.userId), part.map((r) => new Date(r.at).toISOString())],
          );
        }
      },
      async count(userId: string): Promise<number> {
        const r = await pool.query<{ n: string }>('SELECT count(*) AS n FROM radio_history WHERE user_id = $1', [userId]);
        return Number(r.rows[0]!.n);
      },
      close: () => pool.end(),
    };
  }
  const sqlite = new Database(join(server.dataDir, 'queue.db'));
  sqlite.pragma('busy_timeout = 5000');
  const ins = sqlite.prepare('INSERT OR IGNORE INTO radio_history (queue_id, track_id, user_id, added_at) VALUES (?, ?, ?, ?)');
  return {
    async insert(rows: HistoryRow[]) {
      sqlite.transaction(() => {
        for (const r of rows) ins.run(r.queueId, r.trackId, r.userId, new Date(r.at).toISOString());
      })();
    },
    async count(userId: string): Promise<number> {
      return (sqlite.prepare('SELECT count(*) AS n FROM radio_history WHERE user_id = ?').get(userId) as { n: number }).n;
    },
    close: async () => sqlite.close(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const { kind, skip } of storeKinds) {
  describe(`radio history is bounded (issue 24, ${kind})`, { skip, timeout: 240_000 }, () => {
    let server: RunningServer & { cleanup(): Promise<void>; db: TempDatabase | null };
    let history: ReturnType<typeof historyWriter>;
    let admin: ReturnType<typeof client>;

    before(async () => {
      server = await startServerOn(kind, { env: { SWEEP_INTERVAL_MS: '300', RADIO_RECENT_HOURS: '24', RADIO_HISTORY_DAYS: '90' } });
      admin = client(server.url, server.adminKey);
      ok(await admin('POST', '/catalog/tracks', { tracks: g.tracks }));
      for (let i = 0; i < g.playlists.length; i += 100) ok(await admin('POST', '/catalog/playlists', { playlists: g.playlists.slice(i, i + 100) }));
      history = historyWriter(server, server.db);
    });

    after(async () => {
      await history?.close();
      await server?.cleanup();
    });

    it('a listener with 100,000 radio-history rows gets a station and an extend of 50 quickly, and a full one', async () => {
      const now = Date.now();
      const rows: HistoryRow[] = [];
      // 2,000 stations over the last 80 days, 50 tracks each: every track of the catalog many times.
      for (let q = 0; q < 2_000; q++) {
        for (let k = 0; k < 50; k++) {
          rows.push({
            queueId: `old-${q}`,
            trackId: g.tracks[(q * 37 + k) % g.tracks.length]!.id,
            userId: 'heavy',
            at: now - 80 * 24 * HOUR + q * 3.4 * 1_000_000,
          });
        }
      }
      await history.insert(rows);
      assert.equal(await history.count('heavy'), 100_000);
      const heavy = client(server.url, await mintToken(server, 'heavy'));
      const starts: number[] = [];
      const extends_: number[] = [];
      for (let i = 0; i < 5; i++) {
        let t = performance.now();
        const created = ok(await heavy('POST', `/radio/${enc(`artist:Artist ${i}`)}/queue`, { userId: 'me' }), 201);
        starts.push(performance.now() - t);
        assert.equal(created.items.length, 20, 'a full first batch although the whole catalog is in the history');
        t = performance.now();
        const ext = ok(await heavy('POST', `/queues/${created.queue.id}/extend?count=50`));
        extends_.push(performance.now() - t);
        assert.equal(ext.items.length, 50);
      }
      // Loose: CI machines are shared. Reading the whole history took ~0.9 s a call (issue 24).
      assert.ok(median(starts) < 400 && Math.max(...starts) < 2_000, `station starts ${starts.map(Math.round).join(', ')} ms`);
      assert.ok(median(extends_) < 400 && Math.max(...extends_) < 2_000, `extends ${extends_.map(Math.round).join(', ')} ms`);
    });

    it('a station never repeats itself across 30 extends', async () => {
      const walt = client(server.url, await mintToken(server, 'walt'));
      const created = ok(await walt('POST', `/radio/${enc('artist:Artist 3')}/queue`, { userId: 'me' }), 201);
      for (let i = 0; i < 30; i++) assert.equal(ok(await walt('POST', `/queues/${created.queue.id}/extend?count=20`)).items.length, 20);
      const all = ok(await walt('GET', `/queues/${created.queue.id}?limit=1000`)).items.map((x: any) => x.trackId);
      assert.equal(all.length, 620);
      assert.equal(new Set(all).size, all.length, 'no track twice while the catalog has others');
    });

    it("another station avoids what the listener heard inside the recent window only, and a station's own history still", async () => {
      const station = `/radio/${enc('artist:Artist 7')}/queue`;
      // A listener with no history: what the station plays first.
      const fresh = ok(await client(server.url, await mintToken(server, 'yuri'))('POST', station, { userId: 'me' }), 201).items.map((x: any) => x.trackId);
      assert.equal(fresh.length, 20);
      const now = Date.now();
      const inWindow = fresh.slice(0, 10);
      const beforeWindow = fresh.slice(10);
      await history.insert([
        ...inWindow.map((trackId: string) => ({ queueId: 'xena-1', trackId, userId: 'xena', at: now - 2 * HOUR })),
        ...beforeWindow.map((trackId: string) => ({ queueId: 'xena-0', trackId, userId: 'xena', at: now - 30 * HOUR })),
      ]);
      const xena = client(server.url, await mintToken(server, 'xena'));
      const got = ok(await xena('POST', station, { userId: 'me' }), 201).items.map((x: any) => x.trackId);
      assert.equal(got.length, 20);
      assert.deepEqual(
        got.filter((t: string) => inWindow.includes(t)),
        [],
        'heard 2 hours ago (RADIO_RECENT_HOURS=24): avoided while others are left',
      );
      assert.ok(got.filter((t: string) => beforeWindow.includes(t)).length >= 5, `heard 30 hours ago: back on a new station (${got.join(' ')})`);
    });

    it('a skip is avoided beyond the recent window; a play outside it is not', async () => {
      const station = `/radio/${enc(`track:${g.trackId(22, 1)}`)}/queue`;
      const first = ok(await client(server.url, await mintToken(server, 'ursula'))('POST', station, { userId: 'me' }), 201).items.map((x: any) => x.trackId);
      const x = first[0];
      const at = (h: number) => new Date(Date.now() - h * HOUR).toISOString();
      // A late skip (200 s in: the taste profile barely holds it against the track), then 60
      // plays (29 hours ago), so it is not among the listener's newest plays either: only the
      // skip rule keeps it off (without it this fails).
      const later = Array.from({ length: 60 }, (_, i) => ({ trackId: g.trackId(1 + 4 * (i % 20), i % 3), action: 'complete', timestamp: at(29) }));
      const heard = async (user: string, action: string) => {
        const c = client(server.url, await mintToken(server, user));
        ok(await c('POST', '/users/me/history', { events: [{ trackId: x, action, position: 200, timestamp: at(30) }, ...later] }));
        return ok(await c('POST', station, { userId: 'me' }), 201).items.map((i: any) => i.trackId);
      };
      assert.ok(!(await heard('sam', 'skip')).includes(x), 'skipped 30 hours ago: still avoided');
      assert.ok((await heard('tim', 'complete')).includes(x), 'completed 30 hours ago: back');
    });

    it('the sweeper deletes radio history older than RADIO_HISTORY_DAYS', async () => {
      const now = Date.now();
      await history.insert([
        ...Array.from({ length: 12_000 }, (_, i) => ({ queueId: `gone-${i % 100}`, trackId: `t${i}`, userId: 'olga', at: now - 100 * 24 * HOUR - i })),
        ...Array.from({ length: 7 }, (_, i) => ({ queueId: 'kept', trackId: `t${i}`, userId: 'olga', at: now - 89 * 24 * HOUR })),
      ]);
      // Every SWEEP_INTERVAL_MS (300 ms here), a batch at a time.
      await waitFor(async () => (await history.count('olga')) <= 7, { timeoutMs: 20_000, intervalMs: 200, what: 'the sweeper pruned olga' });
      assert.equal(await history.count('olga'), 7, 'only the rows inside 90 days are left');
    });
  });
}
