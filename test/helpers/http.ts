// Shared by the HTTP end-to-end suites (test/e2e/http.*.test.ts): the error-shape check
// and small readers of queue answers.
import assert from 'node:assert/strict';
import type { client } from './server.ts';

export type Res = Awaited<ReturnType<ReturnType<typeof client>>>;
export type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

/** Asserts the status and the error shape {error:{code,message,details}} (and the code when given). */
export function assertError(res: Res, status: number, code?: string): void {
  const where = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, where);
  assert.ok(res.body !== null && typeof res.body === 'object' && !Array.isArray(res.body), `error body is an object: ${where}`);
  assert.deepEqual(Object.keys(res.body), ['error'], where);
  const e = res.body.error;
  assert.ok(e !== null && typeof e === 'object', where);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'details', 'message'], where);
  assert.equal(typeof e.code, 'string', where);
  assert.ok(e.code.length > 0, where);
  assert.equal(typeof e.message, 'string', where);
  assert.ok(e.details !== null && typeof e.details === 'object' && !Array.isArray(e.details), where);
  if (code !== undefined) assert.equal(e.code, code, where);
}

export function assertOk(res: Res, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export const trackIds = (q: { items: { trackId: string }[] }) => q.items.map((i) => i.trackId);
export const itemIds = (q: { items: { itemId: string }[] }) => q.items.map((i) => i.itemId);
