// REST routes of the catalog (the operator's, with the admin key), the listening history
// a user brings, and the user's reported context. Thin handlers over the feature store;
// every write is folded into the recommender before it answers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../errors.ts';
import { pathUser } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import type { TrackMeta } from '../reco/catalog.ts';
import { CONTEXT_WINDOW_MS, contextHour, hourOf, type Recommender } from '../reco/recommender.ts';
import type { Static } from '@sinclair/typebox';
import { answer, keyOf, KeyHeaders, type Answers } from './answers.ts';
import * as S from './schemas.ts';
import { TrackSearch } from './search.ts';
import type { CatalogStore, CatalogTrack } from './store.ts';
import type { CatalogSync } from './sync.ts';

export interface CatalogRouteDeps {
  catalog: CatalogStore;
  sync: CatalogSync;
  reco: Recommender;
  /** Records a reported context (radio/contextual.ts ContextualService). */
  contextual: { report(userId: string, context: Static<typeof S.UserContextBody>): Promise<Static<typeof S.UserContextResponse>> };
  now: () => number;
  answers: Answers;
}

const admin = { auth: 'admin' as const };

function view(t: CatalogTrack) {
  return {
    id: t.id,
    title: t.title,
    artist: t.artist,
    album: t.album ?? null,
    albumId: t.albumId ?? null,
    duration: t.durationMs === null || t.durationMs === undefined ? null : t.durationMs / 1000,
    genres: t.genres ?? [],
    features: (t.features ?? {}) as Record<string, number>,
    releaseDate: t.releaseDate ?? null,
    updatedAt: t.updatedAt,
  };
}

export function catalogRoutes(d: CatalogRouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const search = new TrackSearch(d.reco.engine.catalog);
    const iso = () => new Date(d.now()).toISOString();

    app.post(
      '/catalog/tracks',
      {
        config: admin,
        schema: {
          tags: ['catalog'],
          summary: 'Insert or update catalog tracks in bulk (admin API key)',
          body: S.UpsertTracksBody,
          response: { 200: S.UpsertResponse, ...errors(413) },
        },
      },
      async (r) => {
        const tracks: TrackMeta[] = r.body.tracks.map((t) => ({
          id: t.id,
          title: t.title,
          artist: t.artist,
          album: t.album ?? null,
          albumId: t.albumId ?? null,
          durationMs: t.duration === undefined ? null : Math.round(t.duration * 1000),
          genres: t.genres ?? [],
          features: t.features ?? {},
          releaseDate: t.releaseDate ?? null,
        }));
        const res = await d.catalog.upsertTracks(tracks, iso());
        await d.sync.refresh();
        return res;
      },
    );

    app.get(
      '/catalog/tracks/:trackId',
      {
        schema: { tags: ['catalog'], summary: 'A catalog track', params: S.TrackParams, response: { 200: S.TrackSchema, ...errors() } },
      },
      async (r) => {
        const t = await d.catalog.getTrack(r.params.trackId);
        if (!t) throw notFound('track_not_found', 'no such track in the catalog', { trackId: r.params.trackId });
        return view(t);
      },
    );

    // A read with a body (a window's worth of ids does not fit a URL safely): admission counts
    // it as a read (`readOnly`), and it changes nothing.
    app.post(
      '/catalog/tracks/lookup',
      {
        config: { readOnly: true },
        schema: {
          tags: ['catalog'],
          summary: 'Many catalog tracks at once (e.g. the names of a queue window)',
          body: S.LookupTracksBody,
          response: { 200: S.LookupTracksResponse, ...errors() },
        },
      },
      async (r) => {
        const ids = [...new Set(r.body.ids)];
        const found = new Map((await d.catalog.getTracks(ids)).map((t) => [t.id, t]));
        const tracks = ids.flatMap((id) => {
          const t = found.get(id);
          return t ? [view(t)] : [];
        });
        return { tracks, missing: ids.filter((id) => !found.has(id)) };
      },
    );

    // Deletes are tombstones with a new rev: every instance's catch-up drops the track from
    // recommendations (its past plays still count as co-occurrence data of other tracks).
    app.delete(
      '/catalog/tracks/:trackId',
      {
        config: admin,
        schema: {
          tags: ['catalog'],
          summary: 'Delete a catalog track: never recommended again, 404 on read (admin API key)',
          params: S.TrackParams,
          response: { 200: S.DeletedResponse, ...errors() },
        },
      },
      async (r) => {
        if (!(await d.catalog.deleteTrack(r.params.trackId, iso())))
          throw notFound('track_not_found', 'no such track in the catalog', { trackId: r.params.trackId });
        await d.sync.refresh();
        return { deleted: true };
      },
    );

    app.delete(
      '/catalog/playlists/:playlistId',
      {
        config: admin,
        schema: {
          tags: ['catalog'],
          summary: 'Delete an imported playlist: no longer co-occurrence data nor a station (admin API key)',
          params: S.PlaylistParams,
          response: { 200: S.DeletedResponse, ...errors() },
        },
      },
      async (r) => {
        if (!(await d.catalog.deletePlaylist(r.params.playlistId, iso())))
          throw notFound('playlist_not_found', 'no such playlist in the catalog', { playlistId: r.params.playlistId });
        await d.sync.refresh();
        return { deleted: true };
      },
    );

    app.get(
      '/catalog/search',
      {
        schema: {
          tags: ['catalog'],
          summary: 'Search tracks by title, artist and album words',
          querystring: S.SearchQuery,
          response: { 200: S.SearchResponse, ...errors() },
        },
      },
      async (r) => {
        await d.sync.fresh();
        const cat = d.reco.engine.catalog;
        const hits = search.search(r.query.q, r.query.limit ?? 20).filter((h) => !cat.removed[h.track]);
        return {
          tracks: hits.map(({ track, score }) => {
            const al = cat.album[track]!;
            return {
              id: cat.id(track),
              title: cat.title(track) ?? '',
              artist: cat.artistName(track) ?? '',
              album: al >= 0 ? (cat.albumTitles[al] ?? null) : null,
              score,
            };
          }),
        };
      },
    );

    app.post(
      '/catalog/playlists',
      {
        config: admin,
        schema: {
          tags: ['catalog'],
          summary: 'Import playlists (co-occurrence data, playlist:<id> stations) in bulk (admin API key)',
          body: S.UpsertPlaylistsBody,
          response: { 200: S.UpsertResponse, ...errors(413) },
        },
      },
      async (r) => {
        const res = await d.catalog.upsertPlaylists(
          r.body.playlists.map((p) => ({ id: p.id, name: p.name, followers: p.followers ?? null, tracks: p.tracks })),
          iso(),
        );
        await d.sync.refresh();
        return res;
      },
    );

    app.post(
      '/users/:userId/history',
      {
        schema: {
          tags: ['listening'],
          summary: "Bring a user's listening history (plays, skips with position, likes) in bulk",
          params: S.UserParams,
          body: S.HistoryBody,
          headers: KeyHeaders,
          response: { 200: S.HistoryResponse, ...errors(413, 422) },
        },
      },
      async (r, reply) =>
        answer(
          reply,
          200,
          await d.answers.once(pathUser(r, r.params.userId), keyOf(r), 200, async () => {
            const userId = pathUser(r, r.params.userId);
            const events = r.body.events.map((e) => {
              const at = Date.parse(e.timestamp);
              const context = (e.context as Record<string, unknown> | undefined) ?? d.reco.contextAt(userId, at, CONTEXT_WINDOW_MS);
              return {
                userId,
                sessionId: e.sessionId ? `${userId}:${e.sessionId}` : null,
                trackId: e.trackId,
                action: e.action,
                position: e.position ?? null,
                source: e.source ?? null,
                contextType: e.contextType ?? null,
                hour: contextHour(context) ?? hourOf(e.timestamp),
                context,
                occurredAt: new Date(at).toISOString(),
              };
            });
            await d.catalog.appendEvents(events);
            await d.sync.refresh();
            return { recorded: events.length };
          }),
        ),
    );

    app.post(
      '/users/:userId/context',
      {
        schema: {
          tags: ['context'],
          summary: "Report the user's context; plays that follow (3 hours at most) are attributed to it",
          params: S.UserParams,
          body: S.UserContextBody,
          headers: KeyHeaders,
          response: { 201: S.UserContextResponse, ...errors(422) },
        },
      },
      async (r, reply) => {
        const userId = pathUser(r, r.params.userId);
        return answer(reply, 201, await d.answers.once(userId, keyOf(r), 201, () => d.contextual.report(userId, r.body)));
      },
    );
  };
}
