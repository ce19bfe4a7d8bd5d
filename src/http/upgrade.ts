// A socket route asked as plain HTTP (no Upgrade header).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket'; // req.ws
import { errorBody } from './errors.ts';

/**
 * A socket route asked as plain HTTP (no Upgrade): 426 in our error shape. Called at the
 * end of each socket route's preHandler, so the token and path checks answer first.
 */
export function requireUpgrade(req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (req.ws) return undefined;
  reply.header('upgrade', 'websocket');
  return reply
    .status(426)
    .send(errorBody('upgrade_required', 'this is a WebSocket endpoint: connect with Upgrade: websocket', { path: req.url.split('?')[0] }));
}
