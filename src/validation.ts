// The JSON-schema validators, shared by HTTP and WebSocket: bodies and socket
// messages are checked strictly (no type coercion); query strings and path
// parameters, which arrive as text, are coerced.
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

function make(coerceTypes: false | 'array') {
  const ajv = new Ajv.default({ allErrors: false, coerceTypes, useDefaults: true, removeAdditional: false, strict: false });
  addFormats.default(ajv);
  return ajv;
}

export const strictAjv = make(false);
export const coercingAjv = make('array');

export type { ValidateFunction };
