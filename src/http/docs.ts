// The API reference: the OpenAPI document (built from every route's schema) and the
// Swagger UI page at /docs. Registered before the routes, so every route is in it.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { SCOPE_DESCRIPTIONS } from '../auth/scopes.ts';

/** The scopes, as the bearer scheme's description lists them. */
const scopeList = Object.entries(SCOPE_DESCRIPTIONS)
  .map(([s, d]) => `- \`${s}\`: ${d}`)
  .join('\n');

export async function installDocs(http: FastifyInstance): Promise<void> {
  await http.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Queue service',
        version: '0.1.0',
        description:
          'Playback queues for music apps: event-sourced, with versions, idempotent writes and an event log.\n\n' +
          'Limits: every user has RATE_LIMIT_PER_MINUTE requests per minute (default 6,000) on all routes; POST /auth/tokens and ' +
          'GET /media/verify have RATE_LIMIT_IP_PER_MINUTE per client IP (default 600); a user has at most WS_MAX_SOCKETS_PER_USER ' +
          'open sockets per instance (default 20). Past a limit: 429 with Retry-After. Limited answers carry RateLimit-Limit, ' +
          'RateLimit-Remaining and RateLimit-Reset. Under overload any route may answer 503 `overloaded` with Retry-After before ' +
          'doing any work. Browsers on the origins in CORS_ORIGINS may call the API and open sockets.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              'A user token: one minted by POST /auth/tokens, or (when the operator set AUTH_ISSUER or AUTH_JWKS_URL) ' +
              "an access token of the app's identity provider. On a socket upgrade it may be sent as `?token=`. A token that " +
              "names scopes (`scope` or `scp` claim) may do only what they cover; one that names none has its user's full rights. " +
              "Each operation's security requirement names the scope it needs (any one of those listed). Scopes:\n" +
              scopeList,
          },
          adminKey: { type: 'http', scheme: 'bearer', description: "The operator's admin API key (ADMIN_API_KEY, or data/admin-key)" },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  // No validator badge: it would load an image from validator.swagger.io, which the page's CSP refuses.
  await http.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
}
