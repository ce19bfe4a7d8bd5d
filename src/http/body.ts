// How every request's input is read: the validators (bodies strict, params and query
// strings coerced), JSON bodies (an empty one is {}), and the guards against input the
// stores cannot keep (json-guard.ts), on bodies, path parameters and query strings.
import { errorCodes, type FastifyInstance } from 'fastify';
import { coercingAjv, strictAjv } from '../validation.ts';
import { guardJson, guardParams } from '../util/json-guard.ts';

export function installBodyParsing(http: FastifyInstance): void {
  http.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema));

  // An empty body on a POST/PUT is an empty object: next, previous and clear need none.
  const json = http.getDefaultJsonParser('error', 'ignore');
  http.removeContentTypeParser('application/json');
  http.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, {});
    void json(req, body as string, (err, parsed) => {
      if (err) return done(err, undefined);
      try {
        guardJson(parsed);
      } catch (e) {
        return done(e as Error, undefined);
      }
      done(null, parsed);
    });
  });
  // A body over the limit that says so in Content-Length is read to its end (up to
  // DRAIN_LIMITS times the limit) and dropped before the 413: a client still sending it
  // then reads our answer, where closing at once (Fastify's way) can leave it with a reset
  // connection (EPIPE) and no answer. Larger ones, and chunked ones, are cut off as before.
  const limit = http.initialConfig.bodyLimit ?? 1024 * 1024;
  http.addHook('preParsing', (request, _reply, payload, done) => {
    const length = Number(request.headers['content-length']);
    if (!(length > limit) || length > DRAIN_LIMITS * limit) return done(null, payload);
    payload.on('data', drop);
    payload.once('error', (err) => done(err));
    payload.once('end', () => done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()));
    payload.resume();
  });
  // A callback hook: an async one costs a promise and a microtask on every request (issue 21).
  http.addHook('preValidation', (request, _reply, done) => {
    // NUL and lone surrogates from percent-escapes never reach a store (PostgreSQL refuses them).
    try {
      guardParams(request.params, 'path');
      guardParams(request.query, 'query');
    } catch (err) {
      return done(err as Error);
    }
    if (request.body === undefined && BODY_METHODS.has(request.method)) request.body = {};
    done();
  });
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Bodies over the limit by at most this factor are read and dropped before their 413. */
const DRAIN_LIMITS = 8;
const drop = () => undefined;
