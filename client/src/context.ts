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
  /**
   * Called with each token `getToken` gives while the current one is still accepted (renewed
   * ahead of its expiry): open sockets pass it on with an `auth` message, so they are not
   * closed (4401) when the old one expires. Answers a function that stops the calls.
   */
  onNewToken(fn: (token: string) => void): () => void;
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

/** `exp` and `iat` (epoch s) of a JWT, read without checking it (the service checks it); null for anything else. */
export function tokenTimes(token: string): { exp: number; iat: number | null } | null {
  const part = token.split('.')[1];
  if (!part || typeof atob !== 'function') return null;
  try {
    const json = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown; iat?: unknown };
    return typeof json.exp === 'number' ? { exp: json.exp, iat: typeof json.iat === 'number' ? json.iat : null } : null;
  } catch {
    return null;
  }
}

/** The longest delay setTimeout takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long before its expiry a token is renewed: a quarter of its lifetime, at most a
 * minute, at least a second (a 2-minute token at 1:30, a 5-minute one at 4:00, an hour-long one at 59:00).
 */
export function renewalLeadMs(t: { exp: number; iat: number | null }, now: number): number {
  const lifetimeMs = t.iat !== null ? (t.exp - t.iat) * 1000 : t.exp * 1000 - now;
  return Math.min(60_000, Math.max(1000, lifetimeMs / 4));
}

/**
 * The one context of a QueueClient. `WebSocket` is usable once `ready` resolved (QueueClient
 * awaits it before it opens a socket; `client.context()` answers it then).
 */
export function makeContext(o: ContextOptions): ClientContext & { ready: Promise<void>; stop(): void } {
  if (!o.token && !o.getToken) throw new Error('QueueClient needs a token or a getToken callback');
  const f = o.fetch ?? globalThis.fetch;
  if (!f) throw new Error('no fetch here: pass one as the `fetch` option');
  let current: string | null = o.token ?? null;
  let pending: Promise<string> | null = null;
  const now = o.now ?? (() => Date.now());
  const listeners = new Set<(token: string) => void>();
  let renewTimer: ReturnType<typeof setTimeout> | null = null;
  /** The expiry of a token getToken gave back unrenewed: not asked again for it until it is refused. */
  let noFresherThan = -1;

  const ask = (): Promise<string> => {
    pending ??= Promise.resolve(o.getToken!()).then(
      (t) => {
        pending = null;
        return t;
      },
      (err) => {
        pending = null;
        throw err;
      },
    );
    return pending;
  };
  const due = (t: string): boolean => {
    const times = tokenTimes(t);
    if (!times || times.exp <= noFresherThan) return false;
    return times.exp * 1000 - now() <= renewalLeadMs(times, now());
  };
  /** Asks getToken for a fresher token than `old`; answers it (or `old`, when it was not fresher). */
  const renew = async (old: string): Promise<string> => {
    const next = await ask();
    const a = tokenTimes(old);
    const b = tokenTimes(next);
    if (next === old || (a && b && b.exp <= a.exp)) {
      noFresherThan = a?.exp ?? noFresherThan;
      return old;
    }
    if (current === old) set(next);
    for (const fn of listeners) fn(next);
    return next;
  };
  /** Makes `t` the current token and plans its renewal ahead of its expiry. */
  const set = (t: string): void => {
    current = t;
    if (renewTimer) clearTimeout(renewTimer);
    renewTimer = null;
    const times = o.getToken ? tokenTimes(t) : null;
    if (!times) return;
    const wait = Math.max(0, times.exp * 1000 - renewalLeadMs(times, now()) - now());
    // Timers take at most 2^31-1 ms (24.8 days): a longer wait is taken in steps.
    renewTimer = setTimeout(
      () => {
        renewTimer = null;
        if (current !== t) return;
        if (times.exp * 1000 - renewalLeadMs(times, now()) - now() > 0)
          set(t); // the next step of a long wait
        else if (due(t)) renew(t).catch(() => undefined); // a failed renewal: the refusal path asks again
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    (renewTimer as { unref?: () => void }).unref?.();
  };
  if (current !== null) set(current);
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
      if (current !== null) {
        // Close to its expiry (a provider's tokens may live 5 minutes): renewed first.
        const old = current;
        // A failed renewal keeps the old token while it lasts; its refusal asks again.
        if (o.getToken && due(old)) return renew(old).catch(() => old);
        return old;
      }
      if (!o.getToken) throw new Error('the token was refused and there is no getToken callback');
      const t = await ask();
      set(t);
      return t;
    },
    tokenRejected() {
      // Without a callback the same token is all there is; keep it (the caller reports the refusal).
      if (!o.getToken) return;
      current = null;
      noFresherThan = -1;
    },
    onNewToken(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    /** Stops the planned renewal (the client closed); a token asked for later is still renewed when due. */
    stop() {
      if (renewTimer) clearTimeout(renewTimer);
      renewTimer = null;
    },
    now,
    busy: () => undefined,
  };
}
