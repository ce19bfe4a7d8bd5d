import type { BusyRetry } from './backoff.ts';

// What every part of the client gets from QueueClient: where the service is, who is
// calling, and the platform's fetch and WebSocket. QueueClient builds one of these and
// hands it to the queue mirrors, the playback mirror and party sessions, so each part
// reaches the service the same way (tokens refreshed in one place, the platform's own
// WebSocket: browsers' and Node 22+'s global one, or a constructor the app passes).

/** The subset of the WHATWG WebSocket both the platforms' and the `ws` package's provide. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface ClientContext {
  /** http(s)://host:port with no trailing slash. */
  readonly baseUrl: string;
  /** This device's id: sent as X-Device-Id and `deviceId` on sockets. */
  readonly deviceId: string;
  readonly fetch: typeof fetch;
  readonly WebSocket: WebSocketCtor;
  /** The current bearer token; asks the app's `getToken` again after `tokenRejected()`. */
  token(): Promise<string>;
  /** The service refused the token (HTTP 401, close 4401): the next `token()` asks the app. */
  tokenRejected(): void;
  /** This device's clock in epoch ms (injected for tests). */
  now(): number;
  /** Told of every retry after a busy refusal ([AD9]); QueueClient turns them into `busy` events. */
  busy(retry: BusyRetry): void;
}

/** ws(s)://host:port{path}?{query}: the socket URL for a path of the service. */
export function socketUrl(ctx: ClientContext, path: string, query: Record<string, string | number | undefined>): string {
  const u = new URL(path, ctx.baseUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u.toString();
}

/** What the app passes to QueueClient that the context is made of. */
export interface ContextOptions {
  baseUrl: string;
  deviceId: string;
  /** A bearer token; with `getToken`, the first one (else `getToken` is asked first). */
  token?: string;
  /** Asked for a fresh token when the service refuses the current one (HTTP 401, close 4401). */
  getToken?: () => string | Promise<string>;
  /**
   * The WebSocket constructor; default: the platform's (browsers, Node 22+). Pass the `ws`
   * package's on Node to have a silent server noticed by its missing pings (`heartbeatMs`).
   */
  WebSocket?: WebSocketCtor;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The platform's WebSocket (browsers, Node 22+); async for the callers that awaited a lookup. */
export async function findWebSocket(): Promise<WebSocketCtor> {
  const g = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (g) return g;
  throw new Error('no WebSocket here (Node older than 22?): pass one as the `WebSocket` option, e.g. `import { WebSocket } from "ws"`');
}

/**
 * The one context of a QueueClient. `WebSocket` is usable once `ready` resolved (QueueClient
 * awaits it before it opens a socket; `client.context()` answers it then).
 */
export function makeContext(o: ContextOptions): ClientContext & { ready: Promise<void> } {
  if (!o.token && !o.getToken) throw new Error('QueueClient needs a token or a getToken callback');
  const f = o.fetch ?? globalThis.fetch;
  if (!f) throw new Error('no fetch here: pass one as the `fetch` option');
  let current: string | null = o.token ?? null;
  let pending: Promise<string> | null = null;
  let ws: WebSocketCtor | null = o.WebSocket ?? null;
  const ready = ws ? Promise.resolve() : findWebSocket().then((c) => void (ws = c));
  ready.catch(() => undefined);
  return {
    baseUrl: o.baseUrl.replace(/\/+$/, ''),
    deviceId: o.deviceId,
    fetch: (input, init) => f(input, init),
    get WebSocket(): WebSocketCtor {
      if (!ws) throw new Error('the WebSocket implementation is not loaded yet: await client.context()');
      return ws;
    },
    ready,
    async token() {
      if (current !== null) return current;
      if (!o.getToken) throw new Error('the token was refused and there is no getToken callback');
      pending ??= Promise.resolve(o.getToken()).then((t) => {
        current = t;
        pending = null;
        return t;
      }, (err) => {
        pending = null;
        throw err;
      });
      return pending;
    },
    tokenRejected() {
      // Without a callback the same token is all there is; keep it (the caller reports the refusal).
      if (o.getToken) current = null;
    },
    now: o.now ?? (() => Date.now()),
    busy: () => undefined,
  };
}
