// Fastify's `request.routeOptions` is a getter that builds a new object (a dozen fields and
// a constraint lookup) on every read, and a request's hooks read it four to six times
// (admission, the per-IP limit, auth and its scope, the metrics). routeOf reads it once per
// request (issue 21).
import type { FastifyInstance, FastifyRequest } from 'fastify';

type RequestRoute = FastifyRequest['routeOptions'];

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's routeOptions, once read (routeOf). */
    routeOnce: RequestRoute | null;
  }
}

/** Declares the cache on every request (a stable object shape); call before any hook uses routeOf. */
export function installRouteOf(http: FastifyInstance): void {
  if (!http.hasRequestDecorator('routeOnce')) http.decorateRequest('routeOnce', null);
}

/** The request's route options: its url pattern, config and schema, read once. */
export function routeOf(request: FastifyRequest): RequestRoute {
  return (request.routeOnce ??= request.routeOptions);
}
