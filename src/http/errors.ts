// Every error leaves the HTTP API as {error:{code,message,details}} with the status
// its kind implies. 5xx messages are hidden; they are logged with the request id.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, statusOf } from '../errors.ts';

export function errorBody(code: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { code, message, details } };
}

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Fastify's own errors (validation, bad JSON, body too large, ...) mapped to ours. */
function fromFastify(err: FastifyError): AppError | null {
  if (err.validation) {
    const issues = (err.validation as ValidationIssue[]).map((v) => ({
      in: err.validationContext,
      path: v.instancePath || '/',
      keyword: v.keyword,
      message: v.message,
      ...(v.params?.additionalProperty ? { property: v.params.additionalProperty } : {}),
      ...(v.params?.limit !== undefined ? { limit: v.params.limit } : {}),
    }));
    // An array over its documented maximum (tracks per add, ids per request) is a size limit.
    if (issues.some((i) => i.keyword === 'maxItems')) {
      return new AppError('too_large', 'too_many_items', 'an array in the request is over its limit', { issues });
    }
    const first = issues[0];
    return new AppError(
      'invalid',
      'validation_failed',
      `${err.validationContext ?? 'request'}${first?.path === '/' ? '' : (first?.path ?? '')} ${first?.message ?? 'is invalid'}`,
      { issues },
    );
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('too_large', 'body_too_large', 'the request body is too large', {});
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('invalid', 'unsupported_media_type', 'send the body as application/json', {});
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid', 'empty_body', 'the JSON body is empty', {});
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('invalid', 'bad_content_length', 'content-length does not match the body', {});
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new AppError('invalid', 'invalid_json', 'the body is not valid JSON', {});
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError(err.statusCode === 413 ? 'too_large' : 'invalid', 'bad_request', err.message, {});
  }
  return null;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = err instanceof AppError ? err : fromFastify(err);
    if (known) {
      const status = err instanceof AppError ? statusOf[known.kind] : (fromFastifyStatus(err) ?? statusOf[known.kind]);
      if (known.kind === 'unauthorized') reply.header('www-authenticate', 'Bearer');
      // A refused WebSocket upgrade has no use for its connection afterwards.
      if (request.headers.upgrade) reply.header('connection', 'close');
      return reply.status(status).send(errorBody(known.code, known.message, known.details));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('internal', 'internal server error', { requestId: request.id }));
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send(errorBody('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));
}

/** Keep fastify's 415 for a wrong content type: it is the precise answer. */
function fromFastifyStatus(err: FastifyError): number | null {
  return err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 415 : null;
}

/**
 * Errors the router raises before any route or hook runs (Fastify's `frameworkErrors`
 * option): a path that is not valid percent-encoded UTF-8, a path parameter over
 * `maxParamLength`. Answered in our shape like everything else.
 */
export function frameworkErrorHandler(maxParamLength: number) {
  return (err: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    const [status, body] =
      err.code === 'FST_ERR_BAD_URL'
        ? [400, errorBody('bad_url', 'the path is not valid percent-encoded UTF-8', {})]
        : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? [414, errorBody('path_parameter_too_long', `a path parameter is over ${maxParamLength} characters`, { maxLength: maxParamLength })]
          : [400, errorBody('bad_request', 'the request could not be routed', { reason: err.code ?? 'unknown' })];
    return reply.status(status).send(body);
  };
}

/**
 * Requests Node's HTTP parser refuses (headers too large, malformed request line, a
 * request that took too long): our error shape, and the connection is closed, because
 * the parser cannot tell where the next request on it would start.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request took too long to arrive']
        : [400, 'malformed_request', 'the request is not valid HTTP'];
  const body = JSON.stringify(errorBody(code, message, {}));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroySoon();
}
