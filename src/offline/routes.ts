// REST routes of offline sync and offline preparation (docs/OFFLINE.md): thin handlers
// over OfflineSyncService and QueueService with full schemas.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { opScope, requireScope } from '../auth/scopes.ts';
import { invalid } from '../errors.ts';
import { errors } from '../http/schemas.ts';
import { signMediaUrl, type MediaSettings } from '../media/signing.ts';
import { toView } from '../queues/queue.ts';
import { QueueIdParams } from '../queues/schemas.ts';
import type { QueueService } from '../queues/service.ts';
import * as S from './schemas.ts';
import type { OfflineSyncService } from './service.ts';

export function offlineRoutes(sync: OfflineSyncService, queues: QueueService, media: MediaSettings, now: () => number = Date.now): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/sync/offline',
      {
        schema: {
          tags: ['offline'],
          summary: 'Replay changes made offline (once each, in order) and get what the client needs to rebase',
          description: "Policies per operation: docs/OFFLINE.md. A bad change fails alone; each queue's accepted changes commit together.",
          body: S.SyncBody,
          response: { 200: S.SyncResponse, ...errors(413) },
        },
      },
      async (r) => {
        // The device's changes carry its id, so its own sockets do not get them back as new.
        const fromBody = r.body.deviceId;
        if (fromBody !== undefined && r.deviceId !== null && fromBody !== r.deviceId) {
          throw invalid('device_mismatch', 'X-Device-Id and deviceId disagree', { header: r.deviceId, body: fromBody });
        }
        const actor = { userId: r.userId, deviceId: fromBody ?? r.deviceId };
        const scopes = r.credential?.scopes ?? null;
        return sync.sync(actor, {
          changes: r.body.changes,
          lastSyncTimestamp: r.body.lastSyncTimestamp,
          lastSequences: r.body.lastSequences,
          // [AU7] Each change needs its op's scope; one the token lacks fails alone.
          authorize: scopes === null ? undefined : (type, op) => requireScope(scopes, type === 'playback' ? 'playback:write' : opScope(op)),
        });
      },
    );

    app.get(
      '/queues/:queueId/offline',
      {
        schema: {
          tags: ['offline'],
          summary: 'A queue with a signed download URL per item, for offline play',
          params: QueueIdParams,
          response: { 200: S.OfflineQueueResponse, ...errors() },
        },
      },
      async (r, reply) => {
        const state = await queues.get({ userId: r.userId, deviceId: r.deviceId }, r.params.queueId);
        const exp = Math.floor(now() / 1000) + media.urlTtlSeconds;
        reply.header('etag', `"${state.version}"`);
        return {
          queue: toView(state),
          version: state.version,
          downloadUrls: state.items.map((i) => ({
            itemId: i.itemId,
            trackId: i.trackId,
            url: signMediaUrl(media.baseUrl, i.trackId, r.userId, exp, media.signingKey),
          })),
          expires: exp * 1000,
          expiresAt: new Date(exp * 1000).toISOString(),
        };
      },
    );
  };
}
