// POST /auth/tokens: the operator mints a user token with the admin API key.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { USER_ID_PATTERN, type Tokens } from '../auth/tokens.ts';
import { errors } from './schemas.ts';

export function tokenRoutes(tokens: Tokens, defaultTtlSeconds: number): FastifyPluginAsyncTypebox {
  return async (http) => {
    http.post('/auth/tokens', {
      config: { auth: 'admin', ipRateLimit: true },
      schema: {
        tags: ['auth'],
        summary: 'Mint a user token (Authorization: Bearer <admin API key>)',
        body: Type.Object(
          {
            userId: Type.String({ pattern: USER_ID_PATTERN }),
            ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 * 24 * 3600 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }), ...errors() },
      },
    }, async (r) => tokens.mint(r.body.userId, r.body.ttlSeconds ?? defaultTtlSeconds));
  };
}
