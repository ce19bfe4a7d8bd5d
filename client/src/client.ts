// QueueClient: one sync socket per client (/ws/sync/{userId}), queue mirrors subscribed
// over it, the playback mirror on its user stream, the outbox of local edits sent as
// socket commands, and the REST API. Reconnects with jittered exponential back-off and
// resumes every stream with `since` (docs/SPEC.md [RT2]-[RT4]); edits made offline go
// through POST /sync/offline (offline-sync.ts, the outbox flush).
import type { QueueEvent } from '../../src/queues/queue.ts';
import type { ClientMessage } from '../../src/realtime/protocol.ts';
import { Api, type UserSyncEvent } from './api.ts';
import { backoffMs, retryAfterMs, type BusyRetry } from './backoff.ts';
import { makeContext, socketUrl, type ClientContext, type ContextOptions } from './context.ts';
import { Emitter } from './emitter.ts';
import { QueueServiceError } from './errors.ts';
import type { Held } from './fold.ts';
import { isSyncControl, type Ack, type ErrorMsg, type SyncEvent, type SyncMessage } from './messages.ts';
import { QueueMirror, type MirrorHost, type OpenQueueOptions, type MutationResult, type OfflineConflict } from './mirror.ts';
import { OfflineSync } from './offline-sync.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { PartySession, type PartySessionOptions } from './party.ts';
import { PlaybackMirror } from './playback.ts';
import { ResumableSocket, type AfterClose } from './socket.ts';
import { MemoryStorage, type ClientStorage } from './storage.ts';

export type ClientStatus = 'connecting' | 'online' | 'offline';

export interface QueueClientOptions extends ContextOptions {
  /** Where the outbox of local edits is kept: MemoryStorage (default), FileStorage (Node), IndexedDbStorage (browsers). */
  storage?: ClientStorage;
  /** Shown in the device list. */
  deviceName?: string;
  deviceType?: string;
  /** Reconnect back-off: the first delay and the largest (ms); each delay is jittered to 50-100 %. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /**
   * The server's WS_HEARTBEAT_MS (default 30 s). Where the socket exposes pings (the `ws`
   * package's, passed as `WebSocket`), a socket that saw no ping or message for 2.5 intervals
   * is dropped and resumed. The platforms' own WebSocket (browsers, Node 22+) answers pings
   * itself without showing them, and reports a dead socket only when its connection closes.
   */
  heartbeatMs?: number;
  /** Connect on construction (default true). */
  autoConnect?: boolean;
  /** With a `storage`: keep each open queue's state there too, so it opens offline after a restart (default true). */
  keepQueues?: boolean;
}

export interface PresenceNote {
  queueId: string | null;
  userId: string;
  deviceId: string;
  online: boolean;
  timestamp: number;
}

export type ClientEvents = {
  status: [ClientStatus];
  presence: [PresenceNote];
  /** An offline edit was merged, lost to a newer change or dropped (also on its mirror); queueId '' for playback. */
  conflict: [OfflineConflict & { queueId: string }];
  /**
   * A batch of offline edits was decided by the server (POST /sync/offline): `edits` sent,
   * of which `conflicts` were resolved against them (also `conflict` events) and `refused` not applied.
   */
  synced: [{ edits: number; conflicts: number; refused: number }];
  /** Something went wrong that no mirror owns (a refused token, a failed offline sync). */
  error: [QueueServiceError];
  /**
   * The service refused a request or command as overloaded (nothing was applied) and the
   * client retries it after `retryInMs` ([AD9]): show "server busy, retrying" meanwhile.
   */
  busy: [BusyRetry];
};

type Waiter = { resolve: (r: MutationResult) => void; reject: (e: QueueServiceError) => void };

/** The refusal's `details.reason`, when it gives one. */
const reasonOf = (err: QueueServiceError) => (typeof err.details.reason === 'string' ? err.details.reason : undefined);

/** Socket events carry epoch-ms timestamps; the fold wants the stored ISO form. */
function isoTime(t: unknown): string {
  return typeof t === 'number' ? new Date(t).toISOString() : String(t);
}

/** A queue event as the socket (or an ack) sends it, in the stored shape the fold reads (the server's QueueEvent, its type and data as sent). */
function toQueueEvent(m: SyncEvent | Record<string, unknown>): QueueEvent {
  const { stream: _s, ...rest } = m;
  return { ...rest, timestamp: isoTime(m.timestamp) } as QueueEvent;
}

/** A user-stream event as the socket sends it, in the shape of GET /users/me/events. */
function userEvent(m: SyncEvent): UserSyncEvent {
  return { ...m, timestamp: isoTime(m.timestamp) } as UserSyncEvent;
}

export class QueueClient extends Emitter<ClientEvents> {
  readonly api: Api;
  readonly outbox: Outbox;
  private readonly ctx: ClientContext & { ready: Promise<void>; stop(): void };
  private _status: ClientStatus = 'connecting';
  /** The sync socket: token, back-off, dead link; its messages come to onMessage. */
  private readonly socket: ResumableSocket<SyncMessage>;
  private readonly mirrors = new Map<string, QueueMirror>();
  private readonly pb: PlaybackMirror;
  /** Commands sent on the current socket, by mutation id. */
  private readonly inflight = new Map<string, OutboxEntry>();
  private readonly waiters = new Map<number, Waiter>();
  /** Queue subscriptions sent and not answered yet, in order (a refusal names no queue). */
  private pendingSubs: string[] = [];
  /** Mirrors subscribed on the current socket. */
  private subscribedNow = new WeakSet<QueueMirror>();
  /**
   * Mirrors whose first read (the window around the current item) is in flight: a socket that
   * comes online meanwhile does not subscribe them, or its snapshot (the first items, at the same
   * version) would replace the window read; openQueue subscribes them after the read, from its version.
   */
  private readonly opening = new WeakSet<QueueMirror>();
  private me: string | null = null;
  private closedByApp = false;
  private offlineByApp = false;
  /** The outbox flush: offline edits through POST /sync/offline once online. */
  private readonly offline: OfflineSync;
  /** A hello was received on some socket: the client has been online. */
  private helloSeen = false;
  private readonly opts: QueueClientOptions;

  constructor(opts: QueueClientOptions) {
    super();
    this.opts = opts;
    this.ctx = makeContext(opts);
    this.ctx.busy = (retry) => this.emit('busy', retry);
    this.api = new Api(this.ctx, (body) => this.observe(body));
    const storage = opts.storage ?? new MemoryStorage();
    this.outbox = new Outbox(storage, `queue-service:outbox:${opts.deviceId}`);
    this.pb = new PlaybackMirror(this.ctx, this.api);
    this.pb.host = {
      online: () => this._status === 'online',
      queue: (body) => this.queuePlayback(body),
    };
    this.host = {
      api: this.api,
      outbox: this.outbox,
      deviceId: opts.deviceId,
      userId: () => this.userId,
      mutate: (queueId, op, args, baseVersion) => this.mutate(queueId, op, args, baseVersion),
      awaitingAcks: (queueId) => this.offline.syncing || [...this.inflight.values()].some((e) => e.queueId === queueId),
      release: (m) => {
        if (this.mirrors.get(m.id) !== m) return;
        this.mirrors.delete(m.id);
        this.send({ type: 'unsubscribe', queueId: m.id });
      },
      keep: opts.storage && opts.keepQueues !== false ? (queueId, held) => this.keepQueue(queueId, held) : null,
    };
    this.offline = new OfflineSync({
      api: this.api,
      outbox: this.outbox,
      playback: this.pb,
      now: () => this.ctx.now(),
      deviceId: opts.deviceId,
      online: () => this._status === 'online',
      closed: () => this.closedByApp,
      mirror: (queueId) => this.mirrors.get(queueId),
      mirrors: () => this.mirrors.values(),
      takeWaiter: (n) => {
        const w = this.waiters.get(n);
        this.waiters.delete(n);
        return w;
      },
      backoff: (attempt) => backoffMs(attempt, opts.reconnect?.baseMs ?? 250, opts.reconnect?.maxMs ?? 30_000),
      flushed: () => this.sendDeferred(),
      conflict: (c) => this.emit('conflict', c),
      synced: (r) => this.emit('synced', r),
      error: (err) => this.emit('error', err),
    });
    // A token renewed ahead of its expiry goes to the open socket, which then stays open ([AU11]).
    this.ctx.onNewToken((token) => this.send({ type: 'auth', token, mutationId: `auth:${++this.authSeq}` }));
    this.socket = this.openSocket();
    if (opts.autoConnect !== false) void this.connect();
  }

  private authSeq = 0;

  get status(): ClientStatus {
    return this._status;
  }

  /** The user id the service knows the token by (after the first connection, or from the outbox). */
  get userId(): string | null {
    return this.me ?? this.outbox.userId;
  }

  get deviceId(): string {
    return this.ctx.deviceId;
  }

  /** The shared context (fetch, WebSocket, token, device) for other parts, e.g. party sessions. */
  async context(): Promise<ClientContext> {
    await this.ctx.ready;
    return this.ctx;
  }

  /**
   * A live mirror of one queue; resolves once it holds the queue's state. With a `storage`,
   * the state kept from the last run is used at once (also offline; `q.fromStorage`) and
   * brought up to date from its version when online; without one it waits for the server.
   * `{window: 'current'}` holds a window centred on the current item that follows it (read
   * with `GET /queues/{id}?around=current` before subscribing from its version); the default
   * holds the first items. A queue has one mirror per client: a later open with
   * `{window: 'current'}` makes the open mirror follow the current item.
   */
  async openQueue(queueId: string, options: OpenQueueOptions = {}): Promise<QueueMirror> {
    await this.outbox.loaded;
    let m = this.mirrors.get(queueId);
    if (!m) {
      m = new QueueMirror(queueId, this.host, options);
      this.mirrors.set(queueId, m);
      const kept = this.host.keep ? await this.keptQueue(queueId) : null;
      if (kept) m.restore(kept);
      else {
        const first = m.firstRead();
        // Read before subscribing, so the socket resumes from its version instead of sending
        // the first items. Offline or refused: the subscription's snapshot (and its refusal) instead.
        let answer: Awaited<ReturnType<Api['getQueue']>> | null = null;
        if (first && !this.offlineByApp && !this.closedByApp) {
          this.opening.add(m);
          try {
            answer = await this.api.getQueue(queueId, { ...first, keys: true }).catch(() => null);
          } finally {
            this.opening.delete(m);
          }
        }
        if (answer) m.snapshot(answer, answer.itemKeys ?? {}, answer.version);
      }
      if (this._status === 'online' && !this.pendingSubs.includes(queueId) && !this.subscribedNow.has(m)) this.subscribe(m);
    } else if (options.window === 'current') m.followCurrent(options.limit);
    await m.ready();
    if (options.window === 'current') await m.settled(); // a first read that missed: the one around the current item
    return m;
  }

  private readonly keeping = new Map<string, ReturnType<typeof setTimeout>>();

  /** Stores a mirror's state, at most every 250 ms per queue. */
  private keepQueue(queueId: string, _held: Held): void {
    if (this.keeping.has(queueId)) return;
    this.keeping.set(
      queueId,
      setTimeout(() => {
        this.keeping.delete(queueId);
        void this.storeQueue(queueId);
      }, 250),
    );
  }

  private storeQueue(queueId: string): Promise<void> {
    const h = this.mirrors.get(queueId)?.heldState();
    if (!h || !this.host.keep) return Promise.resolve();
    return this.opts.storage!.set(this.queueKey(queueId), JSON.stringify(h)).catch(() => undefined);
  }

  /** Writes the outbox and the open queues' states to storage now (e.g. before the app is suspended). */
  async persist(): Promise<void> {
    for (const t of this.keeping.values()) clearTimeout(t);
    this.keeping.clear();
    await Promise.all([this.outbox.save(), ...[...this.mirrors.keys()].map((id) => this.storeQueue(id))]);
  }

  private async keptQueue(queueId: string): Promise<Held | null> {
    try {
      const raw = await this.opts.storage!.get(this.queueKey(queueId));
      return raw ? (JSON.parse(raw) as Held) : null;
    } catch {
      return null;
    }
  }

  private queueKey(queueId: string): string {
    return `queue-service:queue:${this.ctx.deviceId}:${queueId}`;
  }

  /** This user's playback state across devices (the user stream of the sync socket). */
  playback(): PlaybackMirror {
    return this.pb;
  }

  /** [PA1] Joins a listening party with its invite code: a live session on the party socket (clock sync, scheduled playback). */
  async joinParty(partyId: string, inviteCode: string, opts: PartySessionOptions = {}): Promise<PartySession> {
    return this.track(await PartySession.join(await this.context(), partyId, inviteCode, opts));
  }

  /** [PA1] Starts a listening party on one of this user's queues and hosts it; `party.inviteCode` is for friends. */
  async createParty(queueId: string, opts: PartySessionOptions & { allowMemberAdds?: boolean } = {}): Promise<PartySession> {
    return this.track(await PartySession.create(await this.context(), queueId, opts));
  }

  /** Party sessions open on this client: closed with it. */
  private readonly parties = new Set<PartySession>();

  private track(p: PartySession): PartySession {
    this.parties.add(p);
    p.on('ended', () => this.parties.delete(p));
    p.on('status', (st) => {
      if (st === 'closed') this.parties.delete(p);
    });
    return p;
  }

  /** Local edits not yet decided by the server, all queues, oldest first (kept in storage). */
  async pendingMutations(): Promise<readonly OutboxEntry[]> {
    await this.outbox.loaded;
    return this.outbox.entries;
  }

  /** Stop using the network (edits queue in storage) until goOnline(). */
  goOffline(): void {
    this.offlineByApp = true;
    this.socket.stop(1000, 'offline');
  }

  goOnline(): void {
    if (!this.offlineByApp) return;
    this.offlineByApp = false;
    this.socket.resetBackoff();
    void this.connect();
  }

  /** Closes the socket and every mirror; waits until the outbox is stored. */
  async close(): Promise<void> {
    this.closedByApp = true; // no reconnect from now on (the socket itself is closed below, after the state is stored)
    this.ctx.stop();
    await this.persist().catch(() => undefined);
    for (const m of [...this.mirrors.values()]) m.close();
    this.socket.stop(1000, 'client closed');
    this.pb.stop();
    for (const p of this.parties) p.close();
    this.parties.clear();
    await this.outbox.save().catch(() => undefined);
  }

  // ---- the host of the mirrors ----

  private readonly host: MirrorHost;

  private mutate(queueId: string, op: string, args: Record<string, unknown>, baseVersion: number): Promise<MutationResult> {
    const kind = this._status === 'online' && !this.offline.syncing && !this.outbox.entries.some((e) => e.kind === 'offline') ? 'command' : 'offline';
    // The entry is in the outbox (and so in the mirror's state) before this returns; it is
    // sent once it is in storage.
    const added = this.outbox.add({ queueId, op, args, kind, baseVersion, at: this.ctx.now() });
    const entry = this.outbox.entries[this.outbox.entries.length - 1]!;
    const result = new Promise<MutationResult>((resolve, reject) => this.waiters.set(entry.n, { resolve, reject }));
    void added.then(
      () => {
        if (entry.kind === 'command') this.sendCommand(entry);
        else if (this._status === 'online') void this.offline.flush();
      },
      (err) => this.fail(entry, new QueueServiceError(0, 'storage_failed', `the edit could not be stored: ${err}`)),
    );
    return result;
  }

  /** Queue events in a REST answer (a write through `client.api`) go to the open mirror of their queue. */
  private observe(body: unknown): void {
    const events = (body as { events?: unknown } | null)?.events;
    if (!Array.isArray(events) || events.length === 0) return;
    const first = events[0] as { queueId?: unknown; sequenceNumber?: unknown };
    if (typeof first?.queueId !== 'string' || typeof first.sequenceNumber !== 'number') return;
    this.mirrors.get(first.queueId)?.ingest(events as QueueEvent[]);
  }

  /** A playback report made offline: into the outbox, sent with the next offline sync ([OF10]). */
  private async queuePlayback(body: Record<string, unknown>): Promise<void> {
    await this.outbox.loaded;
    const added = this.outbox.add({ queueId: '', resource: 'playback', op: 'set_playback', args: body, kind: 'offline', baseVersion: 0, at: this.ctx.now() });
    const entry = this.outbox.entries[this.outbox.entries.length - 1]!;
    const result = new Promise<MutationResult>((resolve, reject) => this.waiters.set(entry.n, { resolve, reject }));
    await added;
    if (this._status === 'online') void this.offline.flush();
    await result;
  }

  // ---- the socket ----

  /** Connects the sync socket (done on construction unless `autoConnect: false`); it then stays connected until close() or goOffline(). */
  async connect(): Promise<void> {
    this.closedByApp = false;
    if (this.offlineByApp) return;
    await this.socket.start();
  }

  private openSocket(): ResumableSocket<SyncMessage> {
    return new ResumableSocket<SyncMessage>({
      ctx: this.ctx,
      backoff: { baseMs: this.opts.reconnect?.baseMs ?? 250, maxMs: this.opts.reconnect?.maxMs ?? 30_000 },
      deadLink: { heartbeatMs: this.opts.heartbeatMs ?? 30_000 },
      ready: async () => {
        if (this.closedByApp || this.offlineByApp) return false;
        try {
          await this.ctx.ready;
          await this.outbox.loaded;
        } catch (err) {
          this.emit('error', new QueueServiceError(0, 'no_websocket', String(err)));
          return false;
        }
        return !this.closedByApp && !this.offlineByApp;
      },
      tokenFailed: (err) => {
        this.emit('error', new QueueServiceError(401, 'no_token', String(err)));
        return 'retry';
      },
      url: (token) => {
        this.openedAt = this.ctx.now();
        return socketUrl(this.ctx, '/ws/sync/me', {
          token,
          deviceId: this.ctx.deviceId,
          deviceName: this.opts.deviceName,
          deviceType: this.opts.deviceType,
          since: this.pb.sequence > 0 || this.helloSeen ? this.pb.sequence : undefined,
        });
      },
      message: (m) => this.onMessage(m),
      down: () => this.dropSocket(),
      closed: (close) => this.onClosed(close.opened),
    });
  }

  /** When the current socket was opened (for the clock's first guess from `hello`). */
  private openedAt = 0;

  private dropSocket(): void {
    this.inflight.clear();
    this.pendingSubs = [];
    this.subscribedNow = new WeakSet();
    // 'connecting' until the first connection is up; from then on 'offline' until it is back.
    const neverConnected = this._status === 'connecting' && !this.helloSeen;
    this.setStatus(neverConnected && !this.closedByApp && !this.offlineByApp ? 'connecting' : 'offline');
  }

  /** The close-code policy of the sync socket: every close is resumed, but a token that lacks the scope. */
  private async onClosed(opened: boolean): Promise<AfterClose> {
    if (this.closedByApp || this.offlineByApp) return 'stop';
    if (!opened) {
      // The upgrade was refused or the service is unreachable. Browsers do not say which:
      // ask over HTTP, which refreshes a refused token (401) through getToken.
      try {
        await this.api.request('GET', '/users/me/devices');
      } catch (err) {
        if (err instanceof QueueServiceError && err.status === 401) this.emit('error', err);
        // A token whose scopes do not cover the sync socket (it needs queue:read): trying
        // again would not help. Said once; a later connect() (with a new token) tries again.
        if (err instanceof QueueServiceError && err.code === 'insufficient_scope') {
          this.emit('error', err);
          return 'stop';
        }
      }
    }
    return this.closedByApp || this.offlineByApp ? 'stop' : 'retry';
  }

  private setStatus(s: ClientStatus): void {
    if (s === this._status) return;
    this._status = s;
    this.emit('status', s);
  }

  private send(msg: ClientMessage): boolean {
    return this._status === 'online' && this.socket.send(msg);
  }

  private subscribe(m: QueueMirror): void {
    const since = m.version > 0 ? m.version : undefined;
    if (this.send({ type: 'subscribe', queueId: m.id, ...(since !== undefined ? { since } : {}) })) {
      this.pendingSubs.push(m.id);
      this.subscribedNow.add(m);
    }
  }

  private onMessage(msg: SyncMessage): void {
    if (!isSyncControl(msg)) {
      // An event (a message of a newer protocol without a sequence number is not one).
      if (typeof msg.sequenceNumber !== 'number') return;
      if (msg.stream === 'user') this.pb.ingest([userEvent(msg)]);
      else if (msg.stream === 'queue' && msg.queueId !== null) this.mirrors.get(msg.queueId)?.ingest([toQueueEvent(msg)]);
      return;
    }
    switch (msg.type) {
      case 'hello': {
        this.me = msg.userId;
        this.outbox.userId = msg.userId;
        this.helloSeen = true;
        this.socket.resetBackoff();
        this.pb.clock(msg.serverTime, this.openedAt, this.ctx.now());
        this.setStatus('online');
        for (const m of this.mirrors.values()) if (!this.opening.has(m)) this.subscribe(m);
        void this.offline.flush();
        return;
      }
      case 'snapshot':
        if (msg.stream === 'user') this.pb.snapshot(msg.sequenceNumber, msg.data);
        else this.mirrors.get(msg.queueId)?.snapshot(msg.data, msg.data.itemKeys ?? {}, msg.sequenceNumber, msg.reason === 'ahead_of_server');
        return;
      case 'subscribed': {
        const i = this.pendingSubs.indexOf(msg.queueId);
        if (i >= 0) this.pendingSubs.splice(i, 1);
        this.mirrors.get(msg.queueId)?.live();
        return;
      }
      case 'ack':
        this.onAck(msg);
        return;
      case 'error':
        this.onError(msg);
        return;
      case 'presence':
        if (msg.queueId === null) this.pb.presence(msg.deviceId, msg.online);
        this.emit('presence', msg);
        return;
      case 'auth_ok':
        return;
    }
  }

  private onAck(msg: Ack): void {
    const entry = this.inflight.get(msg.mutationId);
    if (!entry) return;
    this.inflight.delete(msg.mutationId);
    const events = (msg.events ?? []).map(toQueueEvent);
    if (entry.op === 'add_tracks')
      this.outbox.resolved(
        entry.n,
        events.filter((e) => e.type === 'item_added').map((e) => (e.data as { itemId: string }).itemId),
      );
    void this.outbox.remove([entry.n]); // out of the pending edits now (stored asynchronously)
    const m = this.mirrors.get(entry.queueId);
    m?.ingest(events);
    m?.changed([]);
    this.waiters.get(entry.n)?.resolve({ events, version: msg.version });
    this.waiters.delete(entry.n);
    this.sendDeferred();
    this.offline.afterCommand();
  }

  private onError(msg: ErrorMsg): void {
    const e = msg.error ?? {};
    // `status`: what the same refusal gets over HTTP (404, 409, 429, ...).
    const err = new QueueServiceError(typeof msg.status === 'number' ? msg.status : 0, e.code ?? 'error', e.message ?? 'refused', e.details ?? {});
    if (typeof msg.mutationId === 'string' && msg.mutationId.startsWith('auth:')) {
      // A renewed token the service refused: the socket keeps the old one until it expires
      // (then 4401, and the reconnect asks getToken again).
      this.emit('error', err);
      return;
    }
    if (msg.mutationId) {
      const entry = this.inflight.get(msg.mutationId);
      if (!entry) return;
      this.inflight.delete(msg.mutationId);
      if (err.retryable) {
        // Refused before it was applied ([AD8]): sent again, same mutation id, after the service's hint.
        const after = retryAfterMs(err.details.retryAfterSeconds);
        if (err.status === 503) this.emit('busy', { source: 'socket', code: err.code, reason: reasonOf(err), retryInMs: after, attempt: 1 });
        setTimeout(() => this.sendCommand(entry), after);
        return;
      }
      this.fail(entry, err);
      return;
    }
    if (err.code === 'access_revoked') {
      this.mirrors.get(String(err.details.queueId))?.end(new QueueServiceError(403, 'access_revoked', err.message, err.details));
      return;
    }
    if (err.retryable) {
      // A subscription refused for load: ask again (a mirror drops what it has twice).
      const again = this.pendingSubs.splice(0);
      const after = retryAfterMs(err.details.retryAfterSeconds);
      if (err.status === 503) this.emit('busy', { source: 'socket', code: err.code, reason: reasonOf(err), retryInMs: after, attempt: 1 });
      setTimeout(() => {
        for (const id of again) {
          const m = this.mirrors.get(id);
          if (m) this.subscribe(m);
        }
      }, after);
      return;
    }
    // Messages are answered in order: a refusal without a mutation id answers the oldest subscribe.
    const queueId = this.pendingSubs.shift();
    if (queueId) {
      const status = err.code === 'queue_not_found' ? 404 : err.code === 'forbidden' ? 403 : 400;
      this.mirrors.get(queueId)?.end(new QueueServiceError(status, err.code, err.message, err.details));
    }
  }

  /** An edit the server refused: out of the outbox, rolled back in its mirror, its promise rejected. */
  private fail(entry: OutboxEntry, err: QueueServiceError): void {
    void this.outbox.remove([entry.n]);
    this.mirrors.get(entry.queueId)?.refused(err);
    this.waiters.get(entry.n)?.reject(err);
    this.waiters.delete(entry.n);
    this.sendDeferred();
    this.offline.afterCommand();
  }

  private sendCommand(entry: OutboxEntry): void {
    if (!this.outbox.entries.includes(entry)) return;
    const mutationId = `${this.outbox.clientId}:${entry.n}`;
    if (this.inflight.has(mutationId)) return;
    const args = this.outbox.resolve(entry.args);
    const refs = Outbox.unresolved(args);
    if (refs.length > 0) {
      // It names an item an earlier edit adds: send it once that one is acknowledged.
      if (refs.some((n) => this.outbox.entries.some((e) => e.n === n))) return;
      this.fail(entry, new QueueServiceError(0, 'unresolved_reference', 'the edit names an item whose addition was refused', { args }));
      return;
    }
    if (this._status !== 'online' || this.offline.syncing) return; // sent by the flush once online
    this.inflight.set(mutationId, entry);
    if (!this.send({ type: 'command', mutationId, op: entry.op, queueId: entry.queueId, args })) this.inflight.delete(mutationId);
  }

  private sendDeferred(): void {
    for (const e of this.outbox.entries) if (e.kind === 'command') this.sendCommand(e);
  }
}
