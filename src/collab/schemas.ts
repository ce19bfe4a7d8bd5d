// TypeBox schemas of the collaboration API's bodies and answers (docs/SPEC.md [CO1]-[CO11]),
// apart from the routes so the client SDK can read their types without the server.
import { Type } from '@sinclair/typebox';
import * as S from '../queues/schemas.ts';

export const MAX_INVITE_TTL_SECONDS = 30 * 24 * 3600;
export const DEFAULT_INVITE_TTL_SECONDS = 7 * 24 * 3600;

export const InviteSchema = Type.Object({
  code: Type.String({ description: 'The secret to hand out: POST /invites/{code}/accept' }),
  queueId: Type.String(),
  role: S.CollaboratorRoleSchema,
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  maxUses: Type.Union([Type.Integer(), Type.Null()]),
  uses: Type.Integer(),
});

export const CreateInviteBody = Type.Object(
  {
    role: S.CollaboratorRoleSchema,
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INVITE_TTL_SECONDS, default: DEFAULT_INVITE_TTL_SECONDS })),
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

export const PresenceResponse = Type.Object({
  queueId: Type.String(),
  viewers: Type.Array(
    Type.Object({
      userId: Type.String(),
      deviceIds: Type.Array(Type.String()),
      since: Type.String({ format: 'date-time', description: "When the user's earliest open socket opened" }),
    }),
    { description: 'Users with a /ws/queues/{queueId} socket open now, on any instance' },
  ),
});
