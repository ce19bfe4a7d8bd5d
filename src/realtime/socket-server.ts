// The connection lifecycle every WebSocket endpoint shares (queue, sync and party sockets):
// one set of open connections, opened with the upgrade's user, device and token expiry;
// one heartbeat [RT9] (4408 without a pong, 4401 once the token expired); messages held
// until the endpoint's setup is done, then handled in arrival order; a bus reconnect
// re-syncs every subscription [RT7]; shutdown closes everything with 1001. The token and
// path checks run at the upgrade (the routes' preHandlers), before any of this.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Metrics } from '../metrics.ts';
import type { Bus } from './bus.ts';
import { Connection, type ConnectionLimits } from './connection.ts';
import { CloseCode } from './protocol.ts';

/** What each socket endpoint (queue, sync, party) is configured with. */
export interface SocketOptions extends ConnectionLimits {
  replayCap: number;
  heartbeatMs: number;
}

export interface SocketServerOptions {
  limits: ConnectionLimits;
  heartbeatMs: number;
  bus: Bus;
  metrics: Metrics;
  now: () => number;
  /** After each heartbeat, with the ids of the connections still open (presence heals itself, [RT8]). */
  afterHeartbeat?(open: Set<string>): void;
}

export interface OpenOptions {
  /** Cut the socket off at once when it missed a pong, instead of after the close handshake's 5 s. */
  terminateOnTimeout?: boolean;
}

export class SocketServer {
  private readonly connections = new Set<Connection>();
  private readonly terminate = new WeakSet<Connection>();

  private readonly o: SocketServerOptions;
  constructor(app: FastifyInstance, o: SocketServerOptions) {
    this.o = o;
    const timer = setInterval(() => {
      const t = o.now();
      for (const c of this.connections) if (c.beat(t) === 'timeout' && this.terminate.has(c)) c.ws.terminate();
      o.afterHeartbeat?.(new Set([...this.connections].map((c) => c.id)));
    }, o.heartbeatMs);
    timer.unref();
    o.bus.onReconnect(() => {
      for (const c of this.connections) for (const s of c.subs.values()) s.resync();
    });
    app.addHook('onClose', async () => {
      clearInterval(timer);
      for (const c of this.connections) c.close(CloseCode.goingAway, 'server shutting down; reconnect with ?since');
    });
  }

  /** A connection for an accepted upgrade: counted, heartbeaten, and forgotten when it closes. */
  open(ws: WebSocket, req: FastifyRequest, deviceId: string, opts: OpenOptions = {}): Connection {
    const { metrics } = this.o;
    const c = new Connection(
      ws,
      req.userId,
      deviceId,
      this.o.limits,
      req.log,
      {
        slow: () => metrics.slowConsumers.inc(),
        catchup: (reason) => metrics.catchups.inc({ reason }),
      },
      this.o.now,
    );
    c.expiresAt = req.tokenExpiresAt;
    c.credential = req.credential;
    if (opts.terminateOnTimeout) this.terminate.add(c);
    this.connections.add(c);
    metrics.sockets.inc();
    ws.on('close', () => {
      this.connections.delete(c);
      metrics.sockets.dec();
      c.close(CloseCode.normal, 'closed');
    });
    return c;
  }

  /**
   * Closes every open socket `matches` picks (a revocation: close 4401 with the reason), on
   * this instance; answers how many.
   */
  closeWhere(matches: (c: Connection) => boolean, code: number, reason: string): number {
    let n = 0;
    for (const c of this.connections) {
      if (!matches(c)) continue;
      c.close(code, reason);
      n++;
    }
    return n;
  }

  /**
   * Holds the socket's messages until `ready()` is called (so a command never races the
   * endpoint's setup), then passes each to `handle` in arrival order.
   */
  inbox(c: Connection, handle: (raw: Buffer) => void): { ready(): void } {
    let ready = false;
    const pending: Buffer[] = [];
    c.ws.on('message', (d: Buffer) => (ready ? handle(d) : pending.push(d)));
    return {
      ready() {
        ready = true;
        for (const d of pending.splice(0)) handle(d);
      },
    };
  }
}
