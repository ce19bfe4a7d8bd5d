// REST routes of radio stations, recommendation queues and contextual suggestions:
// thin handlers over the services; the queues they make are ordinary queues.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { pathUser } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import { QueueIdParams } from '../queues/schemas.ts';
import type { Actor } from '../queues/service.ts';
import type { ContextualService } from './contextual.ts';
import type { MixService } from './mixes.ts';
import * as S from './schemas.ts';
import type { RadioService } from './service.ts';

const actor = (r: FastifyRequest): Actor => ({ userId: r.userId, deviceId: r.deviceId });
const FEEDBACK_ACTION = { positive: 'like', negative: 'dislike', neutral: 'neutral' } as const;

export function radioRoutes(d: { radio: RadioService; mixes: MixService; contextual: ContextualService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/radio/:stationId/queue', {
      schema: {
        tags: ['radio'], summary: 'Start a radio: a queue of type radio with 20 tracks, each with a reason; it extends itself',
        params: S.StationParams, body: S.RadioBody, response: { 201: S.RadioResponse, ...errors(409) },
      },
    }, async (r, reply) => {
      pathUser(r, r.body.userId);
      const res = await d.radio.create(actor(r), r.params.stationId, r.body);
      reply.status(201);
      return res;
    });

    app.get('/queues/:queueId/extend', {
      schema: {
        tags: ['radio'], summary: 'Append more tracks to a radio queue (ordinary item_added events)',
        params: QueueIdParams, querystring: S.ExtendQuery, response: { 200: S.BatchResponse, ...errors(409, 422) },
      },
    }, async (r) => d.radio.extend(actor(r), r.params.queueId, r.query.count ?? 10));

    app.post('/radio/:stationId/feedback', {
      schema: {
        tags: ['radio'], summary: "Skip, like or complete on a station: the station's next batch reflects it",
        params: S.StationParams, body: S.RadioFeedbackBody, response: { 200: S.RadioFeedbackResponse, ...errors() },
      },
    }, async (r) => d.radio.feedback(actor(r), r.params.stationId, r.body));

    app.post('/recommendations/queue', {
      schema: {
        tags: ['recommendations'], summary: 'Make a recommendations queue: discover_weekly, daily_mix (one per taste cluster) or album_radio',
        body: S.RecoQueueBody, response: { 201: S.RecoQueueResponse, ...errors(409, 422) },
      },
    }, async (r, reply) => {
      pathUser(r, r.body.userId);
      const res = await d.mixes.create(actor(r), r.body);
      reply.status(201);
      return res;
    });

    app.post('/queues/:queueId/refresh', {
      schema: {
        tags: ['recommendations'], summary: 'Regenerate a recommendations or radio queue, keeping the items played so far',
        params: QueueIdParams, response: { 200: S.RefreshResponse, ...errors(409, 422) },
      },
    }, async (r) => d.mixes.refresh(actor(r), r.params.queueId));

    app.post('/recommendations/feedback', {
      schema: {
        tags: ['recommendations'], summary: 'Feedback on a recommended track, folded in at once',
        body: S.RecoFeedbackBody, response: { 200: S.RecoFeedbackResponse, ...errors() },
      },
    }, async (r) => {
      const { trackId, context, feedback, queueId } = r.body;
      await d.radio.record(r.userId, {
        trackId, action: FEEDBACK_ACTION[feedback], position: null, source: `reco:${context}`, contextType: 'personalized_playlist',
        sessionId: queueId ? `queue:${queueId}` : null,
      });
      const a = d.radio.affinity(r.userId, trackId);
      return { trackId, feedback, affinity: a };
    });

    app.post('/queues/contextual', {
      schema: {
        tags: ['context'], summary: 'Queues that fit a context, ranked with scores and reasons',
        body: S.ContextualBody, response: { 200: S.ContextualResponse, ...errors() },
      },
    }, async (r) => {
      pathUser(r, r.body.userId);
      return d.contextual.suggest(actor(r), r.body.context, r.body.limit ?? 10);
    });
  };
}
