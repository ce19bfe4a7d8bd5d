// REST routes of radio stations, recommendation queues and contextual suggestions:
// thin handlers over the services; the queues they make are ordinary queues.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pathUser } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import { QueueIdParams } from '../queues/schemas.ts';
import type { Actor } from '../model/actor.ts';
import type { ContextualService } from './contextual.ts';
import { answer, keyOf, KeyHeaders, type Answers } from '../catalog/answers.ts';
import { sendJson } from '../queues/view-json.ts';
import { batchJson, radioJson, recoQueueJson } from './answer-json.ts';
import type { MixService } from './mixes.ts';
import * as S from './schemas.ts';
import type { RadioService } from './service.ts';

const actor = (r: FastifyRequest): Actor => ({ userId: r.userId, deviceId: r.deviceId });
const FEEDBACK_ACTION = { positive: 'like', negative: 'dislike', neutral: 'neutral' } as const;

export function radioRoutes(d: { radio: RadioService; mixes: MixService; contextual: ContextualService; answers: Answers }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/radio/:stationId/queue',
      {
        schema: {
          tags: ['radio'],
          summary: 'Start a radio: a queue of type radio with 20 tracks, each with a reason; it extends itself',
          params: S.StationParams,
          body: S.RadioBody,
          headers: KeyHeaders,
          response: { 201: S.RadioResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => {
        pathUser(r, r.body.userId);
        const k = keyOf(r);
        sendJson(reply, radioJson(answer(reply, 201, await d.answers.once(r.userId, k, 201, () => d.radio.create(actor(r), r.params.stationId, r.body, k)))));
      },
    );

    // Extend: GET keeps the first contract (radio clients call it); POST is the one to use,
    // since a GET that writes can be replayed by caches and prefetchers. Both take a key.
    const extend = async (r: FastifyRequest<{ Params: { queueId: string }; Querystring: { count?: number } }>, reply: FastifyReply, count: number) => {
      const k = keyOf(r);
      sendJson(
        reply,
        batchJson(answer(reply, 200, await d.answers.once(r.userId, k, 200, () => d.radio.extend(actor(r), r.params.queueId, count, { keyed: k })))),
      );
    };
    const extendDoc =
      "Append tracks to any queue the caller may add to: a radio plays on its station; any other queue is continued from its own tracks and the caller's taste (autoplay). Nothing the queue ever held comes back until the station is exhausted. Ordinary item_added events.";
    app.get(
      '/queues/:queueId/extend',
      {
        schema: {
          tags: ['radio'],
          summary: 'Append more tracks to a queue (prefer POST: a GET may be replayed by caches)',
          description: extendDoc,
          params: QueueIdParams,
          querystring: S.ExtendQuery,
          headers: KeyHeaders,
          response: { 200: S.BatchResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => extend(r, reply, r.query.count ?? 10),
    );
    app.post(
      '/queues/:queueId/extend',
      {
        schema: {
          tags: ['radio'],
          summary: 'Append more tracks to a queue (radio, or autoplay for any other)',
          description: extendDoc,
          params: QueueIdParams,
          querystring: S.ExtendQuery,
          body: S.ExtendBody,
          headers: KeyHeaders,
          response: { 200: S.BatchResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => extend(r, reply, r.body.count ?? r.query.count ?? 10),
    );

    app.post(
      '/radio/:stationId/feedback',
      {
        schema: {
          tags: ['radio'],
          summary: "Skip, like or complete on a station: the station's next batch reflects it",
          params: S.StationParams,
          body: S.RadioFeedbackBody,
          headers: KeyHeaders,
          response: { 200: S.RadioFeedbackResponse, ...errors(422) },
        },
      },
      async (r, reply) => answer(reply, 200, await d.answers.once(r.userId, keyOf(r), 200, () => d.radio.feedback(actor(r), r.params.stationId, r.body))),
    );

    app.post(
      '/recommendations/queue',
      {
        schema: {
          tags: ['recommendations'],
          summary: 'Make a recommendations queue: discover_weekly, daily_mix (one per taste cluster) or album_radio',
          body: S.RecoQueueBody,
          headers: KeyHeaders,
          response: { 201: S.RecoQueueResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => {
        pathUser(r, r.body.userId);
        sendJson(reply, recoQueueJson(answer(reply, 201, await d.answers.once(r.userId, keyOf(r), 201, () => d.mixes.create(actor(r), r.body)))));
      },
    );

    app.post(
      '/queues/:queueId/refresh',
      {
        schema: {
          tags: ['recommendations'],
          summary: 'Regenerate a recommendations or radio queue, keeping the items played so far',
          params: QueueIdParams,
          headers: KeyHeaders,
          response: { 200: S.RefreshResponse, ...errors(409, 422) },
        },
      },
      async (r, reply) => answer(reply, 200, await d.answers.once(r.userId, keyOf(r), 200, () => d.mixes.refresh(actor(r), r.params.queueId))),
    );

    app.post(
      '/recommendations/feedback',
      {
        schema: {
          tags: ['recommendations'],
          summary: 'Feedback on a recommended track, folded in at once',
          body: S.RecoFeedbackBody,
          headers: KeyHeaders,
          response: { 200: S.RecoFeedbackResponse, ...errors(422) },
        },
      },
      async (r, reply) =>
        answer(
          reply,
          200,
          await d.answers.once(r.userId, keyOf(r), 200, async () => {
            const { trackId, context, feedback, queueId } = r.body;
            await d.radio.record(r.userId, {
              trackId,
              action: FEEDBACK_ACTION[feedback],
              position: null,
              source: `reco:${context}`,
              contextType: 'personalized_playlist',
              sessionId: queueId ? `queue:${queueId}` : null,
            });
            const a = d.radio.affinity(r.userId, trackId);
            return { trackId, feedback, affinity: a };
          }),
        ),
    );

    app.post(
      '/queues/contextual',
      {
        schema: {
          tags: ['context'],
          summary: 'Queues that fit a context, ranked with scores and reasons',
          body: S.ContextualBody,
          response: { 200: S.ContextualResponse, ...errors() },
        },
      },
      async (r) => {
        pathUser(r, r.body.userId);
        return d.contextual.suggest(actor(r), r.body.context, r.body.limit ?? 10);
      },
    );
  };
}
