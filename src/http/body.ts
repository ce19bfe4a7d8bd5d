// How every request's input is read: the validators (bodies strict, params and query
// strings coerced), JSON bodies (an empty one is {}), and the guards against input the
// stores cannot keep (json-guard.ts), on bodies, path parameters and query strings.
import type { FastifyInstance } from 'fastify';
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
  http.addHook('preValidation', async (request) => {
    // NUL and lone surrogates from percent-escapes never reach a store (PostgreSQL refuses them).
    guardParams(request.params, 'path');
    guardParams(request.query, 'query');
    if (request.body === undefined && ['POST', 'PUT', 'PATCH'].includes(request.method)) request.body = {};
  });
}
