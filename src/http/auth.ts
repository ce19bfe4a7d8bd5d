// Bearer-token authentication for every route but the public ones, and the
// `{userId}` path rule (it must be the caller; `me` is an alias).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import type { Tokens } from '../auth/tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    userId: string;
    deviceId: string | null;
    /** When the caller's token expires (epoch ms); null for public routes and tokens without expiry. */
    tokenExpiresAt: number | null;
  }
  interface FastifyContextConfig {
    /** 'public': no token; 'admin': the operator's admin key; default: a user token. */
    auth?: 'public' | 'admin';
  }
}

export function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

export function installAuth(app: FastifyInstance, tokens: Tokens): void {
  app.decorateRequest('userId', '');
  app.decorateRequest('deviceId', null);
  app.decorateRequest('tokenExpiresAt', null);
  app.addHook('onRequest', async (request) => {
    const mode = request.routeOptions.config?.auth;
    // The docs page's assets are registered by @fastify/swagger-ui, without our route config.
    if (mode === 'public' || request.is404 || request.url.startsWith('/docs')) return;
    // Browsers cannot set headers on a WebSocket: the upgrade may carry ?token= instead.
    const queryToken = request.headers.upgrade?.toLowerCase() === 'websocket' ? (request.query as { token?: unknown })?.token : undefined;
    const token = bearer(request) ?? (typeof queryToken === 'string' && queryToken ? queryToken : null);
    if (!token) throw new AppError('unauthorized', 'missing_token', 'send Authorization: Bearer <token>');
    if (mode === 'admin') {
      if (!tokens.isAdminKey(token)) throw new AppError('unauthorized', 'invalid_admin_key', 'this route needs the admin API key');
      return;
    }
    const claims = await tokens.claims(token);
    request.userId = claims.userId;
    request.tokenExpiresAt = claims.expiresAt;
    const device = request.headers['x-device-id'];
    request.deviceId = typeof device === 'string' && device.length > 0 && device.length <= 255 ? device : null;
  });
}

/** Resolves a `{userId}` path segment: it must be the caller (or `me`). */
export function pathUser(request: FastifyRequest, userId: string): string {
  if (userId === 'me' || userId === request.userId) return request.userId;
  throw new AppError('forbidden', 'forbidden', 'you can only act on your own user');
}
