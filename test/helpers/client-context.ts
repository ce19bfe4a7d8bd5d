// A ClientContext for the client SDK's parts in tests (client/src/context.ts): the real
// `ws` WebSocket and Node's fetch against a real server, a clock that may be skewed, and
// a switch that makes new sockets fail to connect (a network outage) while the test wants.
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
}

export function testContext(baseUrl: string, token: string | (() => Promise<string>), opts: { deviceId?: string; skewMs?: number } = {}): TestContext {
  const sockets: WebSocket[] = [];
  const skew = opts.skewMs ?? 0;
  const ctx: TestContext = {
    baseUrl,
    deviceId: opts.deviceId ?? `dev-${Math.random().toString(36).slice(2, 10)}`,
    fetch: (input, init) => fetch(input, init),
    WebSocket: class extends WebSocket {
      constructor(url: string) {
        // Port 1 refuses connections: the socket fails the way a dropped network does.
        super(ctx.offline ? url.replace(/\/\/[^/]+/, '//127.0.0.1:1') : url);
        sockets.push(this);
      }
    } as unknown as WebSocketCtor,
    token: typeof token === 'string' ? async () => token : token,
    tokenRejected() {
      ctx.rejected++;
    },
    now: () => trueNow() + skew,
    sockets,
    offline: false,
    rejected: 0,
  };
  return ctx;
}

export type { WebSocketLike };
