// Schemas shared by every route: the error body, pagination, write options.
import { Type, type TSchema } from '@sinclair/typebox';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. queue_not_found' }),
      message: Type.String(),
      details: Type.Record(Type.String(), Type.Unknown()),
    }),
  },
  { $id: 'ErrorResponse', description: 'Every 4xx/5xx answer has this shape' },
);

const errorRef = Type.Ref('ErrorResponse');

/** The error statuses every authenticated route can answer, plus the given ones. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 401, 403, 404, ...statuses]) out[s] = errorRef;
  return out;
}

/** Largest value of a PostgreSQL INTEGER column (versions, sequence numbers, counts). */
export const MAX_INT32 = 2_147_483_647;

export const MutationFields = {
  expectedVersion: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_INT32, description: 'The queue version the client saw; a stale one is answered 409. Same as If-Match.' }),
  ),
  mutationId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'Client mutation id; a retry returns the first answer. Same as Idempotency-Key.' }),
  ),
};

export const WriteHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'Expected queue version, e.g. "12"' })),
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  'x-device-id': Type.Optional(Type.String({ maxLength: 255, description: 'Recorded as the deviceId of the events' })),
});
