// A ClientContext for the client SDK's parts in tests (client/src/context.ts): the real
// `ws` WebSocket and Node's fetch against a real server, a clock that may be skewed, and
// a switch that makes new sockets fail to connect (a network outage) while the test wants.
import type { BusyRetry } from '../../client/src/backoff.ts';
import WebSocket from 'ws';
import type { ClientContext, WebSocketCtor, WebSocketLike } from '../../client/src/context.ts';
import { trueNow } from './party-member.ts';

export interface TestContext extends ClientContext {
  /** Every socket opened through this context, newest last. */
  readonly sockets: WebSocket[];
  /** While true, new sockets go to a closed port (the upgrade fails as with no network). */
  offline: boolean;
  /** Times tokenRejected() was called. */
  rejected: number;
  /** The busy retries the client was told of ([AD9]). */
  busyRetries: BusyRetry[];
}

/**
 * A socket whose link is slow: each message is held `delayMs` before it is sent and after it
 * is received (both ways alike, in order, as TCP delivers), as SimMember does
 * (test/helpers/party-member.ts), but behind the WebSocket interface the SDK uses.
 */
class SlowSocket implements WebSocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly inner: WebSocket;
  private readonly delayMs: number;
  constructor(inner: WebSocket, delayMs: number) {
    this.inner = inner;
    this.delayMs = delayMs;
    inner.onopen = (ev) => this.onopen?.(ev);
    inner.onerror = (ev) => this.onerror?.(ev);
    inner.onmessage = (ev) => void setTimeout(() => this.onmessage?.({ data: ev.data }), delayMs);
    inner.onclose = (ev) => void setTimeout(() => this.onclose?.({ code: ev.code, reason: ev.reason }), delayMs);
  }
  get readyState(): number {
    return this.inner.readyState;
  }
  send(data: string): void {
    setTimeout(() => {
      if (this.inner.readyState === WebSocket.OPEN) this.inner.send(data);
    }, this.delayMs);
  }
  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

export function testContext(
  baseUrl: string,
  token: string | (() => Promise<string>),
  opts: { deviceId?: string; skewMs?: number; linkDelayMs?: number } = {},
): TestContext {
  const sockets: WebSocket[] = [];
  const skew = opts.skewMs ?? 0;
  const Plain = class extends WebSocket {
    constructor(url: string) {
      // Port 1 refuses connections: the socket fails the way a dropped network does.
      super(ctx.offline ? url.replace(/\/\/[^/]+/, '//127.0.0.1:1') : url);
      sockets.push(this);
    }
  };
  const delay = opts.linkDelayMs ?? 0;
  const ctx: TestContext = {
    baseUrl,
    deviceId: opts.deviceId ?? `dev-${Math.random().toString(36).slice(2, 10)}`,
    fetch: (input, init) => fetch(input, init),
    WebSocket: (delay > 0
      ? function SlowCtor(url: string) {
          return new SlowSocket(new Plain(url), delay);
        }
      : Plain) as unknown as WebSocketCtor,
    token: typeof token === 'string' ? async () => token : token,
    tokenRejected() {
      ctx.rejected++;
    },
    onNewToken: () => () => undefined,
    now: () => trueNow() + skew,
    busy: (retry) => {
      ctx.busyRetries.push(retry);
    },
    busyRetries: [],
    sockets,
    offline: false,
    rejected: 0,
  };
  return ctx;
}

export type { WebSocketLike };
