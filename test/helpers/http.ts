// Shared by the HTTP end-to-end suites (test/e2e/http.*.test.ts): the error-shape check
// and small readers of queue answers.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { client, mintToken, startServerOn, type RunningServer, type StoreKind } from './server.ts';

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

/** One response as a suite saw it, to check at the end that none was a 5xx. */
export interface Seen {
  method: string;
  path: string;
  status: number;
}

/** Clients that note every response in `seen`. */
export function tracker(): { seen: Seen[]; track(base: string, token?: string): Call } {
  const seen: Seen[] = [];
  return {
    seen,
    track(base, token) {
      const c = client(base, token);
      return async (method, path, body, headers) => {
        const res = await c(method, path, body, headers);
        seen.push({ method, path, status: res.status });
        return res;
      };
    },
  };
}

/** A new queue of `call`'s user, from POST /queues. */
export async function newQueue(call: Call, tracks: string[] = [], name = 'q'): Promise<any> {
  return assertOk(await call('POST', '/queues', { name, tracks }), 201).queue;
}

/** Every event of a queue (up to 1,000). */
export async function allEvents(call: Call, id: string): Promise<any[]> {
  return assertOk(await call('GET', `/queues/${id}/events?limit=1000`)).events;
}

/**
 * In the calling `describe`: one server of `kind` (started before its tests, cleaned up
 * after) and callers for alice, bob, no token and the admin key, each response noted in
 * `seen` (as are those of `track`). The callers can be taken at once; `server` is there once the tests run.
 */
export function httpUsers(kind: StoreKind): {
  seen: Seen[];
  track(base: string, token?: string): Call;
  alice: Call;
  bob: Call;
  anon: Call;
  admin: Call;
  readonly server: RunningServer & { cleanup(): Promise<void> };
} {
  const { seen, track } = tracker();
  let server: (RunningServer & { cleanup(): Promise<void> }) | undefined;
  const callers: Record<'alice' | 'bob' | 'anon' | 'admin', Call | undefined> = { alice: undefined, bob: undefined, anon: undefined, admin: undefined };
  const late =
    (name: keyof typeof callers): Call =>
    (...args) =>
      callers[name]!(...args);
  before(async () => {
    server = await startServerOn(kind);
    callers.alice = track(server.url, await mintToken(server, 'alice'));
    callers.bob = track(server.url, await mintToken(server, 'bob'));
    callers.anon = track(server.url);
    callers.admin = track(server.url, server.adminKey);
  });
  after(async () => {
    await server?.cleanup();
  });
  return {
    seen,
    track,
    alice: late('alice'),
    bob: late('bob'),
    anon: late('anon'),
    admin: late('admin'),
    get server() {
      if (!server) throw new Error('the server starts before the tests');
      return server;
    },
  };
}
