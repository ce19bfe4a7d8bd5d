// Tokens: the operator mints user tokens (POST /auth/tokens) and revokes them
// (POST /auth/tokens/revoke) with the admin API key; any caller asks who its token is
// (GET /auth/me). What the tokens are is src/auth's.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Authenticator } from '../auth/authenticator.ts';
import { SCOPES, type Scope } from '../auth/scopes.ts';
import { USER_ID_PATTERN } from '../auth/tokens.ts';
import { AppError } from '../errors.ts';
import { errors } from './schemas.ts';

/** The longest lifetime of a minted token; a revocation by id alone is kept this long. */
export const MAX_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

const ScopeName = Type.Union(
  SCOPES.map((s) => Type.Literal(s)),
  { description: 'A scope (README "Scopes")' },
);
const Scopes = Type.Array(ScopeName, { maxItems: SCOPES.length, uniqueItems: true });
const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const MintBody = Type.Object(
  {
    userId: Type.String({ pattern: USER_ID_PATTERN }),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_TTL_SECONDS })),
    scopes: Type.Optional({ ...Scopes, description: 'What the token may do; absent or empty: everything its user may do' }),
  },
  { additionalProperties: false },
);

const MintResponse = Type.Object({
  token: Type.String(),
  expiresAt: Iso,
  tokenId: Type.String({ description: "The token's id (jti): POST /auth/tokens/revoke {tokenId} revokes it" }),
  scopes: Type.Union([Scopes, Type.Null()], { description: "null: the user's full rights" }),
});

const RevokeBody = Type.Object(
  {
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'Revoke this token (minted, or a provider token with a jti)' })),
    tokenId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Revoke the minted token with this id (jti)' })),
    userId: Type.Optional(
      Type.String({
        pattern: USER_ID_PATTERN,
        description: "Alone: revoke every token of this user issued before now. With tokenId: only if the token is this user's",
      }),
    ),
  },
  { additionalProperties: false, description: 'One of: {token}, {tokenId} (optionally with userId), {userId}' },
);

const RevokeResponse = Type.Object({
  revoked: Type.Union([Type.Literal('token'), Type.Literal('user')]),
  tokenId: Nullable(Type.String()),
  userId: Nullable(Type.String()),
  issuedBefore: Nullable({ ...Iso, description: "user: the user's tokens issued before this time are refused" }),
  revokedAt: Iso,
});

const MeResponse = Type.Object({
  userId: Type.String({ description: 'The user id this service knows the token by (a provider id may be mapped: README "Using your identity provider")' }),
  scopes: Type.Union([Scopes, Type.Null()], { description: "null: the user's full rights" }),
  expiresAt: Nullable(Iso),
  tokenId: Nullable(Type.String()),
  source: Type.Union([Type.Literal('minted'), Type.Literal('provider')]),
});

export function tokenRoutes(auth: Authenticator, defaultTtlSeconds: number): FastifyPluginAsyncTypebox {
  return async (http) => {
    http.post(
      '/auth/tokens',
      {
        config: { auth: 'admin', ipRateLimit: true },
        schema: {
          tags: ['auth'],
          summary: 'Mint a user token (admin API key, or a token with the admin scope)',
          body: MintBody,
          response: { 200: MintResponse, ...errors() },
        },
      },
      async (r) => auth.mint(r.body.userId, r.body.ttlSeconds ?? defaultTtlSeconds, r.body.scopes as Scope[] | undefined),
    );

    http.post(
      '/auth/tokens/revoke',
      {
        config: { auth: 'admin', ipRateLimit: true },
        schema: {
          tags: ['auth'],
          summary:
            'Revoke one token, or every token of a user issued before now (admin API key); every instance refuses it at once and closes its sockets (4401)',
          body: RevokeBody,
          response: { 200: RevokeResponse, ...errors() },
        },
      },
      async (r) => {
        const { token, tokenId, userId } = r.body;
        const given = [token, tokenId].filter((v) => v !== undefined).length;
        if (given > 1 || (given === 0 && userId === undefined) || (token !== undefined && userId !== undefined)) {
          throw new AppError('invalid', 'one_revocation', 'send one of {token}, {tokenId} (optionally with userId), {userId}');
        }
        const what = token !== undefined ? { token } : tokenId !== undefined ? { tokenId, userId } : { userId: userId! };
        const done = await auth.revoke(what, MAX_TOKEN_TTL_SECONDS * 1000);
        return {
          revoked: done.kind,
          tokenId: done.kind === 'token' ? done.tokenId : null,
          userId: done.userId,
          issuedBefore: done.kind === 'user' ? new Date(done.issuedBefore * 1000).toISOString() : null,
          revokedAt: new Date(done.revokedAt).toISOString(),
        };
      },
    );

    http.get(
      '/auth/me',
      {
        schema: {
          tags: ['auth'],
          summary: 'Who the token is: the user id, its scopes and expiry (any valid token)',
          response: { 200: MeResponse, ...errors() },
        },
      },
      async (r) => {
        const c = r.credential!;
        return {
          userId: c.userId,
          scopes: c.scopes === null ? null : [...c.scopes].sort(),
          expiresAt: c.expiresAt === null ? null : new Date(c.expiresAt).toISOString(),
          tokenId: c.tokenId,
          source: c.source,
        };
      },
    );
  };
}
