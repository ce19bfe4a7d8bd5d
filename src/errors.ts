// One error type for the whole service. The domain only names the kind; the HTTP status of
// each kind is here (the REST answers, and the `status` of a socket's error message, which
// says what the same refusal gets over HTTP), the WebSocket close codes in realtime/protocol.ts.

export type ErrorKind =
  | 'invalid' // 400: the request itself is malformed
  | 'unauthorized' // 401
  | 'forbidden' // 403
  | 'not_found' // 404
  | 'conflict' // 409: the request is fine but the state does not allow it now
  | 'too_large' // 413
  | 'limit' // 422: a configured limit would be exceeded
  | 'rate_limited' // 429
  | 'unavailable'; // 503

/** The HTTP status of each kind. */
export const statusOf: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  limit: 422,
  rate_limited: 429,
  unavailable: 503,
};

/** The error kind an HTTP status stands for (the inverse of statusOf); null for any other status. */
export function kindOfStatus(status: number): ErrorKind | null {
  for (const [kind, s] of Object.entries(statusOf)) if (s === status) return kind as ErrorKind;
  return null;
}

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(kind: ErrorKind, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.kind = kind;
    this.code = code;
    this.details = details;
    this.name = 'AppError';
  }
}

export const notFound = (code: string, message: string, details?: Record<string, unknown>) => new AppError('not_found', code, message, details);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) => new AppError('conflict', code, message, details);
export const invalid = (code: string, message: string, details?: Record<string, unknown>) => new AppError('invalid', code, message, details);

/** Raised by a store when the stream's version is not the one the append expected. */
export class VersionConflictError extends AppError {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly currentVersion: number;
  constructor(streamId: string, expectedVersion: number, currentVersion: number) {
    super('conflict', 'version_conflict', `queue is at version ${currentVersion}, not ${expectedVersion}`, {
      expectedVersion,
      currentVersion,
    });
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.currentVersion = currentVersion;
  }
}
