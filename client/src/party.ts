// A listening party as one object: the party socket (/ws/party/{partyId}) kept open and
// resumed with `since`, and the party state folded from its events with the server's own
// fold (`evolve` in src/party/party.ts). Its two helpers: the clock sync (party-clock.ts,
// `latency_measurement` exchanges) and the timeline turned into "the position now" on this
// device (party-timeline.ts). Rules: docs/SPEC.md [PA1]-[PA10] and "Close codes".
// Browser-safe: the platform's fetch and WebSocket come in the context.
import { evolve, type PartyEvent, type PartyState } from '../../src/party/party.ts';
import type { PlaybackSyncCommand, PositionReportMessage, PartyClientMessage, PartyDeviceView, PartyView } from '../../src/party/protocol.ts';
import type { CloseCode as ServerCloseCode } from '../../src/realtime/protocol.ts';
import type { Static } from '@sinclair/typebox';
import { Api } from './api.ts';
import { socketUrl, type ClientContext } from './context.ts';
import { Emitter } from './emitter.ts';
import { QueueServiceError } from './errors.ts';
import {
  isPartySequenced,
  type Ack,
  type ErrorMsg,
  type HostChanged,
  type MemberJoined,
  type MemberLeft,
  type PartyEnded,
  type PartyHello,
  type PartyMessage,
  type PartySequenced,
  type PartySnapshot,
  type PlaybackSync,
  type QueueUpdated,
  type SettingsChanged,
  type SyncCorrection,
  type SyncDegraded,
} from './messages.ts';
import { PartyClock, type ClockView } from './party-clock.ts';
import { PartyTimeline, type KnownTimeline } from './party-timeline.ts';
import { ResumableSocket, type AfterClose, type SocketClose } from './socket.ts';

export type { PlaybackSync, QueueUpdated, SyncCorrection, SyncDegraded, MemberJoined, MemberLeft, HostChanged, SettingsChanged, PartyEnded };
type PositionReport = Static<typeof PositionReportMessage>;
export type PlaybackCommand = Omit<Static<typeof PlaybackSyncCommand>, 'type' | 'mutationId'>;
type PlaybackSyncCall = Static<typeof PlaybackSyncCommand>;
export type { PartyView, PartyDeviceView, PartyState, ClockView };

/** The server's close codes (checked against src/realtime/protocol.ts by the compiler). */
const Close: typeof ServerCloseCode = {
  normal: 1000,
  goingAway: 1001,
  slowConsumer: 4008,
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  notFound: 4404,
  heartbeatTimeout: 4408,
  tooManyMessages: 4429,
};

/** A party event as the session delivers it: a `playback_sync` with how late it was delivered. */
export type PlaybackEvent = PlaybackSync & {
  /** Milliseconds past its scheduled instant (on this device's idea of server time) it was delivered; ~0 normally, more on a replay. */
  lateMs: number;
};

export type SessionStatus = 'connecting' | 'online' | 'offline' | 'ended' | 'closed';

/** The sequenced party events, as received on the socket (flat: the event's data plus its envelope). */
export type PartyEventMessage =
  | PlaybackSync
  | MemberJoined
  | MemberLeft
  | HostChanged
  | SettingsChanged
  | PartyEnded
  | (Record<string, unknown> & { type: 'party_created'; sequenceNumber: number });

export type PartyEvents = {
  /** A `playback_sync`, delivered when it takes effect here: at its `at` (plus the follow delay) on this device's estimate of server time [PA7][PA8]. */
  playback: [PlaybackEvent];
  /** Members changed (joined or left): the current list. */
  members: [PartyState['members'], MemberJoined | MemberLeft];
  /** Hosting moved. */
  host: [string, HostChanged];
  /** The host let members add tracks, or stopped it. */
  settings: [boolean];
  /** The party queue changed (only ever forward: the highest queueVersion is kept) [PA5]. */
  queue: [QueueUpdated];
  /** The link is too slow for the party's schedule, or recovered [PA8]. */
  degraded: [SyncDegraded];
  /** The server compared a position report with the timeline and asks for a correction [PA9]. */
  correction: [SyncCorrection];
  /** Every sequenced party event, once each, in order, as it arrives (replays included). */
  event: [PartyEventMessage];
  /** The party state after a snapshot (connect, or too far behind to replay). */
  snapshot: [PartyState];
  /** A refusal or failure not tied to a call (a refused socket, a message the server rejected). */
  error: [QueueServiceError];
  /** The session is over: the party ended, this member left, or access was lost. */
  ended: [{ reason: string; code?: number }];
  status: [SessionStatus];
  /** A clock exchange completed and the estimate was updated. */
  clock: [ClockView];
};

export interface PartySessionOptions {
  /** Clock exchanges once synced (ms). Default 2000. */
  pingIntervalMs?: number;
  /** The first this-many exchanges go out quickly, `burstIntervalMs` apart. Defaults 10, 30. */
  burstPings?: number;
  burstIntervalMs?: number;
  /** No message at all for this long: the socket is treated as dead and reopened. Default 3 pings + 4 s. */
  deadAfterMs?: number;
  /** Reconnect back-off: base and cap (ms), full jitter in [delay/2, delay]. Defaults 250, 10000. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Give up the first connection after this long (join/create reject). Default 15000. */
  connectTimeoutMs?: number;
  /**
   * A playback command unanswered this long (resends after reconnects included) rejects with
   * `timeout`. Default 15000.
   */
  commandTimeoutMs?: number;
  /** Sent as `deviceInfo` when joining. */
  deviceInfo?: Record<string, unknown>;
}

interface Pending {
  /** The command as sent: resent as is (same mutationId) on the next socket until answered [PA11]. */
  msg: PlaybackSyncCall;
  resolve: (r: { sequenceNumber: number; at: number; leadMs: number }) => void;
  reject: (e: QueueServiceError) => void;
}

const DEFAULTS = {
  pingIntervalMs: 2000,
  burstPings: 10,
  burstIntervalMs: 30,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10_000,
  connectTimeoutMs: 15_000,
  commandTimeoutMs: 15_000,
};

let mutationCounter = 0;
const newId = (): string =>
  typeof globalThis.crypto?.randomUUID === 'function'
    ? globalThis.crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${++mutationCounter}`;

/** The party state as the server folds it, from the view GET /parties/{id} (and a snapshot) gives. */
function stateOfView(v: PartyView): PartyState {
  const { serverTime: _s, positionNow: _p, ...playback } = v.playback;
  return {
    id: v.id,
    queueId: v.queueId,
    createdBy: v.createdBy,
    hostId: v.hostId,
    inviteCode: v.inviteCode,
    allowMemberAdds: v.allowMemberAdds,
    status: v.status,
    version: v.sequenceNumber,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    endedAt: v.endedAt,
    members: v.members.map((m) => ({ userId: m.userId, joinedAt: m.joinedAt, deviceInfo: m.deviceInfo })),
    playback,
  };
}

const ENVELOPE = new Set(['type', 'partyId', 'sequenceNumber', 'stream', 'timestamp', 'userId', 'deviceId']);

/** A party event as the socket sends it (data spread over the envelope) back into the stored shape `evolve` folds. */
function eventOfMessage(m: PartySequenced): PartyEvent {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (!ENVELOPE.has(k)) data[k] = v;
  // member_* carry the member in the envelope's userId (the socket folds data.userId into it).
  if (m.type === 'member_joined' || m.type === 'member_left') data.userId = m.userId;
  return {
    type: m.type,
    data,
    partyId: m.partyId,
    sequenceNumber: m.sequenceNumber,
    userId: m.userId,
    deviceId: m.deviceId,
    timestamp: new Date(Number(m.timestamp)).toISOString(),
  } as PartyEvent;
}

/**
 * One member's live session of a listening party. Build it with `PartySession.join` or
 * `PartySession.create` (or `client.joinParty` / `client.createParty`).
 */
export class PartySession extends Emitter<PartyEvents> {
  readonly id: string;
  /** The party as the server folds it, kept current from the socket's events. */
  state: PartyState;
  /** The party queue, as last told (`queue_updated`, highest queueVersion). */
  queue: QueueUpdated | null = null;
  status: SessionStatus = 'connecting';
  /** This member plays the timeline this many ms late ([PA8]; 0 unless degraded). */
  followDelayMs = 0;
  /** The user this session runs as (from the socket's hello). */
  userId: string | null = null;

  private readonly opts: Required<Omit<PartySessionOptions, 'deviceInfo' | 'deadAfterMs'>> & { deadAfterMs: number };
  /** [PA6] The clock sync: exchanges on this session's socket, the offset estimate. */
  private readonly clockSync: PartyClock;
  /** [PA4][PA7] The party's timelines, and each playback_sync announced when it takes effect here. */
  private readonly timelines: PartyTimeline;
  /** The party socket: token, back-off, dead link; its messages come to onMessage, its closes to onClosed. */
  private readonly socket: ResumableSocket<PartyMessage>;
  private lastSeq: number;
  private stopped = false;
  private endedFired = false;
  /** The current socket has said hello. */
  private opened = false;
  /** The party's head when this socket opened: the first sync is done once it is reached. */
  private helloHead = 0;
  private readonly pending = new Map<string, Pending>();
  private firstSync: { resolve: () => void; reject: (e: unknown) => void } | null = null;

  private readonly api: Api;

  private readonly ctx: ClientContext;
  private constructor(ctx: ClientContext, view: PartyView, options: PartySessionOptions = {}) {
    super();
    this.ctx = ctx;
    this.api = new Api(ctx);
    this.id = view.id;
    this.state = stateOfView(view);
    // Start from the view's sequence number: the socket replays only what came after it.
    this.lastSeq = view.sequenceNumber;
    const pingIntervalMs = options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
    this.opts = {
      pingIntervalMs,
      burstPings: options.burstPings ?? DEFAULTS.burstPings,
      burstIntervalMs: options.burstIntervalMs ?? DEFAULTS.burstIntervalMs,
      reconnectBaseMs: options.reconnectBaseMs ?? DEFAULTS.reconnectBaseMs,
      reconnectMaxMs: options.reconnectMaxMs ?? DEFAULTS.reconnectMaxMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      deadAfterMs: options.deadAfterMs ?? 3 * pingIntervalMs + 4000,
    };
    this.clockSync = new PartyClock({
      now: () => ctx.now(),
      send: (msg) => this.send(msg),
      isOpen: () => this.socket.isOpen,
      updated: (view) => this.emit('clock', view),
      pingIntervalMs,
      burstPings: this.opts.burstPings,
      burstIntervalMs: this.opts.burstIntervalMs,
    });
    this.timelines = new PartyTimeline(
      { ...view.playback },
      {
        serverNow: () => this.serverNow(),
        followDelayMs: () => this.followDelayMs,
        due: (p, lateMs) => this.emit('playback', { ...p, lateMs }),
      },
    );
    // A token renewed ahead of its expiry goes to the open socket, which then stays open ([AU11]).
    this.stopTokens = ctx.onNewToken((token) => this.send({ type: 'auth', token, mutationId: `auth:${Date.now()}` }));
    this.socket = new ResumableSocket<PartyMessage>({
      ctx,
      url: (token) => socketUrl(ctx, `/ws/party/${encodeURIComponent(this.id)}`, { token, deviceId: ctx.deviceId, since: this.lastSeq }),
      backoff: { baseMs: this.opts.reconnectBaseMs, maxMs: this.opts.reconnectMaxMs },
      deadLink: { silenceMs: this.opts.deadAfterMs },
      tokenFailed: (err) => {
        this.fail(new QueueServiceError(0, 'no_token', `getToken failed: ${String(err)}`));
        return 'stop';
      },
      message: (m) => this.onMessage(m),
      down: () => this.socketGone(),
      // Unanswered commands stay pending: they are sent again on the next socket (resendPending).
      closed: (close) => (close.opened ? this.onClosed(close) : this.refused()),
    });
  }

  private readonly stopTokens: () => void;

  /** [PA1] Joins with the invite code (joining twice changes nothing) and opens the party socket. */
  static async join(ctx: ClientContext, partyId: string, inviteCode: string, options: PartySessionOptions = {}): Promise<PartySession> {
    const body: Record<string, unknown> = { inviteCode };
    if (options.deviceInfo) body.deviceInfo = options.deviceInfo;
    const view = await new Api(ctx).request<PartyView>('POST', `/parties/${encodeURIComponent(partyId)}/join`, body);
    return PartySession.open(ctx, view, options);
  }

  /** [PA1] Creates a party on a queue the caller may control and add to; the caller hosts it. The session's `inviteCode` is for friends. */
  static async create(ctx: ClientContext, queueId: string, options: PartySessionOptions & { allowMemberAdds?: boolean } = {}): Promise<PartySession> {
    const body: Record<string, unknown> = { queueId };
    if (options.allowMemberAdds !== undefined) body.allowMemberAdds = options.allowMemberAdds;
    const view = await new Api(ctx).request<PartyView>('POST', '/parties', body);
    return PartySession.open(ctx, view, options);
  }

  /** Opens a session on a party the caller is already a member of (e.g. after an app restart). */
  static async resume(ctx: ClientContext, partyId: string, options: PartySessionOptions = {}): Promise<PartySession> {
    const view = await new Api(ctx).request<PartyView>('GET', `/parties/${encodeURIComponent(partyId)}`);
    return PartySession.open(ctx, view, options);
  }

  private static async open(ctx: ClientContext, view: PartyView, options: PartySessionOptions): Promise<PartySession> {
    const s = new PartySession(ctx, view, options);
    if (view.status === 'ended') throw new QueueServiceError(409, 'party_ended', 'the party has ended', { partyId: view.id });
    await s.start();
    return s;
  }

  private start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstSync = null;
        this.close();
        reject(new QueueServiceError(0, 'connect_timeout', `the party socket did not open in ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      this.firstSync = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      void this.socket.start();
    });
  }

  // ---- what the app reads ----

  get inviteCode(): string {
    return this.state.inviteCode;
  }

  get hostId(): string {
    return this.state.hostId;
  }

  get isHost(): boolean {
    return this.userId !== null && this.userId === this.state.hostId;
  }

  get members(): PartyState['members'] {
    return this.state.members;
  }

  /** Last party sequence number applied. */
  get sequenceNumber(): number {
    return this.lastSeq;
  }

  /** The clock estimate ([PA6]): offset (server - this device) and round trip. */
  get clock(): ClockView {
    return this.clockSync.view;
  }

  /** Server time now, as this device estimates it. */
  serverNow(): number {
    return this.clockSync.serverNow();
  }

  /** The timeline in force for this member now (the follow delay applied). */
  timeline(): KnownTimeline | null {
    return this.timelines.current();
  }

  /**
   * [PA4][PA7][PA8] The position (ms) to play now on the party timeline: the last timeline whose
   * `at` has come on the estimated server clock, less the follow delay when degraded.
   */
  positionNow(): number {
    return this.timelines.positionNow();
  }

  /** Whether the party is playing now (on this member's timeline). */
  isPlaying(): boolean {
    return this.timeline()?.isPlaying ?? false;
  }

  /** Resolves once `n` clock exchanges have completed (the estimate is then usable). */
  whenSynced(n = 5, timeoutMs = 10_000): Promise<ClockView> {
    if (this.clockSync.count >= n) return Promise.resolve(this.clock);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new QueueServiceError(0, 'clock_sync_timeout', `fewer than ${n} clock exchanges in ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on('clock', (c) => {
        if (this.clockSync.count >= n) {
          clearTimeout(t);
          off();
          resolve(c);
        }
      });
    });
  }

  // ---- host controls [PA7] ----

  /**
   * A playback command (host only), on the socket when it is open, else over REST. Resolves
   * with when it takes effect. [PA11] A socket command whose socket drops before its answer
   * is sent again, with the same mutationId, on the next socket: the server applies it at
   * most once and answers a repeat with the first answer.
   */
  async command(cmd: PlaybackCommand): Promise<{ sequenceNumber: number; at: number; leadMs: number }> {
    this.assertUsable();
    if (this.socket.isOpen && this.opened) {
      const mutationId = `party-${newId()}`;
      const msg: PlaybackSyncCall = { type: 'playback_sync', mutationId, ...cmd };
      return new Promise((resolve, reject) => {
        // Unanswered for too long (the socket keeps failing, or died without a close): refused
        // here. It may have been applied once, never twice; resending is no longer tried.
        const timer = setTimeout(() => {
          this.pending.delete(mutationId);
          reject(
            new QueueServiceError(
              0,
              'timeout',
              `no answer to the command in ${this.opts.commandTimeoutMs} ms (resent after reconnecting); it may have been applied once, never twice`,
            ),
          );
        }, this.opts.commandTimeoutMs);
        this.pending.set(mutationId, {
          msg,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        this.send(msg);
      });
    }
    const body = await this.api.request<PlaybackSync>('POST', `/parties/${encodeURIComponent(this.id)}/playback`, cmd);
    return { sequenceNumber: body.sequenceNumber, at: body.at, leadMs: body.leadMs };
  }

  play(position?: number): ReturnType<PartySession['command']> {
    return this.command(position === undefined ? { action: 'play' } : { action: 'play', position });
  }

  pause(): ReturnType<PartySession['command']> {
    return this.command({ action: 'pause' });
  }

  seek(position: number): ReturnType<PartySession['command']> {
    return this.command({ action: 'seek', position });
  }

  next(): ReturnType<PartySession['command']> {
    return this.command({ action: 'next' });
  }

  previous(): ReturnType<PartySession['command']> {
    return this.command({ action: 'previous' });
  }

  /** Plays another item of the party queue (from `position`, default its start). */
  setItem(itemId: string, opts: { position?: number; isPlaying?: boolean } = {}): ReturnType<PartySession['command']> {
    return this.command({ itemId, ...opts });
  }

  setRate(rate: number): ReturnType<PartySession['command']> {
    return this.command({ rate });
  }

  // ---- the rest of the party's REST surface ----

  /** [PA5] Adds tracks to the party queue (the host; members when allowed). Idempotent with the key given (one is made otherwise). */
  async addTracks(
    tracks: string[],
    opts: { position?: number; afterItemId?: string; beforeItemId?: string; idempotencyKey?: string } = {},
  ): Promise<Record<string, unknown>> {
    this.assertUsable();
    const { idempotencyKey, ...where } = opts;
    return this.api.request<Record<string, unknown>>(
      'POST',
      `/parties/${encodeURIComponent(this.id)}/tracks`,
      { tracks, ...where },
      { idempotencyKey: idempotencyKey ?? newId() },
    );
  }

  /** [PA5] Host only: let members add tracks, or stop it. */
  async setAllowMemberAdds(allow: boolean): Promise<PartyView> {
    this.assertUsable();
    return this.api.request<PartyView>('PATCH', `/parties/${encodeURIComponent(this.id)}`, { allowMemberAdds: allow });
  }

  /** [PA3] Host only: hand hosting to another member. */
  async handHostTo(userId: string): Promise<PartyView> {
    this.assertUsable();
    return this.api.request<PartyView>('POST', `/parties/${encodeURIComponent(this.id)}/host`, { userId });
  }

  /**
   * The party as the server sees it now: members online, each device's measured link and
   * its latest position error as the server measured it from its reports ([PA9]
   * `positionErrorMs`, `positionErrorAt`; null before its first report). Poll it to plot them.
   */
  async fetchView(): Promise<PartyView> {
    return this.api.request<PartyView>('GET', `/parties/${encodeURIComponent(this.id)}`);
  }

  /** [PA3] Leaves the party (a leaving host hands over; the last one out ends it); the session ends with `ended` {reason: 'left'}. */
  async leave(): Promise<void> {
    this.assertUsable();
    await this.api.request('POST', `/parties/${encodeURIComponent(this.id)}/leave`);
    this.finish('left');
  }

  /** [PA3] Host only: ends the party for everyone; the session ends with `ended` {reason: 'ended_by_host'}. */
  async end(): Promise<PartyView> {
    this.assertUsable();
    const body = await this.api.request<PartyView>('POST', `/parties/${encodeURIComponent(this.id)}/end`);
    this.finish('ended_by_host');
    return body;
  }

  /**
   * [PA9] Tells the server where this device's player is (ms), now; it answers with a
   * `correction` event when that is off the timeline. False when the clock is not synced yet.
   */
  reportPosition(position: number, itemId?: string | null): boolean {
    if (!this.socket.isOpen || !this.clockSync.settled) return false;
    const msg: PositionReport = { type: 'position_report', position, timestamp: this.ctx.now() };
    if (itemId !== undefined) msg.itemId = itemId;
    this.send(msg);
    return true;
  }

  /** Closes the socket and stops; the membership stays (PartySession.resume opens it again). */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTokens();
    this.setStatus('closed');
    this.teardown(Close.normal, 'closed by the app');
    this.firstSync?.reject(new QueueServiceError(0, 'closed', 'the session was closed'));
    this.firstSync = null;
  }

  // ---- the socket ----

  private assertUsable(): void {
    if (this.stopped) throw new QueueServiceError(0, this.state.status === 'ended' ? 'party_ended' : 'session_closed', 'this party session is over');
  }

  private setStatus(s: SessionStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  private send(msg: PartyClientMessage): void {
    this.socket.send(msg);
  }

  /** The socket is gone (closed, refused, dead, or dropped to resume): what was tied to it goes too. */
  private socketGone(): void {
    this.opened = false;
    this.clockSync.socketGone();
    if (!this.stopped) this.setStatus('offline');
  }

  /** The upgrade was refused (or the network failed): the socket API does not say which, so ask over REST. */
  private async refused(): Promise<AfterClose> {
    try {
      const v = await this.fetchView();
      if (v.status === 'ended') {
        this.applySnapshotView(v);
        this.finish('ended');
        return 'stop';
      }
      return 'retry';
    } catch (err) {
      if (err instanceof QueueServiceError && (err.status === 403 || err.status === 404)) {
        this.fail(err);
        return 'stop';
      }
      // 401 after the retry, 5xx, network: try again later.
      return 'retry';
    }
  }

  /** The close-code policy of the party socket (docs/SPEC.md, "Close codes"); a 4401 has marked the token rejected. */
  private onClosed({ code, reason }: SocketClose): AfterClose {
    switch (code) {
      case Close.notFound: // the party ended (party_ended came first, normally)
        this.finish('ended', code);
        return 'stop';
      case Close.forbidden:
      case Close.badRequest:
        this.fail(
          new QueueServiceError(code === Close.forbidden ? 403 : 400, code === Close.forbidden ? 'forbidden' : 'bad_request', reason || `closed with ${code}`),
          code,
        );
        return 'stop';
      case Close.normal:
        // The server closes a member's sockets with 1000 after it left the party (from another device, say).
        if (!this.state.members.some((m) => m.userId === this.userId)) {
          this.finish('left', code);
          return 'stop';
        }
        return 'retry';
      case Close.tooManyMessages:
        this.socket.slowDown(4);
        return 'retry';
      default: // 4401 (a new token), 1001, 4008, 4408, 1006...: resume with since
        return 'retry';
    }
  }

  /** Drops the socket now and reconnects with `since` (as after a network failure). */
  reconnect(): void {
    if (this.stopped) return;
    // Unanswered commands stay pending and are sent again on the next socket.
    this.socket.restart();
  }

  private teardown(code: number, reason: string): void {
    this.socket.stop(code, reason);
    this.timelines.stop();
    this.failPending(new QueueServiceError(0, 'session_closed', 'the party session is over'));
  }

  /**
   * [PA11] After `hello` on a new socket: the commands the last socket left unanswered go
   * again, in the order first sent, with their mutationIds. The server applied each at most
   * once; a repeat of one it applied is answered with its first ack (`replayed`).
   */
  private resendPending(): void {
    for (const p of this.pending.values()) this.send(p.msg);
  }

  private failPending(err: QueueServiceError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** The session is over for good (the party ended, this member left). */
  private finish(reason: string, code?: number): void {
    if (this.endedFired) return;
    this.endedFired = true;
    this.stopped = true;
    this.stopTokens();
    this.teardown(Close.normal, reason);
    this.setStatus('ended');
    this.firstSync?.reject(new QueueServiceError(409, 'party_ended', 'the party has ended'));
    this.firstSync = null;
    this.emit('ended', code === undefined ? { reason } : { reason, code });
  }

  /** Access lost (403/404, a bad request): an error, then the session ends. */
  private fail(err: QueueServiceError, code?: number): void {
    if (this.firstSync) {
      this.firstSync.reject(err);
      this.firstSync = null;
    } else {
      this.emit('error', err);
    }
    this.finish(err.code, code);
  }

  // ---- messages ----

  private onMessage(m: PartyMessage): void {
    if (isPartySequenced(m)) {
      this.onEvent(m);
      return;
    }
    switch (m.type) {
      case 'latency_measurement':
        this.clockSync.pong(m);
        return;
      case 'hello':
        this.onHello(m);
        return;
      case 'snapshot':
        this.onSnapshot(m);
        return;
      case 'queue_updated':
        if (!this.queue || m.queueVersion > this.queue.queueVersion) {
          this.queue = m;
          this.emit('queue', m);
        }
        return;
      case 'sync_degraded':
        this.followDelayMs = m.degraded ? m.followDelayMs : 0;
        this.emit('degraded', m);
        return;
      case 'sync_correction':
        this.timelines.add({ position: m.position, at: m.at, isPlaying: m.isPlaying, rate: m.rate, itemId: m.itemId, sequenceNumber: m.sequenceNumber });
        this.emit('correction', m);
        return;
      case 'ack':
        this.onAck(m);
        return;
      case 'error':
        this.onError(m);
        return;
      case 'auth_ok':
        return;
    }
  }

  private onAck(a: Ack): void {
    const p = this.pending.get(a.mutationId);
    if (!p) return;
    this.pending.delete(a.mutationId);
    const r = a.result ?? {};
    p.resolve({ sequenceNumber: a.sequenceNumbers[0] ?? a.version, at: Number(r.at), leadMs: Number(r.leadMs) });
  }

  private onError(e: ErrorMsg): void {
    const err = new QueueServiceError(e.status, e.error.code, e.error.message, e.error.details);
    const p = e.mutationId ? this.pending.get(e.mutationId) : undefined;
    if (p && e.mutationId) {
      this.pending.delete(e.mutationId);
      p.reject(err);
    } else {
      this.emit('error', err);
    }
  }

  private onHello(h: PartyHello): void {
    this.userId = h.userId;
    this.opened = true;
    this.socket.resetBackoff();
    this.setStatus('online');
    this.clockSync.hello(h.serverTime);
    this.resendPending();
    // The replay (or a snapshot) follows up to the head; with nothing missed neither comes.
    this.helloHead = h.sequenceNumber;
    if (h.sequenceNumber <= this.lastSeq) this.synced();
  }

  private synced(): void {
    if (this.firstSync) {
      this.firstSync.resolve();
      this.firstSync = null;
    }
  }

  private onSnapshot(s: PartySnapshot): void {
    this.applySnapshotView(s.data);
    this.lastSeq = s.sequenceNumber;
    this.emit('snapshot', this.state);
    if (this.state.status === 'ended') {
      this.finish('ended');
      return;
    }
    this.synced();
  }

  private applySnapshotView(v: PartyView): void {
    this.state = stateOfView(v);
    // The snapshot's timeline replaces what came before it; later ones still come as events.
    this.timelines.reset({ ...this.state.playback });
  }

  private onEvent(m: PartySequenced): void {
    const seq = m.sequenceNumber;
    if (!(seq > this.lastSeq)) return; // already applied (a replay overlapping the live stream)
    if (seq > this.lastSeq + 1) {
      // A gap: reopen with `since` so the missed events come first.
      this.reconnect();
      return;
    }
    this.lastSeq = seq;
    this.state = evolve(this.state, eventOfMessage(m));
    this.emit('event', m);
    switch (m.type) {
      case 'playback_sync':
        this.timelines.schedule(m);
        break;
      case 'member_joined':
      case 'member_left':
        this.emit('members', this.state.members, m);
        break;
      case 'host_changed':
        this.emit('host', this.state.hostId, m);
        break;
      case 'settings_changed':
        this.emit('settings', this.state.allowMemberAdds);
        break;
      case 'party_ended':
        this.finish(m.reason);
        return;
      case 'party_created':
        break;
    }
    if (seq >= this.helloHead) this.synced();
  }
}
