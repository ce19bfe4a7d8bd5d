// What browsers need (issue 16): CORS for web players on other origins (CORS_ORIGINS),
// the same origin list for WebSocket upgrades (a browser always sends Origin; other
// clients may not), and security headers on every answer (helmet's, computed once).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import helmet, { type HelmetOptions } from 'helmet';
import type { CorsConfig } from '../config.ts';
import { AppError } from '../errors.ts';

/** Request headers a browser may send cross-origin (preflight). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'If-None-Match', 'Prefer', 'X-Device-Id'];
/** Response headers a cross-origin script may read. */
export const CORS_EXPOSED_HEADERS = ['ETag', 'Location', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'idempotent-replayed'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The API answers JSON only: a page that somehow renders one may load nothing and be framed by nobody. */
const API_CSP = {
  'default-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};
/**
 * The pages we serve (/docs, Swagger UI; /console later): scripts, styles and fonts from
 * our origin only, no inline script. Swagger UI sets inline styles and uses data: images
 * (its icons); it calls the API, so connect-src is our origin (CSP 3 lets 'self' cover
 * same-origin ws: and wss: in Chromium, for a console's sockets).
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
const isPage = (url: string) => url === '/docs' || url.startsWith('/docs/') || url === '/console' || url.startsWith('/console/');

/** Is this Origin header allowed: listed, `*`, or the server's own origin (its Host)? */
export function originAllowed(config: CorsConfig, request: FastifyRequest, origin: string): boolean {
  if (config.origins.includes('*') || config.origins.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * The headers helmet sets with these options, as a list made once: they do not depend on
 * the request, and helmet's Fastify plugin built its middleware anew for every request
 * (issue 21). helmet is asked itself, so the headers stay what it decides.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => undefined);
  return headers;
}

/** The headers every answer carries (computed once), and CORS's for an answer written by hand. */
export interface BrowserHeaders {
  api: Record<string, string>;
  page: Record<string, string>;
  /** What @fastify/cors adds to an answer for this request's Origin, for answers written without it (admission refusals). */
  cors(request: FastifyRequest): Record<string, string> | null;
}

export function browserHeaders(config: CorsConfig): BrowserHeaders {
  const api = securityHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    // Web players on listed origins read our answers with CORS; nothing else should embed them.
    crossOriginResourcePolicy: { policy: config.origins.length > 0 ? 'cross-origin' : 'same-origin' },
  });
  const wildcard = config.origins.includes('*');
  const exposed = CORS_EXPOSED_HEADERS.join(', ');
  const star = { 'access-control-allow-origin': '*', 'access-control-expose-headers': exposed };
  return {
    api,
    page: { ...api, 'content-security-policy': PAGE_CSP },
    cors(request) {
      const origin = request.headers.origin;
      if (!origin || config.origins.length === 0) return null;
      if (wildcard) return star;
      if (!config.origins.includes(origin)) return null;
      return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': exposed, vary: 'Origin' };
    },
  };
}

/**
 * Security headers and CORS: register first, so every answer (also a 503 or a 429) carries
 * their headers. CORS is registered only when CORS_ORIGINS lists origins; without them a
 * preflight from another origin is refused 403 and answers carry no CORS headers.
 */
export async function installBrowserSupport(http: FastifyInstance, config: CorsConfig, headers: BrowserHeaders): Promise<void> {
  const { api, page } = headers;
  http.addHook('onRequest', (request, reply, done) => {
    reply.headers(isPage(request.url) ? page : api);
    done();
  });

  // A preflight from an origin that is not allowed gets a plain 403 (in our shape) rather
  // than a 204 without the allow headers: the same refusal for the browser, clearer in logs.
  // An OPTIONS request that is no preflight (no Origin, or no Access-Control-Request-Method)
  // is a 400 in our shape (the CORS plugin answered it in plain text).
  http.addHook('onRequest', (request, _reply, done) => {
    if (request.method !== 'OPTIONS') return done();
    const origin = request.headers.origin;
    const method = request.headers['access-control-request-method'];
    if (!origin || !method) {
      return done(
        new AppError('invalid', 'invalid_preflight', 'an OPTIONS request must be a CORS preflight: with Origin and Access-Control-Request-Method headers', {
          missing: [...(origin ? [] : ['Origin']), ...(method ? [] : ['Access-Control-Request-Method'])],
        }),
      );
    }
    if (!originAllowed(config, request, origin)) {
      return done(new AppError('forbidden', 'origin_not_allowed', `origin ${origin} may not call this API (CORS_ORIGINS)`, { origin }));
    }
    done();
  });
  if (config.origins.length === 0) return;
  const wildcard = config.origins.includes('*');
  await http.register(cors, {
    // `*` never with credentials; a listed origin gets its own name back (and Vary: Origin).
    origin: wildcard ? '*' : config.origins,
    credentials: !wildcard,
    methods: METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });
}

/** WebSocket upgrades carrying an Origin must come from an allowed one (cross-site WebSocket hijacking). */
export function installSocketOriginCheck(http: FastifyInstance, config: CorsConfig): void {
  http.addHook('onRequest', (request, _reply, done) => {
    const origin = request.headers.origin;
    if (origin === undefined || request.headers.upgrade?.toLowerCase() !== 'websocket') return done();
    if (originAllowed(config, request, origin)) return done();
    done(new AppError('forbidden', 'origin_not_allowed', `sockets from origin ${origin} are not allowed (CORS_ORIGINS)`, { origin }));
  });
}
