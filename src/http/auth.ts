// Bearer-token authentication for every route but the public ones, the scope each route
// needs ([AU6]: src/auth/route-scopes.ts), and the `{userId}` path rule (it must be the
// caller; `me` is an alias). Which tokens are accepted is src/auth/authenticator.ts's.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import type { Authenticator, Credential } from '../auth/authenticator.ts';
import { ROUTE_SCOPES, routeScope, type Needed } from '../auth/route-scopes.ts';
import { requireScope } from '../auth/scopes.ts';
import { routeOf } from './route-of.ts';

declare module 'fastify' {
  interface FastifyRequest {
    userId: string;
    deviceId: string | null;
    /** When the caller's token expires (epoch ms); null for public routes and tokens without expiry. */
    tokenExpiresAt: number | null;
    /** The caller's checked token (user, scopes, id); null on public routes and with the admin key. */
    credential: Credential | null;
  }
  interface FastifyContextConfig {
    /** 'public': no token; 'admin': the operator's admin key (or a token with the `admin` scope); default: a user token. */
    auth?: 'public' | 'admin';
    /** The scope a scoped token needs here; default: src/auth/route-scopes.ts's table. */
    scope?: Needed;
  }
}

export function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

const notAdmin = () => new AppError('unauthorized', 'invalid_admin_key', 'this route needs the admin API key (or a token with the admin scope)');

/** The scope a request's route needs (a HEAD runs its GET's handler, so it needs what the GET does). */
function neededFor(request: FastifyRequest): Needed {
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const route = routeOf(request);
  return routeScope(method, route.url, route.config?.scope);
}

export function installAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('userId', '');
  app.decorateRequest('deviceId', null);
  app.decorateRequest('tokenExpiresAt', null);
  app.decorateRequest('credential', null);
  // A callback hook: a token verified before is taken from the cache without a promise
  // (issue 21: the async hook's promise and microtask were a few percent of a read).
  app.addHook('onRequest', (request, _reply, done) => {
    const mode = routeOf(request).config?.auth;
    // The docs page's assets are registered by @fastify/swagger-ui, without our route config.
    if (mode === 'public' || request.is404 || request.url.startsWith('/docs')) return done();
    // Browsers cannot set headers on a WebSocket: the upgrade may carry ?token= instead.
    const queryToken = request.headers.upgrade?.toLowerCase() === 'websocket' ? (request.query as { token?: unknown })?.token : undefined;
    const token = bearer(request) ?? (typeof queryToken === 'string' && queryToken ? queryToken : null);
    if (!token) return done(new AppError('unauthorized', 'missing_token', 'send Authorization: Bearer <token>'));
    if (mode === 'admin') {
      if (auth.isAdminKey(token)) return done();
      // [AU8] An operator route also takes a token that names the admin scope; a user's
      // full rights (a token without scopes) are not the operator's.
      auth.authenticate(token).then(
        (c) => {
          if (c.scopes === null) return done(notAdmin());
          try {
            requireScope(c.scopes, 'admin');
          } catch (err) {
            return done(err as Error);
          }
          accept(request, c);
          done();
        },
        () => done(notAdmin()),
      );
      return;
    }
    let c: Credential | undefined;
    try {
      c = auth.cached(token);
    } catch (err) {
      return done(err as Error);
    }
    if (c !== undefined) return done(acceptUser(request, c));
    auth.authenticate(token).then((checked) => done(acceptUser(request, checked)), done);
  });
  // The OpenAPI document says what each operation needs ([AU6]); this runs before
  // @fastify/swagger reads the routes (src/http/docs.ts is installed after this).
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    const schema = (route.schema ??= {}) as { security?: unknown };
    if (schema.security !== undefined) return;
    if (mode === 'public') {
      schema.security = [];
      return;
    }
    if (mode === 'admin') {
      schema.security = [{ adminKey: [] }, { bearer: ['admin'] }];
      return;
    }
    const method = ([route.method].flat()[0] ?? 'GET').toUpperCase();
    const key = `${method === 'HEAD' ? 'GET' : method} ${route.url}`;
    // A new route nobody gave a scope: it works (by its method), but say so where it is seen.
    if (route.config?.scope === undefined && ROUTE_SCOPES[key] === undefined && !route.url.startsWith('/docs')) {
      app.log.warn(
        { route: key },
        'route has no scope in src/auth/route-scopes.ts (or config.scope): scoped tokens need queue:read for GET, queue:write otherwise',
      );
    }
    const needed = routeScope(method === 'HEAD' ? 'GET' : method, route.url, route.config?.scope);
    const list = typeof needed === 'string' ? [needed] : [...needed];
    schema.security = list.length ? list.map((s) => ({ bearer: [s] })) : [{ bearer: [] }];
  });
}

/** A user route's credential: accepted when it has the route's scope; the error otherwise. */
function acceptUser(request: FastifyRequest, c: Credential): Error | undefined {
  accept(request, c);
  try {
    requireScope(c.scopes, neededFor(request));
  } catch (err) {
    return err as Error;
  }
  const device = request.headers['x-device-id'];
  request.deviceId = typeof device === 'string' && device.length > 0 && device.length <= 255 ? device : null;
  return undefined;
}

function accept(request: FastifyRequest, c: Credential): void {
  request.userId = c.userId;
  request.tokenExpiresAt = c.expiresAt;
  request.credential = c;
}

/** Resolves a `{userId}` path segment: it must be the caller (or `me`). */
export function pathUser(request: FastifyRequest, userId: string): string {
  if (userId === 'me' || userId === request.userId) return request.userId;
  throw new AppError('forbidden', 'forbidden', 'you can only act on your own user');
}
