// One WebSocket: a bounded sender ([RT9]) plus the stream subscriptions it holds.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { BusMessage, SequencedEvent, StreamKind } from './bus.ts';
import { CloseCode } from './protocol.ts';
import type { Sink, Subscribed } from './subscription.ts';

/**
 * The token a socket was opened with, as far as the socket server needs it: who, its id and
 * issue time (a revocation closes the sockets it covers), and its scopes (each message is
 * checked against them). Filled from the upgrade's checked token (src/http/auth.ts).
 */
export interface SocketCredential {
  userId: string;
  tokenId: string | null;
  /** Epoch seconds. */
  issuedAt: number | null;
  /** null: the user's full rights. */
  scopes: ReadonlySet<string> | null;
}

export interface ConnectionLimits {
  /** Bytes queued for a socket before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /** Client messages per second before the socket is closed. */
  maxMessagesPerSecond: number;
}

/**
 * Messages sent to one socket in one go (a fan-out turn of the bus, a burst of answers)
 * leave in one write: the socket is corked at its first send and uncorked once the
 * current work is done. `ws` writes every frame at once otherwise, a writev syscall per
 * frame, which profiling showed as a fifth of the server's CPU under load (issue 16).
 * `_socket` is ws's own field (there is no public cork); without it nothing is corked.
 */
const corked = new Set<Socket>();
let flushScheduled = false;
function flushCorked(): void {
  flushScheduled = false;
  for (const s of corked) s.uncork();
  corked.clear();
}
function corkUntilDone(ws: WebSocket): void {
  // ws keeps its net.Socket in a private field its typings do not declare; corking it is
  // the only way to batch the frames of one turn (guarded: absent, nothing is corked).
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket || typeof socket.cork !== 'function' || corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    process.nextTick(flushCorked);
  }
}

/** Event messages as sent, per event object (an event belongs to one stream, so the text is the same for every socket). */
const serialized = new WeakMap<SequencedEvent, string>();

interface ConnectionHooks {
  slow(): void;
  catchup(reason: 'gap' | 'reconnect'): void;
}

export class Connection implements Sink {
  readonly id = randomUUID();
  alive = true;
  /** When the token the socket was opened with expires (epoch ms); null: never. */
  expiresAt: number | null = null;
  /** The token it was opened with (or renewed with); null only for sockets opened without one. */
  credential: SocketCredential | null = null;
  readonly subs = new Map<string, Subscribed>();
  private closed = false;
  private windowStart: number;
  private windowCount = 0;

  readonly ws: WebSocket;
  readonly userId: string;
  readonly deviceId: string;
  private readonly limits: ConnectionLimits;
  private readonly log: FastifyBaseLogger;
  private readonly hooks: ConnectionHooks;
  /** The server clock (epoch ms): the message-rate window. */
  private readonly now: () => number;

  constructor(ws: WebSocket, userId: string, deviceId: string, limits: ConnectionLimits, log: FastifyBaseLogger, hooks: ConnectionHooks, now: () => number) {
    this.ws = ws;
    this.userId = userId;
    this.deviceId = deviceId;
    this.limits = limits;
    this.log = log;
    this.hooks = hooks;
    this.now = now;
    this.windowStart = now();
    ws.on('pong', () => (this.alive = true));
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  /** Sends one message; false when the socket is closed or was just closed for being slow. */
  send(msg: object | string): boolean {
    if (!this.isOpen) return false;
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.hooks.slow();
      this.close(CloseCode.slowConsumer, 'slow consumer: send buffer over limit; reconnect with ?since');
      return false;
    }
    corkUntilDone(this.ws);
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs.values()) s.close();
    this.subs.clear();
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  /**
   * One heartbeat tick [RT9]: a socket whose token has expired is closed with 4401, one that
   * did not answer the last ping with 4408; any other is pinged.
   */
  beat(now: number): 'ok' | 'expired' | 'timeout' {
    if (this.expiresAt !== null && this.expiresAt <= now) {
      this.close(CloseCode.unauthorized, 'the token expired; reconnect with a new token');
      return 'expired';
    }
    if (!this.alive) {
      this.close(CloseCode.heartbeatTimeout, 'no pong'); // terminated 5 s later if it does not answer the close
      return 'timeout';
    }
    this.alive = false;
    this.ws.ping();
    return 'ok';
  }

  /** Counts a client message; false (and the socket closed) past the rate limit. */
  admit(): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount <= this.limits.maxMessagesPerSecond) return true;
    this.close(CloseCode.tooManyMessages, 'too many messages');
    return false;
  }

  // ---- Sink: what subscriptions deliver ----

  event(stream: StreamKind, id: string, e: SequencedEvent): boolean {
    // One bus message reaches every socket of its stream as the same object: serialise it once.
    let text = serialized.get(e);
    if (text === undefined) {
      const data = (e.data ?? {}) as Record<string, unknown>;
      text = JSON.stringify({
        type: e.type,
        queueId: stream === 'queue' ? id : ((data.queueId as string | undefined) ?? null),
        userId: e.userId,
        deviceId: e.deviceId,
        timestamp: Date.parse(e.timestamp as string),
        data,
        sequenceNumber: e.sequenceNumber,
        stream,
      });
      serialized.set(e, text);
    }
    // What an event means for the socket (a deleted queue or an ended party ends it) is the
    // feature's rule, told through the subscription's afterEvent or its own sink.
    return this.send(text);
  }

  snapshot(stream: StreamKind, id: string, s: { sequenceNumber: number; data: object }, reason: string): boolean {
    return this.send({ type: 'snapshot', stream, queueId: stream === 'queue' ? id : null, sequenceNumber: s.sequenceNumber, data: s.data, reason });
  }

  note(msg: BusMessage): void {
    if (msg.note) this.send(msg.note);
  }

  catchup(reason: 'gap' | 'reconnect'): void {
    this.hooks.catchup(reason);
  }

  failed(err: unknown): void {
    this.log.error({ err, connection: this.id }, 'stream catch-up failed; closing socket so the client resumes');
    this.close(CloseCode.goingAway, 'temporary failure; reconnect with ?since');
  }
}
