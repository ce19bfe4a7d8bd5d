// Loads ../shared/data for the evaluation (read in place, never copied) and makes the
// fixed split: a seeded hash of the playlist / session id puts each in a bucket 0..99.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { csvRecords, mpdPlaylists, sessionPlay, trackFromCsv, type PlaylistRecord } from '../../src/catalog/formats.ts';
import type { TrackMeta } from '../../src/reco/catalog.ts';
import type { IngestEvent } from '../../src/reco/recommender.ts';

export const DATA_DIR = process.env.QS_DATA_DIR ?? new URL('../../../shared/data', import.meta.url).pathname;
const SPLIT_SEED = 'queue-service-eval-v1';

/** Bucket 0..99 of an id; buckets 0-9 are the development split, 10-19 the tuning split. */
export function bucket(id: string): number {
  return createHash('sha1').update(`${SPLIT_SEED}:${id}`).digest().readUInt32BE(0) % 100;
}

export type SplitName = 'dev' | 'tune';
/** The held-out buckets of a split; training uses every other bucket except, for tune, dev too. */
export function splitOf(name: SplitName): { test: (b: number) => boolean; train: (b: number) => boolean } {
  return name === 'dev' ? { test: (b) => b < 10, train: (b) => b >= 10 } : { test: (b) => b >= 10 && b < 20, train: (b) => b >= 20 };
}

export async function loadMpd(): Promise<{ playlists: PlaylistRecord[]; tracks: TrackMeta[] }> {
  const dir = join(DATA_DIR, 'mpd-subset');
  const playlists: PlaylistRecord[] = [];
  for await (const p of mpdPlaylists(join(dir, 'playlists.jsonl.gz'))) playlists.push(p);
  const tracks: TrackMeta[] = [];
  for await (const { row } of csvRecords(join(dir, 'tracks.csv.gz'))) tracks.push(trackFromCsv(row));
  return { playlists, tracks };
}

export interface Session {
  id: string;
  tracks: string[];
  skipped: boolean[];
  hour: number;
  /** 0 = Sunday. */
  dow: number;
  contextType: string;
  /** Context type of every play (a session may switch context). */
  contextTypes: string[];
}

/** A session's plays as the engine ingests them (an import: no user, no context; skips kept). */
export function sessionListens(s: Session): IngestEvent[] {
  return s.tracks.map((trackId, i) => ({
    userId: null,
    sessionId: s.id,
    trackId,
    action: s.skipped[i] ? 'skip' : 'complete',
    position: null,
    source: 'import',
    contextType: s.contextTypes[i] ?? null,
    hour: s.hour,
    context: null,
    occurredAt: '2018-07-14T00:00:00.000Z',
  }));
}

export async function loadSessions(): Promise<Session[]> {
  const byId = new Map<string, Session>();
  const out: Session[] = [];
  const intern = new Map<string, string>();
  for await (const { row } of csvRecords(join(DATA_DIR, 'spotify-sessions', 'sessions.csv.gz'))) {
    const p = sessionPlay(row);
    let s = byId.get(p.sessionId);
    if (!s) {
      s = {
        id: p.sessionId,
        tracks: [],
        skipped: [],
        hour: p.hour ?? 0,
        dow: p.date ? new Date(`${p.date}T12:00:00Z`).getUTCDay() : 0,
        contextType: p.contextType ?? 'unknown',
        contextTypes: [],
      };
      byId.set(p.sessionId, s);
      out.push(s);
    }
    let t = intern.get(p.trackId);
    if (t === undefined) intern.set(p.trackId, (t = p.trackId));
    s.tracks.push(t);
    s.skipped.push(p.skipped);
    s.contextTypes.push(p.contextType ?? 'unknown');
  }
  return out;
}
