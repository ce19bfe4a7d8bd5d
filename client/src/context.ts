// What every part of the client gets from QueueClient: where the service is, who is
// calling, and the platform's fetch and WebSocket. QueueClient builds one of these and
// hands it to the queue mirrors, the playback mirror and party sessions, so each part
// reaches the service the same way (tokens refreshed in one place, `ws` injected once
// on Node 20, the browser's own WebSocket elsewhere).

/** The subset of the WHATWG WebSocket both the browser's and the `ws` package's provide. */
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
}

/** ws(s)://host:port{path}?{query}: the socket URL for a path of the service. */
export function socketUrl(ctx: ClientContext, path: string, query: Record<string, string | number | undefined>): string {
  const u = new URL(path, ctx.baseUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u.toString();
}
