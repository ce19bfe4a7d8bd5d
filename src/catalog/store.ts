// The catalog feature store: tracks, imported playlists, listening events and user
// contexts, in the tables of migration 007, over the connection of the main store
// (SqliteStore.db or PostgresStore.pool; the adapters are built by src/stores.ts). The engine reads
// everything back in `rev` / `id` order to build itself and to catch up.
import type { TrackMeta } from '../reco/catalog.ts';
import type { IngestEvent } from '../reco/recommender.ts';
import type { KeyRecord } from '../util/commit.ts';

export interface CatalogTrack extends TrackMeta {
  updatedAt: string;
}

export interface StoredPlaylist {
  id: string;
  name: string;
  followers: number | null;
  tracks: string[];
  updatedAt: string;
}

/** A listening event as written; the engine ingests the same shape. */
export type NewListeningEvent = IngestEvent;

export interface ListeningEvent extends NewListeningEvent {
  id: number;
}

export interface UserContextRecord {
  id: number;
  userId: string;
  context: Record<string, unknown>;
  observedAt: string;
  recordedAt: string;
}

/** A row read back for catch-up, with its position in the table's order; `deleted` marks a tombstone. */
export type Revised<T> = T & { rev: number; deleted?: boolean };

/** A stored track as readers see it (without its catch-up revision). */
export function withoutRev(r: Revised<CatalogTrack>): CatalogTrack {
  const { rev: _rev, deleted: _deleted, ...t } = r;
  return t;
}

/** A stored answer of a keyed recommendation write (Idempotency-Key): the one record shape of util/commit.ts. */
export type StoredAnswer = KeyRecord<{ status: number; body: unknown }>;

/** No expiry: every record counts (the default of `since`). */
export const EPOCH = '1970-01-01T00:00:00.000Z';

export interface CatalogStore {
  /**
   * Whether rows can commit out of their rev / id order (PostgreSQL sequences: a row given
   * its number first may commit last), so a catch-up must wait for late ones.
   */
  readonly commitsOutOfOrder: boolean;
  /** Insert or replace tracks (the last of duplicate ids wins); returns how many were new. */
  upsertTracks(tracks: TrackMeta[], now: string): Promise<{ created: number; updated: number }>;
  getTrack(id: string): Promise<CatalogTrack | null>;
  /** The live tracks among `ids` (any order; unknown and deleted ids are left out). */
  getTracks(ids: readonly string[]): Promise<CatalogTrack[]>;
  upsertPlaylists(
    playlists: { id: string; name: string; followers: number | null; tracks: string[] }[],
    now: string,
  ): Promise<{ created: number; updated: number }>;
  getPlaylist(id: string): Promise<StoredPlaylist | null>;
  /** Appends events; returns their ids in order. */
  appendEvents(events: NewListeningEvent[]): Promise<number[]>;
  recordContext(userId: string, context: Record<string, unknown>, observedAt: string, recordedAt: string): Promise<UserContextRecord>;

  tracksAfter(rev: number, limit: number): Promise<Revised<CatalogTrack>[]>;
  playlistsAfter(rev: number, limit: number): Promise<Revised<StoredPlaylist>[]>;
  eventsAfter(id: number, limit: number): Promise<ListeningEvent[]>;
  contextsAfter(id: number, limit: number): Promise<UserContextRecord[]>;
  /** Track ids of user and collaborative queues, most recently changed first (co-occurrence). */
  queueTracks(limit: number): Promise<{ queueId: string; trackIds: string[] }[]>;

  /** Tombstones a track / playlist (a new rev, so catch-ups see it); false when there is none. */
  deleteTrack(id: string, now: string): Promise<boolean>;
  deletePlaylist(id: string, now: string): Promise<boolean>;

  /** Remembers tracks a station (a queue) queued for a user: its no-repeat rule spans its whole life. */
  recordQueued(queueId: string, userId: string, trackIds: readonly string[], at: string): Promise<void>;
  /** The newest `limit` tracks a station (a queue) queued (all of them unless it is very long). */
  stationTracks(queueId: string, limit: number): Promise<string[]>;
  /**
   * What a listener heard lately, bounded (issue 24): the newest `limit` tracks radio queued
   * for them and the newest `limit` they played since `since`; and the newest `skipLimit`
   * tracks they skipped since `skipsSince`.
   */
  userRecentTracks(userId: string, o: RecentQuery): Promise<{ recent: string[]; skipped: string[] }>;
  /** Deletes up to `limit` radio-history rows queued before `before`; how many it deleted. */
  pruneRadioHistory(before: string, limit: number): Promise<number>;

  /** The answer recorded under the key at or after `since` (ISO; older records have expired). */
  getAnswer(userId: string, key: string, since?: string): Promise<StoredAnswer | null>;
  /** Keeps the answer unless a live record of the key (at or after `since`) was made meanwhile (then false). */
  saveAnswer(userId: string, key: string, answer: StoredAnswer, now: string, since?: string): Promise<boolean>;
  /** Deletes up to `limit` answers recorded before `before` (ISO: expired); how many it deleted. */
  sweepAnswers(before: string, limit: number): Promise<number>;
}

export interface RecentQuery {
  since: string;
  limit: number;
  skipsSince: string;
  skipLimit: number;
}

/** Last occurrence of each id wins: one statement must not touch a row twice. */
export function lastById<T extends { id: string }>(rows: readonly T[]): T[] {
  const m = new Map<string, T>();
  for (const r of rows) {
    m.delete(r.id);
    m.set(r.id, r);
  }
  return [...m.values()];
}
