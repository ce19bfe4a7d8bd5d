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
// Every route can be refused before any work (issue 16); the descriptions end up in the OpenAPI file.
const rateLimited = Type.Ref('ErrorResponse', {
  description:
    'Rate limited (`rate_limited`: RATE_LIMIT_PER_MINUTE per user, RATE_LIMIT_IP_PER_MINUTE per IP on POST /auth/tokens and ' +
    'GET /media/verify; `too_many_sockets` on a WebSocket upgrade past WS_MAX_SOCKETS_PER_USER). Retry-After says when to retry; ' +
    'RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset are on every limited answer.',
});
const overloaded = Type.Ref('ErrorResponse', {
  description:
    'Overloaded (`overloaded`, details.reason: wait_time, queue_full, queue_busy, heap, shedding; docs/SPEC.md [AD1]-[AD9]): the server stayed ' +
    'overloaded; refused before any work was done, nothing was applied; retry after Retry-After seconds. Also `shutting_down` while the instance stops.',
});

/** The error statuses every authenticated route can answer, plus the given ones. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 401, 403, 404, ...statuses]) out[s] = errorRef;
  out[429] = rateLimited;
  out[503] = overloaded;
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
