// WS /ws/queues/{queueId}: one queue's events, resumable with ?since. Strangers get a 404
// before the upgrade. Commands on it default to its queue. [CO11] Who has the queue open is
// kept in QueuePresence and told as presence notes on the queue stream.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/schemas.ts';
import { requireUpgrade } from '../http/upgrade.ts';
import { hello, serve } from '../realtime/endpoint.ts';
import { Id } from './schemas.ts';
import { ConnectQuery, type QueueSocketCommands, type SocketDeps } from './socket-commands.ts';

export function queueSocketRoute(app: FastifyInstance, deps: SocketDeps, commands: QueueSocketCommands): void {
  const { server, queues, queuePresence, admission, now } = deps;
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/ws/queues/:queueId',
    {
      websocket: true,
      schema: {
        tags: ['realtime'],
        summary: "WebSocket: one queue's events (see /asyncapi.json)",
        params: Type.Object({ queueId: Id }),
        querystring: ConnectQuery,
        response: errors(426),
      },
      // Checked before the upgrade: strangers get a 404, never a socket.
      preHandler: async (req, reply) => {
        await queues.get({ userId: req.userId, deviceId: null }, req.params.queueId);
        return requireUpgrade(req, reply);
      },
    },
    async (ws, req) => {
      const c = server.open(ws, req, req.query.deviceId ?? `conn-${randomUUID()}`);
      const queueId = req.params.queueId;
      commands.bind(c, queueId);
      // [CO11] Presence: who is looking at the queue, as a note on the queue stream, told
      // by the queue service the way its commits are (the socket never publishes).
      const announce = (online: boolean) => queues.notePresence(queueId, c.userId, c.deviceId, online);
      await serve(server, c, {
        gate: admission,
        queueId,
        handle: (d) => commands.message(c, d, queueId),
        setup: async () => {
          const head = (await queues.peek(queueId))?.version ?? 0;
          hello(c, 'queue', queueId, head, now());
          await commands.subscribe(c, commands.queueSource, queueId, req.query.since);
          if (queuePresence) {
            // The close listener goes on before the entry is written, in the same tick, so a
            // socket that closes at any point from here on is taken out again.
            if (!c.isOpen) return;
            ws.once(
              'close',
              () =>
                void queuePresence.closed(queueId, c.id).then(
                  () => announce(false),
                  () => announce(false),
                ),
            );
            await queuePresence.opened(queueId, c.id, c.userId, c.deviceId);
            if (c.isOpen) announce(true);
          }
        },
      });
    },
  );
}
