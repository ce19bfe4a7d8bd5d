// The catalog feature store on PostgreSQL (the main store's pool). Batches go in as one
// statement each, through jsonb_to_recordset, so a 1,000-row import is one round trip.
import type pg from 'pg';
import type { TrackMeta } from '../reco/catalog.ts';
import {
  EPOCH,
  lastById,
  withoutRev,
  type CatalogStore,
  type CatalogTrack,
  type ListeningEvent,
  type NewListeningEvent,
  type RecentQuery,
  type Revised,
  type StoredPlaylist,
  type UserContextRecord,
} from './store.ts';

const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

interface TrackRow {
  track_id: string;
  title: string;
  artist: string;
  album: string | null;
  album_id: string | null;
  duration_ms: number | null;
  genres: string[];
  features: Record<string, number> | null;
  release_date: string | null;
  rev: string;
  updated_at: Date;
  deleted: boolean;
}

function trackOf(r: TrackRow): Revised<CatalogTrack> {
  return {
    id: r.track_id,
    title: r.title,
    artist: r.artist,
    album: r.album,
    albumId: r.album_id,
    durationMs: r.duration_ms,
    genres: r.genres,
    features: r.features ?? {},
    releaseDate: r.release_date,
    updatedAt: iso(r.updated_at),
    rev: Number(r.rev),
    ...(r.deleted ? { deleted: true } : {}),
  };
}

export class PostgresCatalogStore implements CatalogStore {
  readonly commitsOutOfOrder = true;
  private readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async upsertTracks(tracks: TrackMeta[], now: string): Promise<{ created: number; updated: number }> {
    const rows = lastById(tracks).map((t) => ({
      track_id: t.id,
      title: t.title,
      artist: t.artist,
      album: t.album ?? null,
      album_id: t.albumId ?? null,
      duration_ms: t.durationMs ?? null,
      genres: t.genres ?? [],
      features: t.features && Object.keys(t.features).length ? t.features : null,
      release_date: t.releaseDate ?? null,
    }));
    if (rows.length === 0) return { created: 0, updated: 0 };
    // Created = no live row before (a tombstone brought back counts as created, as on SQLite);
    // `live` reads the table as it was before this statement.
    const r = await this.pool.query<{ created: boolean }>(
      `WITH x AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(track_id text, title text, artist text, album text, album_id text,
           duration_ms integer, genres jsonb, features jsonb, release_date text)
       ), live AS (SELECT track_id FROM catalog_tracks WHERE track_id IN (SELECT track_id FROM x) AND NOT deleted)
       INSERT INTO catalog_tracks (track_id, title, artist, album, album_id, duration_ms, genres, features, release_date, rev, updated_at)
       SELECT track_id, title, artist, album, album_id, duration_ms, genres, features, release_date, nextval('catalog_rev_seq'), $2
       FROM x
       ON CONFLICT (track_id) DO UPDATE SET title = excluded.title, artist = excluded.artist, album = excluded.album,
         album_id = excluded.album_id, duration_ms = excluded.duration_ms, genres = excluded.genres, features = excluded.features,
         release_date = excluded.release_date, rev = excluded.rev, updated_at = excluded.updated_at, deleted = false
       RETURNING NOT EXISTS (SELECT 1 FROM live WHERE live.track_id = catalog_tracks.track_id) AS created`,
      [JSON.stringify(rows), now],
    );
    const created = r.rows.filter((x) => x.created).length;
    return { created, updated: rows.length - created };
  }

  async getTrack(id: string): Promise<CatalogTrack | null> {
    const r = await this.pool.query<TrackRow>('SELECT * FROM catalog_tracks WHERE track_id = $1 AND NOT deleted', [id]);
    return r.rows[0] ? withoutRev(trackOf(r.rows[0])) : null;
  }

  async getTracks(ids: readonly string[]): Promise<CatalogTrack[]> {
    const r = await this.pool.query<TrackRow>('SELECT * FROM catalog_tracks WHERE track_id = ANY($1::text[]) AND NOT deleted', [ids]);
    return r.rows.map((row) => withoutRev(trackOf(row)));
  }

  async upsertPlaylists(playlists: { id: string; name: string; followers: number | null; tracks: string[] }[], now: string) {
    const rows = lastById(playlists).map((p) => ({ playlist_id: p.id, name: p.name, followers: p.followers, tracks: p.tracks }));
    if (rows.length === 0) return { created: 0, updated: 0 };
    const r = await this.pool.query<{ created: boolean }>(
      `WITH x AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(playlist_id text, name text, followers integer, tracks jsonb)
       ), live AS (SELECT playlist_id FROM catalog_playlists WHERE playlist_id IN (SELECT playlist_id FROM x) AND NOT deleted)
       INSERT INTO catalog_playlists (playlist_id, name, followers, tracks, rev, updated_at)
       SELECT playlist_id, name, followers, tracks, nextval('catalog_rev_seq'), $2 FROM x
       ON CONFLICT (playlist_id) DO UPDATE SET name = excluded.name, followers = excluded.followers, tracks = excluded.tracks,
         rev = excluded.rev, updated_at = excluded.updated_at, deleted = false
       RETURNING NOT EXISTS (SELECT 1 FROM live WHERE live.playlist_id = catalog_playlists.playlist_id) AS created`,
      [JSON.stringify(rows), now],
    );
    const created = r.rows.filter((x) => x.created).length;
    return { created, updated: rows.length - created };
  }

  async getPlaylist(id: string): Promise<StoredPlaylist | null> {
    const r = await this.pool.query<{ playlist_id: string; name: string; followers: number | null; tracks: string[]; updated_at: Date }>(
      'SELECT * FROM catalog_playlists WHERE playlist_id = $1 AND NOT deleted',
      [id],
    );
    const p = r.rows[0];
    return p ? { id: p.playlist_id, name: p.name, followers: p.followers, tracks: p.tracks, updatedAt: iso(p.updated_at) } : null;
  }

  async appendEvents(events: NewListeningEvent[]): Promise<number[]> {
    if (events.length === 0) return [];
    const rows = events.map((e, ord) => ({
      ord,
      user_id: e.userId,
      session_id: e.sessionId,
      track_id: e.trackId,
      action: e.action,
      position: e.position,
      source: e.source,
      context_type: e.contextType,
      hour: e.hour,
      context: e.context,
      occurred_at: e.occurredAt,
    }));
    const r = await this.pool.query<{ id: string }>(
      `INSERT INTO listening_events (user_id, session_id, track_id, action, position, source, context_type, hour, context, occurred_at)
       SELECT user_id, session_id, track_id, action, position, source, context_type, hour, context, occurred_at
       FROM jsonb_to_recordset($1::jsonb) AS x(ord integer, user_id text, session_id text, track_id text, action text,
         position double precision, source text, context_type text, hour smallint, context jsonb, occurred_at timestamptz)
       ORDER BY ord
       RETURNING id`,
      [JSON.stringify(rows)],
    );
    return r.rows.map((x) => Number(x.id)).sort((a, b) => a - b);
  }

  async recordContext(userId: string, context: Record<string, unknown>, observedAt: string, recordedAt: string): Promise<UserContextRecord> {
    const r = await this.pool.query<{ id: string }>(
      'INSERT INTO user_contexts (user_id, context, observed_at, recorded_at) VALUES ($1, $2, $3, $4) RETURNING id',
      [userId, JSON.stringify(context), observedAt, recordedAt],
    );
    return { id: Number(r.rows[0]!.id), userId, context, observedAt, recordedAt };
  }

  async tracksAfter(rev: number, limit: number) {
    const r = await this.pool.query<TrackRow>('SELECT * FROM catalog_tracks WHERE rev > $1 ORDER BY rev LIMIT $2', [rev, limit]);
    return r.rows.map(trackOf);
  }

  async playlistsAfter(rev: number, limit: number) {
    const r = await this.pool.query<{
      playlist_id: string;
      name: string;
      followers: number | null;
      tracks: string[];
      rev: string;
      updated_at: Date;
      deleted: boolean;
    }>('SELECT * FROM catalog_playlists WHERE rev > $1 ORDER BY rev LIMIT $2', [rev, limit]);
    return r.rows.map((p) => ({
      id: p.playlist_id,
      name: p.name,
      followers: p.followers,
      tracks: p.tracks,
      updatedAt: iso(p.updated_at),
      rev: Number(p.rev),
      ...(p.deleted ? { deleted: true } : {}),
    }));
  }

  async eventsAfter(id: number, limit: number): Promise<ListeningEvent[]> {
    const r = await this.pool.query<{
      id: string;
      user_id: string | null;
      session_id: string | null;
      track_id: string;
      action: string;
      position: number | null;
      source: string | null;
      context_type: string | null;
      hour: number | null;
      context: Record<string, unknown> | null;
      occurred_at: Date;
    }>('SELECT * FROM listening_events WHERE id > $1 ORDER BY id LIMIT $2', [id, limit]);
    return r.rows.map((e) => ({
      id: Number(e.id),
      userId: e.user_id,
      sessionId: e.session_id,
      trackId: e.track_id,
      action: e.action as ListeningEvent['action'],
      position: e.position,
      source: e.source,
      contextType: e.context_type,
      hour: e.hour,
      context: e.context,
      occurredAt: iso(e.occurred_at),
    }));
  }

  async contextsAfter(id: number, limit: number): Promise<UserContextRecord[]> {
    const r = await this.pool.query<{ id: string; user_id: string; context: Record<string, unknown>; observed_at: Date; recorded_at: Date }>(
      'SELECT * FROM user_contexts WHERE id > $1 ORDER BY id LIMIT $2',
      [id, limit],
    );
    return r.rows.map((c) => ({ id: Number(c.id), userId: c.user_id, context: c.context, observedAt: iso(c.observed_at), recordedAt: iso(c.recorded_at) }));
  }

  async queueTracks(limit: number) {
    const r = await this.pool.query<{ queue_id: string; track_ids: string[] }>(
      `SELECT p.queue_id, ARRAY(
         SELECT i->>'trackId' FROM jsonb_array_elements(s.state->'items') WITH ORDINALITY AS x(i, n)
         -- tracks an extend chose (radio_history) are not what people put together
         WHERE NOT EXISTS (SELECT 1 FROM radio_history h WHERE h.queue_id = p.queue_id AND h.track_id = i->>'trackId')
         ORDER BY n) AS track_ids
       FROM queue_projections p JOIN queue_snapshots s ON s.queue_id = p.queue_id
       WHERE p.type IN ('user', 'collaborative') AND NOT p.deleted AND p.item_count > 1
       ORDER BY p.updated_at DESC LIMIT $1`,
      [limit],
    );
    return r.rows.map((x) => ({ queueId: x.queue_id, trackIds: x.track_ids }));
  }

  async deleteTrack(id: string, now: string): Promise<boolean> {
    const r = await this.pool.query(
      "UPDATE catalog_tracks SET deleted = true, rev = nextval('catalog_rev_seq'), updated_at = $2 WHERE track_id = $1 AND NOT deleted",
      [id, now],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async deletePlaylist(id: string, now: string): Promise<boolean> {
    const r = await this.pool.query(
      "UPDATE catalog_playlists SET deleted = true, rev = nextval('catalog_rev_seq'), updated_at = $2 WHERE playlist_id = $1 AND NOT deleted",
      [id, now],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async recordQueued(queueId: string, userId: string, trackIds: readonly string[], at: string): Promise<void> {
    if (trackIds.length === 0) return;
    await this.pool.query(
      `INSERT INTO radio_history (queue_id, track_id, user_id, added_at)
       SELECT $1, t, $2, $4 FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING`,
      [queueId, userId, [...new Set(trackIds)], at],
    );
  }

  async stationTracks(queueId: string, limit: number): Promise<string[]> {
    const r = await this.pool.query<{ track_id: string }>('SELECT track_id FROM radio_history WHERE queue_id = $1 ORDER BY added_at DESC LIMIT $2', [
      queueId,
      limit,
    ]);
    return r.rows.map((x) => x.track_id);
  }

  async userRecentTracks(userId: string, o: RecentQuery): Promise<{ recent: string[]; skipped: string[] }> {
    // One round trip: `skip` tells the two lists apart.
    const r = await this.pool.query<{ track_id: string; skip: boolean }>(
      `(SELECT track_id, false AS skip FROM radio_history WHERE user_id = $1 AND added_at >= $2 ORDER BY added_at DESC LIMIT $3)
       UNION (SELECT track_id, false FROM listening_events WHERE user_id = $1 AND occurred_at >= $2 AND action IN ('play', 'complete')
              ORDER BY occurred_at DESC LIMIT $3)
       UNION (SELECT track_id, true FROM listening_events WHERE user_id = $1 AND occurred_at >= $4 AND action = 'skip'
              ORDER BY occurred_at DESC LIMIT $5)`,
      [userId, o.since, o.limit, o.skipsSince, o.skipLimit],
    );
    const recent = new Set<string>();
    const skipped = new Set<string>();
    for (const x of r.rows) (x.skip ? skipped : recent).add(x.track_id);
    return { recent: [...recent], skipped: [...skipped] };
  }

  async pruneRadioHistory(before: string, limit: number): Promise<number> {
    const r = await this.pool.query('DELETE FROM radio_history WHERE ctid IN (SELECT ctid FROM radio_history WHERE added_at < $1 LIMIT $2)', [before, limit]);
    return r.rowCount ?? 0;
  }

  async sweepAnswers(before: string, limit: number): Promise<number> {
    const r = await this.pool.query(
      'DELETE FROM reco_idempotency WHERE ctid IN (SELECT ctid FROM reco_idempotency WHERE created_at < $1::timestamptz LIMIT $2)',
      [before, limit],
    );
    return r.rowCount ?? 0;
  }

  async getAnswer(userId: string, key: string, since = EPOCH) {
    const r = await this.pool.query<{ fingerprint: string; status: number; body: unknown }>(
      'SELECT fingerprint, status, body FROM reco_idempotency WHERE user_id = $1 AND idem_key = $2 AND created_at >= $3::timestamptz',
      [userId, key, since],
    );
    return r.rows[0] ?? null;
  }

  async saveAnswer(userId: string, key: string, a: { fingerprint: string; status: number; body: unknown }, now: string, since = EPOCH): Promise<boolean> {
    // An expired record of the key is replaced; a live one is kept.
    const r = await this.pool.query(
      `INSERT INTO reco_idempotency (user_id, idem_key, fingerprint, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id, idem_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body,
         created_at = EXCLUDED.created_at WHERE reco_idempotency.created_at < $7::timestamptz`,
      [userId, key, a.fingerprint, a.status, JSON.stringify(a.body), now, since],
    );
    return (r.rowCount ?? 0) > 0;
  }
}
