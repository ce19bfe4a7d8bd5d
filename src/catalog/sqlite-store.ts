// The catalog feature store on the embedded SQLite file (same connection as the queues).
import type Database from 'better-sqlite3';
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

interface TrackRow {
  track_id: string;
  title: string;
  artist: string;
  album: string | null;
  album_id: string | null;
  duration_ms: number | null;
  genres: string;
  features: string | null;
  release_date: string | null;
  rev: number;
  updated_at: string;
  deleted: number;
}

interface PlaylistRow {
  playlist_id: string;
  name: string;
  followers: number | null;
  tracks: string;
  rev: number;
  updated_at: string;
  deleted: number;
}

interface EventRow {
  id: number;
  user_id: string | null;
  session_id: string | null;
  track_id: string;
  action: string;
  position: number | null;
  source: string | null;
  context_type: string | null;
  hour: number | null;
  context: string | null;
  occurred_at: string;
}

interface ContextRow {
  id: number;
  user_id: string;
  context: string;
  observed_at: string;
  recorded_at: string;
}

function trackOf(r: TrackRow): Revised<CatalogTrack> {
  return {
    id: r.track_id,
    title: r.title,
    artist: r.artist,
    album: r.album,
    albumId: r.album_id,
    durationMs: r.duration_ms,
    genres: JSON.parse(r.genres),
    features: r.features ? JSON.parse(r.features) : {},
    releaseDate: r.release_date,
    updatedAt: r.updated_at,
    rev: r.rev,
    ...(r.deleted ? { deleted: true } : {}),
  };
}

function eventOf(r: EventRow): ListeningEvent {
  return {
    id: r.id,
    userId: r.user_id,
    sessionId: r.session_id,
    trackId: r.track_id,
    action: r.action as ListeningEvent['action'],
    position: r.position,
    source: r.source,
    contextType: r.context_type,
    hour: r.hour,
    context: r.context ? JSON.parse(r.context) : null,
    occurredAt: r.occurred_at,
  };
}

function contextOf(r: ContextRow): UserContextRecord {
  return { id: r.id, userId: r.user_id, context: JSON.parse(r.context), observedAt: r.observed_at, recordedAt: r.recorded_at };
}

export class SqliteCatalogStore implements CatalogStore {
  /** One writer at a time: rows commit in rev / id order. */
  readonly commitsOutOfOrder = false;
  private readonly s;

  private readonly db: Database.Database;
  private readonly insertEvents: Database.Transaction<(events: NewListeningEvent[]) => number[]>;
  private readonly insertQueued: Database.Transaction<(queueId: string, userId: string, at: string, trackIds: string) => void>;
  /**
   * The queue store's group commit (issue 21), when the catalog shares its connection:
   * plays and radio history then commit in the same transaction as the queue writes of
   * their turn, not in one of their own each. Without it (a CLI, a test), each commits alone.
   */
  private readonly grouped: (<T>(write: () => T) => Promise<T>) | null;
  constructor(db: Database.Database, grouped: (<T>(write: () => T) => Promise<T>) | null = null) {
    this.db = db;
    this.grouped = grouped;
    this.s = {
      nextRevs: db.prepare<[number, string], { rev: number }>('UPDATE catalog_revs SET rev = rev + ? WHERE name = ? RETURNING rev'),
      trackExists: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM catalog_tracks WHERE track_id = ? AND deleted = 0'),
      upsertTrack: db.prepare(
        `INSERT INTO catalog_tracks (track_id, title, artist, album, album_id, duration_ms, genres, features, release_date, rev, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (track_id) DO UPDATE SET title = excluded.title, artist = excluded.artist, album = excluded.album,
           album_id = excluded.album_id, duration_ms = excluded.duration_ms, genres = excluded.genres,
           features = excluded.features, release_date = excluded.release_date, rev = excluded.rev, updated_at = excluded.updated_at, deleted = 0`,
      ),
      getTrack: db.prepare<[string], TrackRow>('SELECT * FROM catalog_tracks WHERE track_id = ? AND deleted = 0'),
      getTracks: db.prepare<[string], TrackRow>('SELECT * FROM catalog_tracks WHERE track_id IN (SELECT value FROM json_each(?)) AND deleted = 0'),
      playlistExists: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM catalog_playlists WHERE playlist_id = ? AND deleted = 0'),
      upsertPlaylist: db.prepare(
        `INSERT INTO catalog_playlists (playlist_id, name, followers, tracks, rev, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (playlist_id) DO UPDATE SET name = excluded.name, followers = excluded.followers, tracks = excluded.tracks,
           rev = excluded.rev, updated_at = excluded.updated_at, deleted = 0`,
      ),
      getPlaylist: db.prepare<[string], PlaylistRow>('SELECT * FROM catalog_playlists WHERE playlist_id = ? AND deleted = 0'),
      insertEvent: db.prepare(
        `INSERT INTO listening_events (user_id, session_id, track_id, action, position, source, context_type, hour, context, occurred_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertContext: db.prepare('INSERT INTO user_contexts (user_id, context, observed_at, recorded_at) VALUES (?, ?, ?, ?)'),
      tracksAfter: db.prepare<[number, number], TrackRow>('SELECT * FROM catalog_tracks WHERE rev > ? ORDER BY rev LIMIT ?'),
      playlistsAfter: db.prepare<[number, number], PlaylistRow>('SELECT * FROM catalog_playlists WHERE rev > ? ORDER BY rev LIMIT ?'),
      eventsAfter: db.prepare<[number, number], EventRow>('SELECT * FROM listening_events WHERE id > ? ORDER BY id LIMIT ?'),
      contextsAfter: db.prepare<[number, number], ContextRow>('SELECT * FROM user_contexts WHERE id > ? ORDER BY id LIMIT ?'),
      queueTracks: db.prepare<[number], { queue_id: string; state: string }>(
        `SELECT p.queue_id, s.state FROM queue_projections p JOIN queue_snapshots s ON s.queue_id = p.queue_id
         WHERE p.type IN ('user', 'collaborative') AND p.deleted = 0 AND p.item_count > 1
         ORDER BY p.updated_at DESC LIMIT ?`,
      ),
      tombstoneTrack: db.prepare<[number, string, string]>('UPDATE catalog_tracks SET deleted = 1, rev = ?, updated_at = ? WHERE track_id = ? AND deleted = 0'),
      tombstonePlaylist: db.prepare<[number, string, string]>(
        'UPDATE catalog_playlists SET deleted = 1, rev = ?, updated_at = ? WHERE playlist_id = ? AND deleted = 0',
      ),
      // A batch's tracks in one statement (issue 24: a statement per track, 50 per extend,
      // in a transaction of their own was ~5% of the server's CPU under 8 listeners).
      recordQueued: db.prepare<[string, string, string, string]>(
        'INSERT OR IGNORE INTO radio_history (queue_id, track_id, user_id, added_at) SELECT ?, value, ?, ? FROM json_each(?)',
      ),
      stationTracks: db.prepare<[string, number], { track_id: string }>('SELECT track_id FROM radio_history WHERE queue_id = ? ORDER BY added_at DESC LIMIT ?'),
      extendedQueues: db.prepare<[], { queue_id: string; track_id: string }>(
        `SELECT h.queue_id, h.track_id FROM radio_history h JOIN queue_projections q ON q.queue_id = h.queue_id
         WHERE q.type IN ('user', 'collaborative') AND q.deleted = 0`,
      ),
      userRecent: db.prepare<[string, string, number, string, string, number], { track_id: string }>(
        `SELECT track_id FROM (SELECT track_id FROM radio_history WHERE user_id = ? AND added_at >= ? ORDER BY added_at DESC LIMIT ?)
         UNION SELECT track_id FROM (SELECT track_id FROM listening_events WHERE user_id = ? AND occurred_at >= ? AND action IN ('play', 'complete')
                                     ORDER BY occurred_at DESC LIMIT ?)`,
      ),
      userSkips: db.prepare<[string, string, number], { track_id: string }>(
        `SELECT DISTINCT track_id FROM (SELECT track_id FROM listening_events WHERE user_id = ? AND occurred_at >= ? AND action = 'skip'
                                        ORDER BY occurred_at DESC LIMIT ?)`,
      ),
      pruneRadioHistory: db.prepare<[string, number]>('DELETE FROM radio_history WHERE rowid IN (SELECT rowid FROM radio_history WHERE added_at < ? LIMIT ?)'),
      getAnswer: db.prepare<[string, string, string], { fingerprint: string; status: number; body: string }>(
        'SELECT fingerprint, status, body FROM reco_idempotency WHERE user_id = ? AND idem_key = ? AND created_at >= ?',
      ),
      sweepAnswers: db.prepare<[string, number]>(
        'DELETE FROM reco_idempotency WHERE rowid IN (SELECT rowid FROM reco_idempotency WHERE created_at < ? LIMIT ?)',
      ),
      // An expired record of the key is replaced; a live one is kept.
      saveAnswer: db.prepare<[string, string, string, number, string, string, string]>(
        `INSERT INTO reco_idempotency (user_id, idem_key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body,
           created_at = excluded.created_at WHERE reco_idempotency.created_at < ?`,
      ),
    };
    // Built once: plays are recorded several times a second on a busy server.
    this.insertEvents = db.transaction((events: NewListeningEvent[]) =>
      events.map((e) =>
        Number(
          this.s.insertEvent.run(
            e.userId,
            e.sessionId,
            e.trackId,
            e.action,
            e.position,
            e.source,
            e.contextType,
            e.hour,
            e.context ? JSON.stringify(e.context) : null,
            e.occurredAt,
          ).lastInsertRowid,
        ),
      ),
    );
    this.insertQueued = db.transaction((queueId: string, userId: string, at: string, trackIds: string) => {
      this.s.recordQueued.run(queueId, userId, at, trackIds);
    });
  }

  async upsertTracks(tracks: TrackMeta[], now: string): Promise<{ created: number; updated: number }> {
    const rows = lastById(tracks);
    return this.db
      .transaction(() => {
        let rev = this.s.nextRevs.get(rows.length, 'tracks')!.rev - rows.length;
        let created = 0;
        for (const t of rows) {
          if (!this.s.trackExists.get(t.id)) created++;
          this.s.upsertTrack.run(
            t.id,
            t.title,
            t.artist,
            t.album ?? null,
            t.albumId ?? null,
            t.durationMs ?? null,
            JSON.stringify(t.genres ?? []),
            t.features && Object.keys(t.features).length ? JSON.stringify(t.features) : null,
            t.releaseDate ?? null,
            ++rev,
            now,
          );
        }
        return { created, updated: rows.length - created };
      })
      .immediate();
  }

  async getTrack(id: string): Promise<CatalogTrack | null> {
    const r = this.s.getTrack.get(id);
    return r ? withoutRev(trackOf(r)) : null;
  }

  async getTracks(ids: readonly string[]): Promise<CatalogTrack[]> {
    return this.s.getTracks.all(JSON.stringify(ids)).map((r) => withoutRev(trackOf(r)));
  }

  async upsertPlaylists(playlists: { id: string; name: string; followers: number | null; tracks: string[] }[], now: string) {
    const rows = lastById(playlists);
    return this.db
      .transaction(() => {
        let rev = this.s.nextRevs.get(rows.length, 'playlists')!.rev - rows.length;
        let created = 0;
        for (const p of rows) {
          if (!this.s.playlistExists.get(p.id)) created++;
          this.s.upsertPlaylist.run(p.id, p.name, p.followers, JSON.stringify(p.tracks), ++rev, now);
        }
        return { created, updated: rows.length - created };
      })
      .immediate();
  }

  async getPlaylist(id: string): Promise<StoredPlaylist | null> {
    const r = this.s.getPlaylist.get(id);
    return r ? { id: r.playlist_id, name: r.name, followers: r.followers, tracks: JSON.parse(r.tracks), updatedAt: r.updated_at } : null;
  }

  async appendEvents(events: NewListeningEvent[]): Promise<number[]> {
    if (this.grouped) return this.grouped(() => this.insertEvents(events));
    return this.insertEvents.immediate(events);
  }

  async recordContext(userId: string, context: Record<string, unknown>, observedAt: string, recordedAt: string): Promise<UserContextRecord> {
    const id = Number(this.s.insertContext.run(userId, JSON.stringify(context), observedAt, recordedAt).lastInsertRowid);
    return { id, userId, context, observedAt, recordedAt };
  }

  async tracksAfter(rev: number, limit: number) {
    return this.s.tracksAfter.all(rev, limit).map(trackOf);
  }

  async playlistsAfter(rev: number, limit: number) {
    return this.s.playlistsAfter.all(rev, limit).map((r) => ({
      id: r.playlist_id,
      name: r.name,
      followers: r.followers,
      tracks: JSON.parse(r.tracks) as string[],
      updatedAt: r.updated_at,
      rev: r.rev,
      ...(r.deleted ? { deleted: true } : {}),
    }));
  }

  async eventsAfter(id: number, limit: number) {
    return this.s.eventsAfter.all(id, limit).map(eventOf);
  }

  async contextsAfter(id: number, limit: number) {
    return this.s.contextsAfter.all(id, limit).map(contextOf);
  }

  async queueTracks(limit: number) {
    // Tracks an extend chose (radio_history) are not what people put together.
    const chosen = new Map<string, Set<string>>();
    for (const r of this.s.extendedQueues.iterate()) {
      let set = chosen.get(r.queue_id);
      if (!set) chosen.set(r.queue_id, (set = new Set()));
      set.add(r.track_id);
    }
    return this.s.queueTracks.all(limit).map((r) => {
      const state = JSON.parse(r.state) as { items: { trackId: string }[] };
      const ours = chosen.get(r.queue_id);
      return { queueId: r.queue_id, trackIds: state.items.map((i) => i.trackId).filter((t) => !ours?.has(t)) };
    });
  }

  private tombstone(which: 'tracks' | 'playlists', id: string, now: string): boolean {
    return this.db
      .transaction(() => {
        const exists = which === 'tracks' ? this.s.trackExists.get(id) : this.s.playlistExists.get(id);
        if (!exists) return false;
        const rev = this.s.nextRevs.get(1, which)!.rev;
        (which === 'tracks' ? this.s.tombstoneTrack : this.s.tombstonePlaylist).run(rev, now, id);
        return true;
      })
      .immediate();
  }

  async deleteTrack(id: string, now: string): Promise<boolean> {
    return this.tombstone('tracks', id, now);
  }

  async deletePlaylist(id: string, now: string): Promise<boolean> {
    return this.tombstone('playlists', id, now);
  }

  async recordQueued(queueId: string, userId: string, trackIds: readonly string[], at: string): Promise<void> {
    const json = JSON.stringify(trackIds);
    if (this.grouped) return this.grouped(() => this.insertQueued(queueId, userId, at, json));
    this.insertQueued(queueId, userId, at, json);
  }

  async stationTracks(queueId: string, limit: number): Promise<string[]> {
    return this.s.stationTracks.all(queueId, limit).map((r) => r.track_id);
  }

  async userRecentTracks(userId: string, o: RecentQuery): Promise<{ recent: string[]; skipped: string[] }> {
    return {
      recent: this.s.userRecent.all(userId, o.since, o.limit, userId, o.since, o.limit).map((r) => r.track_id),
      skipped: this.s.userSkips.all(userId, o.skipsSince, o.skipLimit).map((r) => r.track_id),
    };
  }

  async pruneRadioHistory(before: string, limit: number): Promise<number> {
    return this.s.pruneRadioHistory.run(before, limit).changes;
  }

  async sweepAnswers(before: string, limit: number): Promise<number> {
    return this.s.sweepAnswers.run(before, limit).changes;
  }

  async getAnswer(userId: string, key: string, since = EPOCH) {
    const r = this.s.getAnswer.get(userId, key, since);
    return r ? { fingerprint: r.fingerprint, status: r.status, body: JSON.parse(r.body) as unknown } : null;
  }

  async saveAnswer(userId: string, key: string, a: { fingerprint: string; status: number; body: unknown }, now: string, since = EPOCH): Promise<boolean> {
    return this.s.saveAnswer.run(userId, key, a.fingerprint, a.status, JSON.stringify(a.body), now, since).changes > 0;
  }
}
