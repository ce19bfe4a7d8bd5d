// Readers for the files operators import: the catalog as CSV or JSONL, MPD playlist
// slices (JSON) or JSONL, MPD tracks CSV, and the Spotify sessions CSV. Gzip is
// recognised by its magic bytes. Each reader streams records; nothing holds a file.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { FEATURE_NAMES, type TrackMeta } from '../reco/catalog.ts';

/** Bytes read so far, for progress lines. */
export interface ReadProgress {
  bytes: number;
  total: number;
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Lines of a text file, gzipped or not. `progress.bytes` counts compressed bytes read. */
export async function* readLines(path: string, progress?: ReadProgress): AsyncGenerator<string> {
  if (progress) progress.total = (await stat(path)).size;
  const gz = await isGzip(path);
  // Listeners and pipes are attached in the same tick the stream is made: a 'data'
  // listener starts the flow, so nothing may be read before the gunzip is attached.
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (progress) raw.on('data', (d) => (progress.bytes += (d as Buffer).length));
  const input = gz ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (err) => input.destroy(err));
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) if (line.length > 0) yield line;
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** One CSV line (RFC 4180 quoting, no embedded newlines) into fields. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quoted field');
        s += line.slice(i, q);
        if (line[q + 1] === '"') {
          s += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(s);
      if (line[i] === ',') i++;
      else if (i < line.length) throw new Error(`unexpected character after a quoted field at ${i}`);
      else break;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        break;
      }
      out.push(line.slice(i, c));
      i = c + 1;
      if (i === line.length) {
        out.push('');
        break;
      }
    }
  }
  return out;
}

/** CSV rows as objects keyed by the header, with the line number for error messages. */
export async function* csvRecords(path: string, progress?: ReadProgress): AsyncGenerator<{ row: Record<string, string>; line: number }> {
  let header: string[] | null = null;
  let n = 0;
  for await (const line of readLines(path, progress)) {
    n++;
    const fields = parseCsvLine(line);
    if (!header) {
      header = fields.map((h) => h.trim().toLowerCase());
      continue;
    }
    const row: Record<string, string> = {};
    for (const [i, h] of header.entries()) row[h] = fields[i] ?? '';
    yield { row, line: n };
  }
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined || s.trim() === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
};

/**
 * A catalog CSV row. Columns (header names, any order): id (or track_id / track_uri),
 * title (or track_name / name), artist (or artist_name), album, album_id, duration_ms,
 * genres (separated by | or ;), release_date, and any of the audio features.
 */
export function trackFromCsv(row: Record<string, string>): TrackMeta {
  const id = row.id || row.track_id || row.track_uri || '';
  const genres = (row.genres ?? '')
    .split(/[|;]/)
    .map((g) => g.trim())
    .filter(Boolean);
  const features: Record<string, number> = {};
  for (const f of FEATURE_NAMES) {
    const v = num(row[f]);
    if (v !== undefined) features[f] = v;
  }
  return {
    id,
    title: row.title || row.track_name || row.name || '',
    artist: row.artist || row.artist_name || '',
    album: row.album || row.album_name || null,
    albumId: row.album_id || null,
    durationMs: num(row.duration_ms) ?? null,
    genres,
    features,
    releaseDate: row.release_date || null,
  };
}

/** A catalog JSONL line: the same object POST /catalog/tracks takes (durationMs or duration in seconds). */
export function trackFromJson(o: Record<string, unknown>): TrackMeta {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const duration = typeof o.durationMs === 'number' ? o.durationMs : typeof o.duration === 'number' ? o.duration * 1000 : null;
  return {
    id: str(o.id) ?? str(o.trackId) ?? '',
    title: str(o.title) ?? '',
    artist: str(o.artist) ?? '',
    album: str(o.album) ?? null,
    albumId: str(o.albumId) ?? null,
    durationMs: duration,
    genres: Array.isArray(o.genres) ? o.genres.filter((g): g is string => typeof g === 'string') : [],
    features: typeof o.features === 'object' && o.features !== null ? (o.features as TrackMeta['features']) : {},
    releaseDate: str(o.releaseDate) ?? null,
  };
}

export interface PlaylistRecord {
  id: string;
  name: string;
  followers: number | null;
  tracks: string[];
  /** MPD slices describe their tracks inline (name, artist, album, duration). */
  trackMeta: TrackMeta[];
}

/** An MPD playlist object (a JSONL line, or an element of a slice's "playlists"). */
export function playlistFromMpd(o: Record<string, unknown>): PlaylistRecord {
  const tracks: string[] = [];
  const trackMeta: TrackMeta[] = [];
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  for (const t of Array.isArray(o.tracks) ? (o.tracks as unknown[]) : []) {
    if (typeof t === 'string') tracks.push(t);
    else if (t && typeof t === 'object') {
      const x = t as Record<string, unknown>;
      const id = str(x.track_uri);
      if (id === null) continue;
      tracks.push(id);
      const title = str(x.track_name);
      const artist = str(x.artist_name);
      if (title !== null && artist !== null) {
        trackMeta.push({
          id,
          title,
          artist,
          album: str(x.album_name),
          albumId: str(x.album_uri),
          durationMs: typeof x.duration_ms === 'number' ? x.duration_ms : null,
        });
      }
    }
  }
  return { id: String(o.pid), name: String(o.name ?? ''), followers: typeof o.num_followers === 'number' ? o.num_followers : null, tracks, trackMeta };
}

/** MPD playlists from JSONL (one playlist a line) or a JSON slice ({"playlists": [...]}). */
export async function* mpdPlaylists(path: string, progress?: ReadProgress): AsyncGenerator<PlaylistRecord> {
  const lines = readLines(path, progress);
  const first = await lines.next();
  if (first.done) return;
  const head = first.value.trimStart();
  if (head.startsWith('{') && head.includes('"pid"')) {
    yield playlistFromMpd(JSON.parse(first.value));
    for await (const line of lines) yield playlistFromMpd(JSON.parse(line));
    return;
  }
  // A slice: one JSON document over many lines.
  let text = first.value;
  for await (const line of lines) text += `\n${line}`;
  const doc = JSON.parse(text) as { playlists?: Record<string, unknown>[] };
  for (const p of doc.playlists ?? []) yield playlistFromMpd(p);
}

export interface SessionPlay {
  sessionId: string;
  position: number;
  trackId: string;
  /** skip_2: the play ended early (the dataset's standard skip label). */
  skipped: boolean;
  /** skip_1: ended within the first seconds. */
  skippedVeryEarly: boolean;
  hour: number | null;
  date: string | null;
  contextType: string | null;
}

const bool = (s: string | undefined) => s === 'true' || s === '1' || s === 'True';

export function sessionPlay(row: Record<string, string>): SessionPlay {
  const hour = num(row.hour_of_day);
  return {
    sessionId: row.session_id ?? '',
    position: num(row.session_position) ?? 0,
    trackId: row.track_id_clean ?? row.track_id ?? '',
    skipped: bool(row.skip_2),
    skippedVeryEarly: bool(row.skip_1),
    hour: hour === undefined ? null : hour,
    date: row.date || null,
    contextType: row.context_type || null,
  };
}
