// REST routes of listening parties, and the party socket, as one plugin. Thin handlers over
// PartyService; rules in docs/SPEC.md ([PA1]...).
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/authenticator.ts';
import type { RealtimeConfig } from '../config.ts';
import { errors, MAX_INT32 } from '../http/schemas.ts';
import type { Metrics } from '../metrics.ts';
import { Tracks, WriteResponse } from '../queues/schemas.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService } from '../queues/service.ts';
import type { Bus } from '../realtime/bus.ts';
import type { SocketServer } from '../realtime/socket-server.ts';
import { CreatePartyBody, HostBody, JoinPartyBody, PartyIdParams, PartySchema, PlaybackBody, PlaybackResponse, SettingsBody } from './protocol.ts';
import type { PartyService } from './service.ts';
import { partyMessage, partySocketRoutes } from './socket.ts';

export interface PartyRoutesDeps {
  /** Checks the tokens of the party socket's `auth` messages. */
  auth: Pick<Authenticator, 'authenticate'>;
  service: PartyService;
  /** The party queue's state and events, for the party socket. */
  queues: QueueService;
  /** The connection lifecycle shared with the queue and sync sockets. */
  server: SocketServer;
  bus: Bus;
  metrics: Metrics;
  realtime: RealtimeConfig;
  now: () => number;
}

const actor = (r: FastifyRequest): Actor => ({ userId: r.userId, deviceId: r.deviceId });

const PartyTracksBody = Type.Object(
  {
    tracks: Tracks,
    position: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_INT32 })),
    afterItemId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    beforeItemId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

const IdempotencyHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) });

export function partyRoutes(deps: PartyRoutesDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const { service, now } = deps;
    const tags = ['parties'];
    const party = { 200: PartySchema, ...errors(409, 422) };

    app.post(
      '/parties',
      {
        schema: {
          tags,
          summary: 'Create a listening party on one of your queues; you host it',
          body: CreatePartyBody,
          response: { 201: PartySchema, ...errors(409) },
        },
      },
      async (r, reply) => reply.status(201).send(await service.create(actor(r), r.body)),
    );

    app.get(
      '/parties/:partyId',
      {
        schema: {
          tags,
          summary: 'The party: members (online, measured links, latest position errors [PA9]), playback timeline, settings',
          params: PartyIdParams,
          response: party,
        },
      },
      async (r) => service.view(actor(r), r.params.partyId),
    );

    app.post(
      '/parties/:partyId/join',
      {
        schema: { tags, summary: 'Join with the invite code (joining again changes nothing)', params: PartyIdParams, body: JoinPartyBody, response: party },
      },
      async (r) => service.join(actor(r), r.params.partyId, r.body.inviteCode, r.body.deviceInfo),
    );

    app.post(
      '/parties/:partyId/leave',
      {
        schema: {
          tags,
          summary: 'Leave; a leaving host hands over to the longest-standing member; the last one out ends the party',
          params: PartyIdParams,
          response: { 204: Type.Null(), ...errors(409) },
        },
      },
      async (r, reply) => {
        await service.leave(actor(r), r.params.partyId);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/parties/:partyId/end',
      {
        schema: { tags, summary: 'End the party (host only)', params: PartyIdParams, response: party },
      },
      async (r) => service.end(actor(r), r.params.partyId),
    );

    app.post(
      '/parties/:partyId/host',
      {
        schema: { tags, summary: 'Hand hosting over to another member (host only)', params: PartyIdParams, body: HostBody, response: party },
      },
      async (r) => service.handOver(actor(r), r.params.partyId, r.body.userId),
    );

    app.patch(
      '/parties/:partyId',
      {
        schema: { tags, summary: 'Settings (host only): let members add tracks', params: PartyIdParams, body: SettingsBody, response: party },
      },
      async (r) => service.settings(actor(r), r.params.partyId, r.body.allowMemberAdds),
    );

    app.post(
      '/parties/:partyId/playback',
      {
        schema: {
          tags,
          summary:
            "Host only: the REST twin of the socket's playback_sync (play, pause, seek, next, previous, another item); answers the scheduled playback_sync. With an Idempotency-Key (the socket command's mutationId: one namespace per member) a repeat is applied once and answered the event the first one appended",
          params: PartyIdParams,
          headers: IdempotencyHeader,
          body: PlaybackBody,
          response: { 200: PlaybackResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => {
        const { event, replayed } = await service.playback(actor(r), r.params.partyId, r.body, r.headers['idempotency-key']);
        if (replayed) reply.header('idempotent-replayed', 'true');
        return partyMessage(r.params.partyId, event) as Static<typeof PlaybackResponse>;
      },
    );

    app.post(
      '/parties/:partyId/tracks',
      {
        schema: {
          tags,
          summary: 'Add tracks to the party queue: the host, and members when the host allows it',
          params: PartyIdParams,
          headers: IdempotencyHeader,
          body: PartyTracksBody,
          response: { 200: WriteResponse, ...errors(409, 413, 422) },
        },
      },
      async (r, reply) => {
        const res = await service.addTracks(actor(r), r.params.partyId, r.body, r.headers['idempotency-key']);
        if (res.replayed) reply.header('idempotent-replayed', 'true');
        return res.body;
      },
    );

    await app.register(
      partySocketRoutes({
        auth: deps.auth,
        service,
        queues: deps.queues,
        server: deps.server,
        bus: deps.bus,
        metrics: deps.metrics,
        options: deps.realtime,
        now,
      }),
    );
  };
}
