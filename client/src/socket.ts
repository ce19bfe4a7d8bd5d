// ResumableSocket: one WebSocket to the service kept open: a token from the context for each
// connection (refreshed through getToken after a 4401 or an HTTP 401), jittered exponential
// back-off between attempts, a dead-link timer, and the close-code policy its owner gives.
// QueueClient (the sync socket) and PartySession (the party socket) each own one; what the
// messages mean stays with them. Rules: docs/SPEC.md [RT1]-[RT4], [PA2], "Close codes".
import { backoffMs } from './backoff.ts';
import type { ClientContext, WebSocketLike } from './context.ts';
import { decodeFrame } from './messages.ts';

/** The service's 4401: the token expired or was revoked while connected [AU10]. */
const UNAUTHORIZED = 4401;

/** What the owner does after a socket closed: connect again after the back-off, or stay down. */
export type AfterClose = 'retry' | 'stop';

export interface SocketClose {
  code: number;
  reason: string;
  /** The socket had opened: false for a refused upgrade or an unreachable service. */
  opened: boolean;
}

export interface ResumableSocketOptions<M extends { type: string }> {
  ctx: ClientContext;
  /** The socket URL for a token (resume parameters such as `since` read at each connect). */
  url(token: string): string;
  /** Reconnect back-off: the first delay and the largest (ms); each jittered to 50-100 %. */
  backoff: { baseMs: number; maxMs: number; maxAttempt?: number };
  /**
   * Dead link, either or both. `heartbeatMs`: the server's ping interval; where the socket
   * shows pings (the `ws` package's), one that saw no ping or message for 2.5 intervals is
   * dropped with 4408. `silenceMs`: no message at all for this long (from the open): dropped.
   * Either way the socket is resumed after the back-off, without the close policy.
   */
  deadLink: { heartbeatMs?: number; silenceMs?: number };
  /** Called before each connection attempt; false: do not connect now (nothing scheduled). */
  ready?(): Promise<boolean>;
  /** getToken failed: 'retry' after the back-off, or 'stop'. */
  tokenFailed(err: unknown): AfterClose;
  /** A message, decoded into the socket's union. */
  message(m: M): void;
  /** The socket opened (before its first message). */
  opened?(): void;
  /** The socket is gone (closed, refused, dead or dropped): the owner forgets what was tied to it. */
  down(): void;
  /** The close-code policy: what a close means (a 4401 has already marked the token rejected). */
  closed(close: SocketClose): AfterClose | Promise<AfterClose>;
}

/** A socket that shows the server's pings (the `ws` package's does; the platforms' do not). */
type PingSource = WebSocketLike & { on(event: 'ping', fn: () => void): unknown };
const showsPings = (ws: WebSocketLike): ws is PingSource => 'on' in ws && typeof ws.on === 'function';

export class ResumableSocket<M extends { type: string }> {
  private ws: WebSocketLike | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private deadTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lastSeen = 0;
  private connecting = false;
  private stopped = true;

  private readonly o: ResumableSocketOptions<M>;
  constructor(options: ResumableSocketOptions<M>) {
    this.o = options;
  }

  /** The socket is open (its upgrade done) and not closing. */
  get isOpen(): boolean {
    return this.ws?.readyState === 1;
  }

  /** A socket exists (connecting or open). */
  get active(): boolean {
    return this.ws !== null;
  }

  /** Sends a message on the open socket; false when there is none. */
  send(msg: object): boolean {
    const ws = this.ws;
    if (ws?.readyState !== 1) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /** The connection is in use (a `hello` came): the back-off starts again from its first delay. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  /** The next back-off starts at least at this attempt (e.g. after 4429, too many messages). */
  slowDown(attempt: number): void {
    this.attempt = Math.max(this.attempt, attempt);
  }

  /** Connects unless a socket is open or on its way; keeps connecting until stop(). */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.ws || this.connecting) return;
    this.connecting = true;
    try {
      await this.connect();
    } finally {
      this.connecting = false;
    }
  }

  /** Drops the socket now and connects again at once, back-off reset (a gap, a changed resume point). */
  restart(): void {
    if (this.stopped) return;
    this.drop(1000, 'reconnecting');
    this.attempt = 0;
    this.clearRetry();
    void this.start();
  }

  /** Closes the socket (with `code`) and connects no more until start(). */
  stop(code = 1000, reason = 'closed'): void {
    this.stopped = true;
    this.clearRetry();
    this.drop(code, reason);
  }

  private async connect(): Promise<void> {
    if (this.o.ready && !(await this.o.ready())) return;
    if (this.ws || this.stopped) return;
    let token: string;
    try {
      token = await this.o.ctx.token();
    } catch (err) {
      if (this.o.tokenFailed(err) === 'retry') this.retryLater();
      return;
    }
    if (this.ws || this.stopped) return;
    let ws: WebSocketLike;
    try {
      ws = new this.o.ctx.WebSocket(this.o.url(token));
    } catch {
      this.retryLater();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.armSilence(ws);
      this.o.opened?.();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastSeen = this.o.ctx.now();
      this.armSilence(ws);
      const m = decodeFrame<M>(ev.data);
      if (m) this.o.message(m);
    };
    // A refused upgrade fires error, then close. Node 22's WebSocket (its undici) fires only the
    // error and leaves the socket connecting for ever: before the open, the error ends it (the
    // close that may follow finds the socket already dropped).
    ws.onerror = () => {
      if (!opened) ws.onclose?.({ code: 1006, reason: '' });
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.forget();
      void this.afterClose({ code: ev.code, reason: ev.reason, opened });
    };
    this.watchPings(ws);
  }

  private async afterClose(close: SocketClose): Promise<void> {
    if (this.stopped) return;
    if (close.code === UNAUTHORIZED) this.o.ctx.tokenRejected();
    const next = await this.o.closed(close);
    if (next === 'retry') this.retryLater();
  }

  /** A dead link: the socket is dropped and resumed after the back-off. */
  private dead(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.drop(code, reason);
    this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = backoffMs(this.attempt, this.o.backoff.baseMs, this.o.backoff.maxMs);
    this.attempt = Math.min(this.attempt + 1, this.o.backoff.maxAttempt ?? 30);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.start();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Closes the current socket, if any, and tells the owner it is gone. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.forget();
    if (ws.readyState <= 1) {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    }
  }

  private forget(): void {
    this.ws = null;
    if (this.deadTimer) clearTimeout(this.deadTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.deadTimer = null;
    this.watchdog = null;
    this.o.down();
  }

  private armSilence(ws: WebSocketLike): void {
    const ms = this.o.deadLink.silenceMs;
    if (ms === undefined) return;
    if (this.deadTimer) clearTimeout(this.deadTimer);
    // Nothing (not even a pong) for too long: the connection is gone without a close.
    this.deadTimer = setTimeout(() => this.dead(ws, 1000, 'no traffic'), ms);
  }

  private watchPings(ws: WebSocketLike): void {
    const hb = this.o.deadLink.heartbeatMs;
    if (hb === undefined || !showsPings(ws)) return;
    ws.on('ping', () => (this.lastSeen = this.o.ctx.now()));
    this.lastSeen = this.o.ctx.now();
    this.watchdog = setInterval(
      () => {
        if (this.ctx.now() - this.lastSeen > hb * 2.5) this.dead(ws, 4408, 'no ping');
      },
      Math.max(250, hb / 2),
    );
    (this.watchdog as { unref?: () => void }).unref?.();
  }

  private get ctx(): ClientContext {
    return this.o.ctx;
  }
}
