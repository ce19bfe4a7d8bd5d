// `queue-service catalog <command>`: operator imports into the catalog tables, in
// batches, with a progress line on stderr. A running server picks the new rows up on
// its next catch-up (see sync.ts); re-running an import upserts tracks and playlists
// again but appends sessions again, so import sessions once.
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import type { TrackMeta } from '../reco/catalog.ts';
import { describeStore } from '../store/index.ts';
import { csvRecords, mpdPlaylists, readLines, sessionPlay, trackFromCsv, trackFromJson, type ReadProgress } from './formats.ts';
import type { CatalogStore, NewListeningEvent } from './store.ts';

export const catalogUsage = `  catalog import-tracks FILE [--format csv|jsonl]
                              import catalog tracks (CSV with a header, or JSONL; .gz too)
  catalog import-playlists FILE [--tracks FILE]
                              import MPD playlists (JSONL or JSON slices; .gz too) and, with
                              --tracks, their tracks CSV (track_uri, track_name, artist_name)
  catalog import-sessions FILE
                              import listening sessions (the Spotify sessions CSV; .gz too)
`;

const TRACK_BATCH = 1000;
const PLAYLIST_BATCH = 200;
const EVENT_BATCH = 5000;

/** No NUL characters (PostgreSQL refuses them in text). */
const clean = (s: string) => (s.includes('\u0000') ? s.replaceAll('\u0000', '') : s);

export function progress(label: string, p: ReadProgress, out: NodeJS.WritableStream = process.stderr) {
  let last = 0;
  return (n: number, final = false) => {
    const now = Date.now();
    if (!final && now - last < 250) return;
    last = now;
    const pct = p.total > 0 ? ` (${Math.min(100, (100 * p.bytes) / p.total).toFixed(0)}%)` : '';
    out.write(`\r${label}: ${n.toLocaleString('en')}${pct}${final ? '\n' : ''}`);
  };
}

/** Reads tracks (CSV or JSONL) into the store in batches; returns how many were read. */
export async function importTracks(
  store: CatalogStore,
  file: string,
  format: 'csv' | 'jsonl',
  tick: (n: number) => void,
  p: ReadProgress,
): Promise<{ read: number; skipped: number }> {
  let batch: TrackMeta[] = [];
  let read = 0;
  let skipped = 0;
  const flush = async () => {
    if (batch.length) await store.upsertTracks(batch, new Date().toISOString());
    batch = [];
  };
  const records = format === 'csv' ? csvTracks(file, p) : jsonlTracks(file, p);
  for await (const t of records) {
    if (!t.id || !t.title || !t.artist || t.id.length > 128) {
      skipped++;
      continue;
    }
    batch.push({ ...t, id: clean(t.id), title: clean(t.title), artist: clean(t.artist) });
    read++;
    if (batch.length >= TRACK_BATCH) await flush();
    tick(read);
  }
  await flush();
  return { read, skipped };
}

async function* csvTracks(file: string, p: ReadProgress): AsyncGenerator<TrackMeta> {
  for await (const { row } of csvRecords(file, p)) yield trackFromCsv(row);
}

async function* jsonlTracks(file: string, p: ReadProgress): AsyncGenerator<TrackMeta> {
  let n = 0;
  for await (const line of readLines(file, p)) {
    n++;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not JSON`);
    }
    if (o && typeof o === 'object') yield trackFromJson(o as Record<string, unknown>);
  }
}

export async function importPlaylists(store: CatalogStore, file: string, tick: (n: number) => void, p: ReadProgress): Promise<number> {
  let batch: { id: string; name: string; followers: number | null; tracks: string[] }[] = [];
  let meta: TrackMeta[] = [];
  let n = 0;
  const flush = async () => {
    // Tracks first: a running server that catches up between the two sees them described.
    for (let i = 0; i < meta.length; i += TRACK_BATCH) await store.upsertTracks(meta.slice(i, i + TRACK_BATCH), new Date().toISOString());
    if (batch.length) await store.upsertPlaylists(batch, new Date().toISOString());
    batch = [];
    meta = [];
  };
  for await (const pl of mpdPlaylists(file, p)) {
    for (const m of pl.trackMeta) if (m.id.length <= 128) meta.push({ ...m, id: clean(m.id), title: clean(m.title), artist: clean(m.artist) });
    batch.push({
      id: clean(pl.id),
      name: clean(pl.name),
      followers: pl.followers,
      tracks: pl.tracks.filter((t) => t.length > 0 && t.length <= 128).map(clean),
    });
    n++;
    if (batch.length >= PLAYLIST_BATCH) await flush();
    tick(n);
  }
  await flush();
  return n;
}

/** Sessions CSV rows as anonymous listening events: skip_2 is a skip, else a complete play. */
export async function importSessions(
  store: CatalogStore,
  file: string,
  tick: (n: number) => void,
  p: ReadProgress,
): Promise<{ plays: number; sessions: number }> {
  let batch: NewListeningEvent[] = [];
  let plays = 0;
  const sessions = new Set<string>();
  for await (const { row } of csvRecords(file, p)) {
    const s = sessionPlay(row);
    if (!s.sessionId || !s.trackId) continue;
    sessions.add(s.sessionId);
    const day = s.date && /^\d{4}-\d{2}-\d{2}$/.test(s.date) ? s.date : '1970-01-01';
    const hour = s.hour !== null && s.hour >= 0 && s.hour < 24 ? s.hour : null;
    batch.push({
      userId: null,
      sessionId: clean(s.sessionId),
      trackId: clean(s.trackId),
      action: s.skipped ? 'skip' : 'complete',
      position: null,
      source: 'import',
      contextType: s.contextType,
      hour,
      context: null,
      occurredAt: `${day}T${String(hour ?? 0).padStart(2, '0')}:00:00.000Z`,
    });
    plays++;
    if (batch.length >= EVENT_BATCH) {
      await store.appendEvents(batch);
      batch = [];
    }
    tick(plays);
  }
  if (batch.length) await store.appendEvents(batch);
  return { plays, sessions: sessions.size };
}

/** The storage the CLI opens (src/stores.ts): the main store to migrate and close, and the catalog on it. */
export interface CatalogStorage {
  store: { migrate(): Promise<unknown>; close(): Promise<void> };
  features(): { catalog: CatalogStore };
}

export async function catalogCommand(argv: string[], config: Config, open: () => CatalogStorage): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string' }, tracks: { type: 'string' } },
  });
  const [command, file] = positionals;
  if (!command || !file) {
    process.stderr.write(`usage:\n${catalogUsage}`);
    return 2;
  }
  const storage = open();
  const { store } = storage;
  try {
    await store.migrate();
    const { catalog } = storage.features();
    const where = describeStore(config);
    const t0 = Date.now();
    const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
    switch (command) {
      case 'import-tracks': {
        const format = (values.format ?? (/\.jsonl?(\.gz)?$/i.test(file) ? 'jsonl' : 'csv')) as 'csv' | 'jsonl';
        if (format !== 'csv' && format !== 'jsonl') throw new Error('--format is csv or jsonl');
        const p: ReadProgress = { bytes: 0, total: 0 };
        const tick = progress('tracks', p);
        const r = await importTracks(catalog, file, format, tick, p);
        tick(r.read, true);
        process.stderr.write(
          `imported ${r.read.toLocaleString('en')} tracks${r.skipped ? `, skipped ${r.skipped} without id, title or artist` : ''} into ${where} in ${secs()} s\n`,
        );
        return 0;
      }
      case 'import-playlists': {
        if (values.tracks) {
          const p: ReadProgress = { bytes: 0, total: 0 };
          const tick = progress('tracks', p);
          const r = await importTracks(catalog, values.tracks, 'csv', tick, p);
          tick(r.read, true);
        }
        const p: ReadProgress = { bytes: 0, total: 0 };
        const tick = progress('playlists', p);
        const n = await importPlaylists(catalog, file, tick, p);
        tick(n, true);
        process.stderr.write(`imported ${n.toLocaleString('en')} playlists into ${where} in ${secs()} s\n`);
        return 0;
      }
      case 'import-sessions': {
        const p: ReadProgress = { bytes: 0, total: 0 };
        const tick = progress('plays', p);
        const r = await importSessions(catalog, file, tick, p);
        tick(r.plays, true);
        process.stderr.write(`imported ${r.plays.toLocaleString('en')} plays in ${r.sessions.toLocaleString('en')} sessions into ${where} in ${secs()} s\n`);
        return 0;
      }
      default:
        process.stderr.write(`unknown catalog command "${command}"\n\nusage:\n${catalogUsage}`);
        return 2;
    }
  } finally {
    await store.close();
  }
}
