// Errors the SDK reports: the service's `{error: {code, message, details}}` with the HTTP
// status (a socket's error message says which status the same refusal gets over HTTP;
// -1 for network failures, 0 where the service gave none).

/** Refusals that say "not now" rather than "no", whatever their status. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['overloaded', 'shutting_down']);

export class QueueServiceError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.name = 'QueueServiceError';
  }

  /** True for failures that a retry may cure (network, 5xx, 429, overloaded, an instance shutting down). */
  get retryable(): boolean {
    return this.status === -1 || this.status === 429 || this.status >= 500 || RETRYABLE_CODES.has(this.code);
  }
}

export function errorFromBody(status: number, body: unknown): QueueServiceError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (e && typeof e.code === 'string') {
    return new QueueServiceError(status, e.code, typeof e.message === 'string' ? e.message : e.code, (e.details as Record<string, unknown>) ?? {});
  }
  return new QueueServiceError(status, `http_${status}`, `the service answered ${status}`, { body });
}
