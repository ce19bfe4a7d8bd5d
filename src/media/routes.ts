// GET /media/verify: checks a signed download URL for a media server or CDN that would
// rather ask than verify itself (docs/OFFLINE.md). Answered to the admin key or any user token.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Authenticator } from '../auth/authenticator.ts';
import { AppError } from '../errors.ts';
import { bearer } from '../http/auth.ts';
import { errors } from '../http/schemas.ts';
import { verifyMediaUrl, type MediaSettings } from './signing.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);

export const VerifyQuery = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 8192, description: 'The signed URL, absolute or as path and query' }),
});

export const VerifyResponse = Type.Object({
  valid: Type.Boolean(),
  reason: Type.Union([Type.Literal('malformed'), Type.Literal('bad_signature'), Type.Literal('expired'), Type.Null()], {
    description: 'Why it is not valid; null when it is',
  }),
  trackId: Nullable(Type.String()),
  userId: Nullable(Type.String({ description: 'The user the URL was signed for: a media server may compare it with its own session' })),
  expiresAt: Nullable(Type.String({ format: 'date-time' })),
});

export function mediaRoutes(
  media: MediaSettings,
  auth: Pick<Authenticator, 'isAdminKey' | 'authenticate'>,
  now: () => number = Date.now,
): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/media/verify',
      {
        // Either credential works, so the check is here rather than in the shared auth hook.
        // No user token to limit by: limited per client IP (RATE_LIMIT_IP_PER_MINUTE).
        config: { auth: 'public', ipRateLimit: true },
        schema: {
          tags: ['offline'],
          summary: 'Check a signed track download URL (admin key or any user token)',
          security: [{ adminKey: [] }, { bearer: [] }],
          querystring: VerifyQuery,
          response: { 200: VerifyResponse, ...errors() },
        },
        preHandler: async (request) => {
          const token = bearer(request);
          if (!token) throw new AppError('unauthorized', 'missing_token', 'send Authorization: Bearer <admin key or user token>');
          if (!auth.isAdminKey(token)) await auth.authenticate(token);
        },
      },
      async (r) => {
        const c = verifyMediaUrl(r.query.url, media.signingKey, now());
        return {
          valid: c.ok,
          reason: c.reason,
          trackId: c.trackId,
          userId: c.userId,
          expiresAt: c.exp === null || c.exp * 1000 > 8.64e15 ? null : new Date(c.exp * 1000).toISOString(),
        };
      },
    );
  };
}
