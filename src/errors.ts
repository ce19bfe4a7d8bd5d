// One error type for the whole service. Transports map `kind` to a status once
// (HTTP in http/errors.ts, WebSocket close codes in realtime/protocol.ts); the domain only names it.

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

export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError('not_found', code, message, details);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError('conflict', code, message, details);
export const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError('invalid', code, message, details);

/** Raised by a store when the stream's version is not the one the append expected. */
export class VersionConflictError extends AppError {
  constructor(readonly streamId: string, readonly expectedVersion: number, readonly currentVersion: number) {
    super('conflict', 'version_conflict', `queue is at version ${currentVersion}, not ${expectedVersion}`, {
      expectedVersion,
      currentVersion,
    });
  }
}
