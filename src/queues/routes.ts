// REST routes of the queue API: thin handlers over QueueService with full schemas.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, invalid } from '../errors.ts';
import { errors, WriteHeaders } from '../http/schemas.ts';
import type { QueueCommand } from './decide.ts';
import { type QueueState, toView, windowKeys, type WindowQuery } from './queue.ts';
import * as S from './schemas.ts';
import { eventsPageJson, readJson, sendJson, writeBodyJson } from './view-json.ts';
import type { Actor } from '../model/actor.ts';
import { fingerprint } from '../util/commit.ts';
import type { QueueService, WriteOptions, WriteResult } from './service.ts';

export const actor = (r: FastifyRequest): Actor => ({ userId: r.userId, deviceId: r.deviceId });

/** If-Match / expectedVersion and Idempotency-Key / mutationId, whichever the client used. */
export function writeOptions(r: FastifyRequest): WriteOptions {
  const body = (r.body ?? {}) as { expectedVersion?: number; mutationId?: string };
  const header = r.headers['if-match'];
  let fromHeader: number | undefined;
  if (typeof header === 'string' && header !== '*') {
    const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
    if (!m) throw invalid('invalid_if_match', 'If-Match must be a queue version, e.g. "12"', { ifMatch: header });
    fromHeader = Number(m[1]);
  }
  if (fromHeader !== undefined && body.expectedVersion !== undefined && fromHeader !== body.expectedVersion) {
    throw invalid('version_mismatch', 'If-Match and expectedVersion disagree', { ifMatch: fromHeader, expectedVersion: body.expectedVersion });
  }
  const key = (r.headers['idempotency-key'] as string | undefined) ?? body.mutationId;
  const { mutationId: _m, expectedVersion: _v, ...rest } = body;
  return {
    expectedVersion: fromHeader ?? body.expectedVersion,
    idempotencyKey: key,
    fingerprint: key ? fingerprint(r.method, r.routeOptions.url, r.params, rest) : undefined,
    minimal: prefersMinimal(r),
  };
}

/** RFC 9110 If-None-Match (weak comparison): true when the header names `etag` or is `*`, so the answer is 304. */
function matchesNoneOf(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const tag of header.split(',')) {
    const t = tag.trim();
    if (t === '*' || t === etag || (t.startsWith('W/') && t.slice(2) === etag)) return true;
  }
  return false;
}

/** 304 Not Modified: no body (the ETag is on the reply already). */
function notModified(reply: FastifyReply): void {
  reply.code(304).send();
}

/** [QW5] RFC 7240 `Prefer: return=minimal` (version and events only) or `return=representation` (the default). */
export function prefersMinimal(r: FastifyRequest): boolean {
  const h = r.headers.prefer;
  if (h === undefined) return false;
  const prefs = (Array.isArray(h) ? h.join(',') : h).split(',').map((p) => p.trim().toLowerCase().replace(/\s+/g, ''));
  return prefs.includes('return=minimal') && !prefs.includes('return=representation');
}

/** A read's answer: its ETag, then 304, the view's JSON text, or the view with its item keys (a body for the serialiser). */
function answerRead(ifNoneMatch: string | undefined, q: WindowQuery & { keys?: boolean }, state: QueueState, reply: FastifyReply) {
  const etag = `"${state.version}"`;
  reply.header('etag', etag);
  // [QW10] A client polling the queue it holds gets 304 and no body while nothing changed.
  if (matchesNoneOf(ifNoneMatch, etag)) return notModified(reply);
  const { keys, ...window } = q;
  if (!keys) return sendJson(reply, readJson(state, window));
  const view = toView(state, window);
  return { ...view, itemKeys: windowKeys(state, view) };
}

/** Sends a write's answer: status, headers, and the body as its JSON text (view-json.ts: the response schema's fields). */
export function send(reply: FastifyReply, result: WriteResult): void {
  reply.header('etag', `"${result.body.version}"`);
  reply.header('preference-applied', result.body.queue === undefined ? 'return=minimal' : 'return=representation');
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  reply.status(result.status);
  sendJson(reply, writeBodyJson(result.body));
}

export const write = { headers: WriteHeaders, response: { 200: S.WriteResponse, ...errors(409, 413, 422, 429) } };

export function queueRoutes(service: QueueService): FastifyPluginAsyncTypebox {
  return async (app) => {
    /** Runs one command from a route whose params carry queueId. */
    const run = (r: FastifyRequest<{ Params: { queueId: string } }>, reply: FastifyReply, cmd: QueueCommand) =>
      service.execute(actor(r), r.params.queueId, cmd, writeOptions(r)).then((res) => send(reply, res));

    app.post(
      '/queues',
      {
        schema: {
          tags: ['queues'],
          summary: 'Create a queue',
          body: S.CreateQueueBody,
          headers: WriteHeaders,
          response: { 201: S.WriteResponse, ...errors(413, 422) },
        },
      },
      async (r, reply) => send(reply, await service.create(actor(r), r.body, writeOptions(r))),
    );

    app.get(
      '/queues',
      {
        schema: {
          tags: ['queues'],
          summary: "The caller's queues, most recently changed first",
          querystring: S.ListQuery,
          response: { 200: S.ListResponse, ...errors() },
        },
      },
      async (r) => {
        const page = await service.list(actor(r), r.query.limit ?? 50, r.query.cursor ?? null);
        return { queues: page.items, nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/queues/:queueId',
      {
        schema: {
          tags: ['queues'],
          summary: 'Get a queue: its header and a window of its items (the first 200 unless asked otherwise)',
          description:
            '[QW1]-[QW4], [QW10] in docs/SPEC.md. `itemCount` is the size of the whole queue; page with `window.nextCursor`, ' +
            'or ask for `?around=current`, `?after={itemId}` or `?offset=` (each with `limit`, at most 1,000). ' +
            '`If-None-Match` with the `ETag` of an earlier answer: 304 and no body while the queue is still at that version.',
          params: S.QueueIdParams,
          querystring: S.WindowQuerySchema,
          response: { 200: Type.Composite([S.QueueSchema, Type.Object({ itemKeys: Type.Optional(S.ItemKeysSchema) })]), ...errors(409) },
        },
      },
      (r, reply) => {
        const q = r.query;
        const given = [q.offset, q.after, q.around, q.cursor].filter((x) => x !== undefined).length;
        if (given > 1) throw invalid('ambiguous_window', 'give at most one of offset, after, around, cursor');
        // A cached state answers without a promise; otherwise (a miss, another instance's
        // store, a 404) the service's own path.
        const who = actor(r);
        const cached = service.getCached(who, r.params.queueId);
        if (cached !== undefined) return answerRead(r.headers['if-none-match'], q, cached, reply);
        return service.get(who, r.params.queueId).then((state) => answerRead(r.headers['if-none-match'], q, state, reply));
      },
    );

    app.patch(
      '/queues/:queueId',
      {
        schema: { tags: ['queues'], summary: 'Rename a queue or replace its metadata', params: S.QueueIdParams, body: S.UpdateQueueBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'update_queue', name: r.body.name, metadata: r.body.metadata }),
    );

    app.delete(
      '/queues/:queueId',
      {
        schema: { tags: ['queues'], summary: 'Delete a queue (its event log stays readable)', params: S.QueueIdParams, ...write },
      },
      (r, reply) => run(r, reply, { type: 'delete_queue' }),
    );

    app.post(
      '/queues/:queueId/tracks',
      {
        schema: {
          tags: ['items'],
          summary: 'Add tracks at an index, after or before an item, or at the end',
          params: S.QueueIdParams,
          body: S.AddTracksBody,
          ...write,
        },
      },
      (r, reply) => {
        if (r.body.addedBy !== undefined && r.body.addedBy !== r.userId) {
          throw new AppError('forbidden', 'added_by_mismatch', 'addedBy must be the caller; the server records who added what', { addedBy: r.body.addedBy });
        }
        const { tracks, position, afterItemId, beforeItemId } = r.body;
        return run(r, reply, { type: 'add_tracks', tracks, position, afterItemId, beforeItemId });
      },
    );

    app.delete(
      '/queues/:queueId/items/:itemId',
      {
        schema: { tags: ['items'], summary: 'Remove one item', params: S.ItemParams, ...write },
      },
      (r, reply) => run(r, reply, { type: 'remove_items', itemIds: [r.params.itemId] }),
    );

    app.post(
      '/queues/:queueId/items/remove',
      {
        schema: { tags: ['items'], summary: 'Remove several items at once', params: S.QueueIdParams, body: S.RemoveItemsBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'remove_items', itemIds: r.body.itemIds }),
    );

    app.post(
      '/queues/:queueId/items/:itemId/move',
      {
        schema: { tags: ['items'], summary: 'Move an item to an index, or after / before another item', params: S.ItemParams, body: S.MoveItemBody, ...write },
      },
      (r, reply) => {
        const { position, afterItemId, beforeItemId } = r.body;
        if (position === undefined && afterItemId === undefined && beforeItemId === undefined) {
          throw invalid('missing_placement', 'give one of position, afterItemId, beforeItemId');
        }
        return run(r, reply, { type: 'move_item', itemId: r.params.itemId, position, afterItemId, beforeItemId });
      },
    );

    app.post(
      '/queues/:queueId/clear',
      {
        schema: { tags: ['items'], summary: 'Remove all items, or only those after the current one', params: S.QueueIdParams, body: S.ClearBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'clear', upcomingOnly: r.body.upcomingOnly }),
    );

    app.put(
      '/queues/:queueId/shuffle',
      {
        schema: {
          tags: ['playback order'],
          summary: 'Shuffle on (current item first) or off (restores the order before shuffle)',
          params: S.QueueIdParams,
          body: S.ShuffleBody,
          ...write,
        },
      },
      (r, reply) => run(r, reply, { type: 'set_shuffle', shuffle: r.body.shuffle }),
    );

    app.put(
      '/queues/:queueId/repeat',
      {
        schema: { tags: ['playback order'], summary: 'Repeat off, all or one', params: S.QueueIdParams, body: S.RepeatBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'set_repeat', repeat: r.body.repeat }),
    );

    app.put(
      '/queues/:queueId/current',
      {
        schema: { tags: ['playback order'], summary: 'Set the current item (null: none)', params: S.QueueIdParams, body: S.CurrentBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'set_current', itemId: r.body.itemId }),
    );

    app.post(
      '/queues/:queueId/next',
      {
        schema: {
          tags: ['playback order'],
          summary: 'Advance to the next item, following shuffle and repeat',
          params: S.QueueIdParams,
          body: S.NextBody,
          ...write,
        },
      },
      (r, reply) => run(r, reply, { type: 'next', reason: r.body.reason }),
    );

    app.post(
      '/queues/:queueId/previous',
      {
        schema: { tags: ['playback order'], summary: 'Go back to the previous item', params: S.QueueIdParams, body: S.PreviousBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'previous' }),
    );

    app.get(
      '/queues/:queueId/events',
      {
        schema: {
          tags: ['events'],
          summary: 'The event log after a sequence number, paged',
          params: S.QueueIdParams,
          querystring: S.EventsQuery,
          response: { 200: S.EventsResponse, ...errors() },
        },
      },
      async (r, reply) => {
        const since = r.query.since ?? 0;
        const limit = r.query.limit ?? 100;
        const { events, version, logStart } = await service.events(actor(r), r.params.queueId, since, limit);
        const last = events[events.length - 1];
        const nextSince = last ? last.sequenceNumber : Math.max(since, 0);
        sendJson(reply, eventsPageJson({ events, version, nextSince, hasMore: nextSince < version, logStart }));
      },
    );
  };
}
