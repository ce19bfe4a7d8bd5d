// WS /ws/sync/{userId}: a user's devices: the user stream (playback, devices), presence of
// the user's devices, and the queues the socket subscribes to. Only the user itself may
// open it. The device is registered (and online) before the hello.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { pathUser } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import { requireUpgrade } from '../http/upgrade.ts';
import { hello, serve } from '../realtime/endpoint.ts';
import { ConnectQuery, type QueueSocketCommands, type SocketDeps } from './socket-commands.ts';

export function syncSocketRoute(app: FastifyInstance, deps: SocketDeps, commands: QueueSocketCommands): void {
  const { server, users, presence, admission, now } = deps;
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/ws/sync/:userId',
    {
      websocket: true,
      schema: {
        tags: ['realtime'],
        summary: "WebSocket: a user's devices: playback, presence, subscribed queues (see /asyncapi.json)",
        params: Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) }),
        querystring: ConnectQuery,
        response: errors(426),
      },
      preHandler: async (req, reply) => {
        pathUser(req, req.params.userId);
        return requireUpgrade(req, reply);
      },
    },
    async (ws, req) => {
      const userId = req.userId;
      const deviceId = req.query.deviceId ?? `conn-${randomUUID()}`;
      const c = server.open(ws, req, deviceId);
      // [RT8] Told by the playback service the way its commits are (the socket never publishes).
      const announce = (online: boolean) => users.notePresence(userId, deviceId, online);
      await serve(server, c, {
        gate: admission,
        queueId: null,
        handle: (d) => commands.message(c, d, null),
        setup: async () => {
          if (req.query.deviceId) await users.registerDevice(userId, deviceId, { name: req.query.deviceName, type: req.query.deviceType });
          // Closed while the device was registered: it never comes online.
          if (!c.isOpen) return;
          // The close listener goes on before the entry is written, in the same tick, so a
          // socket that closes at any point from here on goes offline again.
          ws.once(
            'close',
            () =>
              void presence.disconnected(c.id).then(
                () => announce(false),
                () => announce(false),
              ),
          );
          await presence.connected(c.id, userId, deviceId);
          if (!c.isOpen) return;
          announce(true);
          const head = (await users.snapshot(userId)).sequenceNumber;
          hello(c, 'user', userId, head, now());
          await commands.subscribe(c, commands.userSource, userId, req.query.since);
        },
      });
    },
  );
}
