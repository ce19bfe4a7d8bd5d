// REST routes of collaborative queues (docs/SPEC.md [CO1]-[CO11]): thin handlers over
// QueueService (every change is a queue command, authorized there) and InviteService.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, WriteHeaders } from '../http/schemas.ts';
import type { QueueCommand } from '../queues/decide.ts';
import { actor, send, write, writeOptions } from '../queues/routes.ts';
import * as S from '../queues/schemas.ts';
import type { QueueService } from '../queues/service.ts';
import type { QueuePresence } from '../realtime/queue-presence.ts';
import { CreateInviteBody, InviteSchema, PresenceResponse } from './schemas.ts';
import type { InviteService } from './service.ts';

const CodeParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });
const InviteParams = Type.Object({ queueId: S.Id, code: CodeParams.properties.code });

export interface CollabRouteDeps {
  queues: QueueService;
  invites: InviteService;
  presence: QueuePresence;
}

type QueueReq = FastifyRequest<{ Params: { queueId: string } }>;

export function collabRoutes({ queues, invites, presence }: CollabRouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const run = (r: QueueReq, reply: FastifyReply, cmd: QueueCommand) =>
      queues.execute(actor(r), r.params.queueId, cmd, writeOptions(r)).then((res) => send(reply, res));
    const tags = ['collaboration'];

    app.post(
      '/queues/collaborative',
      {
        schema: {
          tags,
          summary: 'Create a collaborative queue: the caller owns it, `collaborators` join as contributors',
          body: S.CreateCollaborativeBody,
          headers: WriteHeaders,
          response: { 201: S.WriteResponse, ...errors(413, 422) },
        },
      },
      async (r, reply) => {
        const { name, tracks, isPublic, collaborators, metadata } = r.body;
        return send(reply, await queues.create(actor(r), { name, type: 'collaborative', tracks, isPublic, collaborators, metadata }, writeOptions(r)));
      },
    );

    app.get(
      '/queues/:queueId/collaborators',
      {
        schema: {
          tags,
          summary: 'The owner, the collaborators and your role',
          params: S.QueueIdParams,
          response: { 200: S.CollaboratorsResponse, ...errors() },
        },
      },
      (r) => queues.collaborators(actor(r), r.params.queueId),
    );

    app.post(
      '/queues/:queueId/collaborators',
      {
        schema: { tags, summary: 'Add a collaborator (or change the level of one)', params: S.QueueIdParams, body: S.AddCollaboratorBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'add_collaborator', userId: r.body.userId, role: r.body.permissionLevel }),
    );

    app.put(
      '/queues/:queueId/collaborators/:userId',
      {
        schema: { tags, summary: "Change a collaborator's level", params: S.UserParams, body: S.SetRoleBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'set_collaborator_role', userId: r.params.userId, role: r.body.permissionLevel }),
    );

    app.delete(
      '/queues/:queueId/collaborators/:userId',
      {
        schema: { tags, summary: 'Remove a collaborator (yourself: leave)', params: S.UserParams, ...write },
      },
      (r, reply) => run(r, reply, { type: 'remove_collaborator', userId: r.params.userId }),
    );

    app.post(
      '/queues/:queueId/leave',
      {
        schema: { tags, summary: 'Leave a queue you collaborate on (the owner transfers it first)', params: S.QueueIdParams, body: S.EmptyWriteBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'leave_queue' }),
    );

    app.post(
      '/queues/:queueId/join',
      {
        schema: { tags, summary: 'Join a public queue as a viewer', params: S.QueueIdParams, body: S.EmptyWriteBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'join_queue', role: 'viewer', via: 'public' }),
    );

    app.post(
      '/queues/:queueId/transfer',
      {
        schema: { tags, summary: 'Hand the queue to a collaborator; you stay on as an admin', params: S.QueueIdParams, body: S.TransferBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'transfer_ownership', userId: r.body.userId }),
    );

    app.put(
      '/queues/:queueId/visibility',
      {
        schema: {
          tags,
          summary: 'Make the queue public (readable and joinable as viewer by anyone) or private',
          params: S.QueueIdParams,
          body: S.VisibilityBody,
          ...write,
        },
      },
      (r, reply) => run(r, reply, { type: 'set_visibility', isPublic: r.body.isPublic }),
    );

    app.put(
      '/queues/:queueId/settings',
      {
        schema: { tags, summary: 'Fair play order and vote order of the upcoming items', params: S.QueueIdParams, body: S.SettingsBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'update_settings', fairOrder: r.body.fairOrder, voteOrder: r.body.voteOrder }),
    );

    app.post(
      '/queues/:queueId/items/:itemId/vote',
      {
        schema: { tags, summary: 'Vote an item up (1) or down (-1), or take the vote back (0)', params: S.ItemParams, body: S.VoteBody, ...write },
      },
      (r, reply) => run(r, reply, { type: 'vote_item', itemId: r.params.itemId, vote: r.body.vote }),
    );

    app.get(
      '/queues/:queueId/history',
      {
        schema: {
          tags,
          summary: 'Who did what, when: the event log newest first, paged',
          params: S.QueueIdParams,
          querystring: S.HistoryQuery,
          response: { 200: S.HistoryResponse, ...errors() },
        },
      },
      (r) => queues.history(actor(r), r.params.queueId, r.query.before ?? null, r.query.limit ?? 50),
    );

    app.get(
      '/queues/:queueId/presence',
      {
        schema: { tags, summary: 'Who has the queue open right now', params: S.QueueIdParams, response: { 200: PresenceResponse, ...errors() } },
      },
      async (r) => {
        await queues.get(actor(r), r.params.queueId);
        const viewers = await presence.viewers(r.params.queueId);
        return { queueId: r.params.queueId, viewers: viewers.map((v) => ({ ...v, since: new Date(v.since).toISOString() })) };
      },
    );

    app.post(
      '/queues/:queueId/invites',
      {
        schema: {
          tags,
          summary: 'Make an invite code with a role and an expiry (owner; admins: contributor or viewer)',
          params: S.QueueIdParams,
          body: CreateInviteBody,
          response: { 201: InviteSchema, ...errors(422) },
        },
      },
      async (r, reply) => {
        reply.status(201);
        return invites.create(actor(r), r.params.queueId, r.body);
      },
    );

    app.get(
      '/queues/:queueId/invites',
      {
        schema: {
          tags,
          summary: 'The live invite codes',
          params: S.QueueIdParams,
          response: { 200: Type.Object({ invites: Type.Array(InviteSchema) }), ...errors() },
        },
      },
      async (r) => ({ invites: await invites.list(actor(r), r.params.queueId) }),
    );

    app.delete(
      '/queues/:queueId/invites/:code',
      {
        schema: { tags, summary: 'Revoke an invite code', params: InviteParams, response: { 204: Type.Null(), ...errors() } },
      },
      async (r, reply) => {
        await invites.revoke(actor(r), r.params.queueId, r.params.code);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/invites/:code/accept',
      {
        schema: {
          tags,
          summary: "Join the invite's queue with its role (a wrong code is 404, an expired one 403 invite_expired)",
          params: CodeParams,
          body: S.EmptyWriteBody,
          headers: WriteHeaders,
          response: { 200: S.WriteResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => send(reply, await invites.accept(actor(r), r.params.code, writeOptions(r))),
    );
  };
}
