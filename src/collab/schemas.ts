// TypeBox schemas of the collaboration routes that are not queue writes: invite codes
// and who is looking at a queue. (The queue writes' schemas are in src/queues/schemas.ts.)
import { Type } from '@sinclair/typebox';
import * as S from '../queues/schemas.ts';

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
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600, default: 7 * 24 * 3600 })),
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
