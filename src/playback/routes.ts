// REST routes of playback state and devices: thin handlers over PlaybackService with
// full schemas. `{userId}` is always the caller (`me` works too).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pathUser } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import type { Actor } from '../model/actor.ts';
import { fingerprint } from '../util/commit.ts';
import * as S from './schemas.ts';
import type { IdempotencyOptions, PlaybackResult, PlaybackService } from './service.ts';

/** The caller, after checking the path names them. */
function actor(r: FastifyRequest<{ Params: { userId: string } }>): Actor {
  return { userId: pathUser(r, r.params.userId), deviceId: r.deviceId };
}

/** Idempotency-Key or mutationId; the fingerprint uses the resolved user so `me` and the id match. */
function idempotency(r: FastifyRequest, userId: string): IdempotencyOptions {
  const { mutationId, ...rest } = (r.body ?? {}) as { mutationId?: string };
  const key = (r.headers['idempotency-key'] as string | undefined) ?? mutationId;
  return key ? { idempotencyKey: key, fingerprint: fingerprint(r.method, r.routeOptions.url, { ...(r.params as object), userId }, rest) } : {};
}

function send(reply: FastifyReply, result: PlaybackResult) {
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  return result.body;
}

export function playbackRoutes(service: PlaybackService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.put(
      '/users/:userId/playback-state',
      {
        schema: {
          tags: ['playback'],
          summary: "Store this device's playback state (a write from another device than the active one is a transfer)",
          params: S.UserParams,
          headers: S.PlaybackWriteHeaders,
          body: S.PlaybackWriteBody,
          response: { 200: S.PlaybackStateResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => {
        const a = actor(r);
        const { mutationId: _m, ...input } = r.body;
        return send(reply, await service.write(a, input, idempotency(r, a.userId)));
      },
    );

    app.get(
      '/users/:userId/playback-state',
      {
        schema: {
          tags: ['playback'],
          summary: "The newest playback state of the user's devices (except exclude_device), position extrapolated to now",
          params: S.UserParams,
          querystring: S.PlaybackQuery,
          response: { 200: S.PlaybackStateResponse, ...errors() },
        },
      },
      async (r) => service.get(actor(r).userId, r.query.exclude_device),
    );

    app.post(
      '/users/:userId/playback/transfer',
      {
        schema: {
          tags: ['playback'],
          summary: 'Move playback to another device of the user, at the position it has reached',
          params: S.UserParams,
          headers: S.PlaybackWriteHeaders,
          body: S.TransferBody,
          response: { 200: S.PlaybackStateResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => {
        const a = actor(r);
        return send(reply, await service.transfer(a, { deviceId: r.body.deviceId, play: r.body.play }, idempotency(r, a.userId)));
      },
    );

    app.get(
      '/users/:userId/sync-events',
      {
        schema: {
          tags: ['playback'],
          summary: "The user's sync events after a sequence number, paged (what a socket replays on resume)",
          params: S.UserParams,
          querystring: S.SyncEventsQuery,
          response: { 200: S.SyncEventsResponse, ...errors() },
        },
      },
      async (r) => {
        const userId = actor(r).userId;
        const since = r.query.since ?? 0;
        // Events first, then the version: the version is then never below the last event read.
        const events = await service.readEvents(userId, since, r.query.limit ?? 100);
        const version = await service.version(userId);
        const last = events[events.length - 1];
        const nextSince = last ? last.sequenceNumber : Math.max(since, 0);
        return { events, version, nextSince, hasMore: nextSince < version };
      },
    );

    app.get(
      '/users/:userId/devices',
      {
        schema: {
          tags: ['devices'],
          summary: "The user's devices, with which are online and which is active",
          params: S.UserParams,
          response: { 200: S.DevicesResponse, ...errors() },
        },
      },
      async (r) => ({ devices: await service.listDevices(actor(r).userId) }),
    );

    app.put(
      '/users/:userId/devices/:deviceId',
      {
        schema: {
          tags: ['devices'],
          summary: 'Register a device or rename it (for apps without a socket); marks it seen now',
          params: S.DeviceParams,
          body: S.DeviceBody,
          response: { 200: S.DeviceSchema, ...errors() },
        },
      },
      async (r) => service.registerDevice(actor(r).userId, r.params.deviceId, r.body),
    );
  };
}
