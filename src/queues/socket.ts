// WebSocket endpoints: /ws/queues/{queueId} (one queue, queue-socket.ts) and
// /ws/sync/{userId} (a user's devices: playback, presence, and the queues they subscribe
// to, sync-socket.ts), over what they share (socket-commands.ts). The token is checked at
// the upgrade (query `token` or Authorization), as are the path rules; the connection
// lifecycle (heartbeat, held messages, shutdown) is realtime/socket-server.ts's, what every
// endpoint does with a message (admit, parse, validate, answer) realtime/endpoint.ts's.
// Here, beside the queue service, because both endpoints carry queue commands and queue
// streams; the sync socket's playback part goes through the UserStream port below.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket'; // the `websocket: true` route option
import { queueSocketRoute } from './queue-socket.ts';
import { QueueSocketCommands, type SocketDeps } from './socket-commands.ts';
import { syncSocketRoute } from './sync-socket.ts';

/** Both endpoints, over the commands and streams they share (socket-commands.ts). */
export function socketRoutes(deps: SocketDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const commands = new QueueSocketCommands(deps, app.log);
    queueSocketRoute(app, deps, commands);
    syncSocketRoute(app, deps, commands);
  };
}
