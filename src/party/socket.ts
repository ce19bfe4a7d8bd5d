// WS /ws/party/{partyId}: the party's sequenced events (resumable with ?since, as the
// queue sockets), the party queue as queue_updated, NTP-style clock exchanges answered at
// once, position reports answered with corrections, and the host's playback commands.
// Membership is checked at the upgrade. Each socket's measured link is written to the
// store so whichever instance schedules a command knows every member's delay.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket'; // the `websocket: true` route option
import { Type } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import type { Authenticator } from '../auth/authenticator.ts';
import { renewSocketToken, requireSocketScope } from '../auth/socket-auth.ts';
import { AppError, notFound } from '../errors.ts';
import { guardJson } from '../http/json-guard.ts';
import { errors } from '../http/schemas.ts';
import type { Metrics } from '../metrics.ts';
import { toView } from '../queues/queue.ts';
import { MAX_SEQUENCE } from '../queues/schemas.ts';
import type { QueueService } from '../queues/service.ts';
import type { Bus, BusMessage } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';
import { requireUpgrade } from '../http/upgrade.ts';
import type { SocketOptions, SocketServer } from '../realtime/socket-server.ts';
import { CloseCode, errorMessage, PROTOCOL_VERSION } from '../realtime/protocol.ts';
import { Subscription, type Sink, type StreamSource } from '../realtime/subscription.ts';
import { strictAjv } from '../validation.ts';
import { ClockEstimator, decideCorrection, followPolicy, positionAt, timelineAt, type FollowState } from './clock.ts';
import { isMember, type PartyEvent, type PartyPlayback } from './party.ts';
import { PartyClientMessage, PartyIdParams } from './protocol.ts';
import type { PartyOptions, PartyService } from './service.ts';
import type { LinkRecord } from './store.ts';

export interface PartySocketDeps {
  /** Checks the tokens of `auth` messages ([AU11]). */
  auth: Pick<Authenticator, 'authenticate'>;
  service: PartyService;
  /** The party queue's state and events. */
  queues: QueueService;
  /** The connection lifecycle shared with the queue and sync sockets. */
  server: SocketServer;
  bus: Bus;
  metrics: Metrics;
  options: SocketOptions;
  now: () => number;
}

const validateClient = strictAjv.compile(PartyClientMessage);

const ConnectQuery = Type.Object({
  token: Type.Optional(Type.String()),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'Last party sequence number seen: replay what came after it' })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

/** A party event as sent on the socket (and by the REST twin): the seed's flat messages plus the envelope. */
export function partyMessage(partyId: string, e: PartyEvent): Record<string, unknown> {
  const data = e.data;
  return {
    ...data,
    type: e.type,
    partyId,
    sequenceNumber: e.sequenceNumber,
    stream: 'party',
    timestamp: Date.parse(e.timestamp),
    userId: 'userId' in data ? data.userId : e.userId,
    deviceId: e.deviceId,
  };
}

/** Pongs a member may report back: those sent on its socket in the last minute (at most this many). */
const PONGS_KEPT = 1024;
const PONG_TTL_MS = 60_000;
/** Samples before a member's link may be judged too slow. */
const MIN_SAMPLES_FOR_POLICY = 5;
/** Link rows are rewritten at most this often unless something important changed. */
const LINK_WRITE_INTERVAL_MS = 1000;
/** A new position error is written with the link row at most this often ([PA9]: reports come about once a second). */
const ERROR_WRITE_INTERVAL_MS = 500;

interface Ctx {
  options: PartyOptions;
  now: () => number;
  service: PartyService;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** The member's own member_left arrived: close its socket unless it has rejoined since. */
  checkMembership(pc: PartyConn): void;
}

/** One party socket: the bounded sender plus this member's clock, link and timelines. */
class PartyConn implements Sink<'party'> {
  readonly estimator: ClockEstimator;
  /** Pongs sent and not yet reported back: `${ping}/${pong}` -> pong. */
  private readonly pongs = new Map<string, number>();
  follow: FollowState = { degraded: false, followDelayMs: 0 };
  /** The timelines this member was sent, in sequence order (the last few). */
  private timelines: PartyPlayback[] = [];
  /** The link row as last written. */
  link: LinkRecord | null = null;
  private lastLinkWrite = 0;
  private writing = false;
  private writeAgain = false;
  private correctionUntil = 0;
  /** [PA9] The latest position error measured from this member's reports, with its server time. */
  private positionError: { ms: number; at: number } | null = null;

  readonly c: Connection;
  readonly partyId: string;
  private readonly ctx: Ctx;
  constructor(c: Connection, partyId: string, ctx: Ctx) {
    this.c = c;
    this.partyId = partyId;
    this.ctx = ctx;
    this.estimator = new ClockEstimator(ctx.options.estimator);
  }

  setTimeline(tl: PartyPlayback): void {
    if (this.timelines.some((t) => t.sequenceNumber === tl.sequenceNumber)) return;
    this.timelines.push(tl);
    this.timelines.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    if (this.timelines.length > 4) this.timelines.splice(0, this.timelines.length - 4);
  }

  // ---- Sink: the party stream ----

  event(_stream: 'party', id: string, e: PartyEvent): boolean {
    const msg = partyMessage(id, e);
    if (e.type === 'playback_sync') {
      const d = e.data;
      this.setTimeline({
        position: d.position,
        at: d.at,
        isPlaying: d.isPlaying,
        rate: d.rate,
        itemId: d.itemId,
        trackId: d.trackId,
        sequenceNumber: e.sequenceNumber,
      });
    }
    const ok = this.c.send(msg);
    if (e.type === 'party_ended') this.c.close(CloseCode.notFound, 'the party ended');
    else if (e.type === 'member_left' && msg.userId === this.c.userId) this.ctx.checkMembership(this);
    return ok;
  }

  snapshot(_stream: 'party', id: string, s: { sequenceNumber: number; data: object }, reason: string): boolean {
    const pb = (s.data as { playback?: PartyPlayback }).playback;
    if (pb)
      this.setTimeline({
        position: pb.position,
        at: pb.at,
        isPlaying: pb.isPlaying,
        rate: pb.rate,
        itemId: pb.itemId,
        trackId: pb.trackId,
        sequenceNumber: pb.sequenceNumber,
      });
    return this.c.send({ type: 'snapshot', stream: 'party', partyId: id, sequenceNumber: s.sequenceNumber, data: s.data, reason });
  }

  note(msg: BusMessage<'party'>): void {
    if (msg.note) this.c.send(msg.note);
  }

  failed(err: unknown): void {
    this.c.failed(err);
  }

  catchup(reason: 'gap' | 'reconnect'): void {
    this.ctx.metrics.catchups.inc({ reason });
  }

  // ---- clock exchanges [PA6] ----

  /** Answers at once; the previous exchange, when reported, becomes a sample of this member's clock. */
  onPing(ping: number, prev: { ping: number; pong: number; received: number } | undefined): void {
    const pong = this.ctx.now();
    this.c.send({ type: 'latency_measurement', ping, pong });
    this.pongs.set(`${ping}/${pong}`, pong);
    // Insertion order is age order: drop the oldest past the bound or the age limit.
    for (const [k, t] of this.pongs) {
      if (this.pongs.size <= PONGS_KEPT && t >= pong - PONG_TTL_MS) break;
      this.pongs.delete(k);
    }
    if (!prev) return;
    const key = `${prev.ping}/${prev.pong}`;
    // Only exchanges this socket really answered count, each once.
    if (!this.pongs.has(key) || !(prev.received >= prev.ping) || prev.received - prev.ping > PONG_TTL_MS) return;
    this.pongs.delete(key);
    this.estimator.add({ t0: prev.ping, t1: prev.pong, t3: prev.received });
    this.onSample();
  }

  private onSample(): void {
    const st = this.estimator.stats();
    if (!st) return;
    let important = this.link === null;
    if (this.estimator.count >= MIN_SAMPLES_FOR_POLICY) {
      const f = followPolicy(st.downP90Ms, this.follow, this.ctx.options.schedule);
      if (f.degraded !== this.follow.degraded || f.followDelayMs !== this.follow.followDelayMs) {
        this.follow = f;
        important = true;
        // [PA8] Told at once; it follows the timeline this much late from now on.
        this.c.send({
          type: 'sync_degraded',
          partyId: this.partyId,
          degraded: f.degraded,
          followDelayMs: f.followDelayMs,
          oneWayMs: round(st.downP90Ms),
          maxLeadMs: this.ctx.options.schedule.maxLeadMs,
        });
      }
    }
    const l = this.link;
    const now = this.ctx.now();
    const moved =
      l !== null && (Math.abs(l.oneWayMs - st.downP90Ms) > 5 || Math.abs(l.offsetMs - st.offsetMs) > 1 || Math.abs(l.rttMs - st.rttMs) > 5 || l.samples < 8);
    if (important || (moved && now - this.lastLinkWrite >= LINK_WRITE_INTERVAL_MS)) this.writeLink();
  }

  /** Writes this socket's link row (or refreshes it); one write at a time, the latest wins. */
  writeLink(): void {
    const st = this.estimator.stats();
    if (!st || !this.c.isOpen) return;
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    const now = this.ctx.now();
    this.lastLinkWrite = now;
    const rec: LinkRecord = {
      connectionId: this.c.id,
      partyId: this.partyId,
      userId: this.c.userId,
      deviceId: this.c.deviceId,
      offsetMs: round(st.offsetMs),
      rttMs: round(st.rttMs),
      oneWayMs: round(st.downP90Ms),
      degraded: this.follow.degraded,
      followDelayMs: this.follow.followDelayMs,
      samples: st.samples,
      updatedAt: now,
      positionErrorMs: this.positionError?.ms ?? null,
      positionErrorAt: this.positionError?.at ?? null,
    };
    this.link = rec;
    this.writing = true;
    this.ctx.service
      .putLink(rec)
      .then(async () => {
        // Closed while writing: the delete may have run first.
        if (!this.c.isOpen) await this.ctx.service.deleteLink(this.c.id);
      })
      .catch((err) => this.ctx.log.warn({ err, connection: this.c.id }, 'party link write failed'))
      .finally(() => {
        this.writing = false;
        if (this.writeAgain) {
          this.writeAgain = false;
          this.writeLink();
        }
      });
  }

  // ---- position reports [PA9] ----

  onPosition(position: number, timestamp: number, itemId: string | null | undefined): void {
    const st = this.estimator.stats();
    if (!st) {
      this.c.send(errorMessage(null, new AppError('conflict', 'clock_not_synced', 'send latency_measurement exchanges (with prev) before position reports')));
      return;
    }
    const now = this.ctx.now();
    const t = timestamp + st.offsetMs - this.follow.followDelayMs;
    const tl = timelineAt(this.timelines, t);
    if (!tl) return;
    const errorMs = position - positionAt(tl, t);
    // [PA9]/[PA10] Kept with the link row, so every member (GET /parties/{id}) sees each member's
    // error (not when the member is on another item: a position there is no error in ms).
    if (itemId === undefined || itemId === tl.itemId) {
      const first = this.positionError === null;
      this.positionError = { ms: round(errorMs), at: now };
      if (first || now - this.lastLinkWrite >= ERROR_WRITE_INTERVAL_MS) this.writeLink();
    }
    if (now < this.correctionUntil) return; // a correction is still being applied
    let corr = decideCorrection(errorMs, st.uncertaintyMs, this.ctx.options.correction);
    if (itemId !== undefined && itemId !== tl.itemId) corr = { action: 'seek' };
    if (corr.action === 'none') return;
    this.correctionUntil = now + (corr.action === 'rate' ? corr.durationMs : 1000);
    this.c.send({
      type: 'sync_correction',
      partyId: this.partyId,
      action: corr.action,
      errorMs: round(errorMs),
      ...(corr.action === 'rate' ? { adjustRate: corr.adjustRate, durationMs: corr.durationMs } : {}),
      position: tl.position,
      isPlaying: tl.isPlaying,
      at: tl.at,
      rate: tl.rate,
      itemId: tl.itemId,
      trackId: tl.trackId,
      sequenceNumber: tl.sequenceNumber,
      followDelayMs: this.follow.followDelayMs,
      serverTime: now,
    });
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** This instance's sockets of one party, and the party queue's events they share. */
class PartyHub {
  readonly conns = new Set<PartyConn>();
  private sub: Subscription<'queue'> | null = null;
  private timer: NodeJS.Timeout | null = null;
  closed = false;

  readonly partyId: string;
  readonly queueId: string;
  private readonly deps: { bus: Bus; queues: QueueService; metrics: Metrics; log: FastifyBaseLogger; now: () => number };
  constructor(partyId: string, queueId: string, deps: { bus: Bus; queues: QueueService; metrics: Metrics; log: FastifyBaseLogger; now: () => number }) {
    this.partyId = partyId;
    this.queueId = queueId;
    this.deps = deps;
  }

  private async message(): Promise<Record<string, unknown>> {
    const q = await this.deps.queues.peek(this.queueId);
    // [QW7] A window of 200 items around the current one, not a whole long queue.
    const view = q && !q.deleted ? toView(q, { around: 'current' }) : null;
    return {
      type: 'queue_updated',
      partyId: this.partyId,
      queueId: this.queueId,
      queueVersion: q?.version ?? 0,
      currentItemId: view?.currentItemId ?? null,
      itemCount: view?.itemCount ?? 0,
      window: view?.window ?? null,
      tracks: (view?.items ?? []).map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy })),
      timestamp: this.deps.now(),
    };
  }

  /** Starts following the queue's events (once) and sends the queue to the new socket. */
  async add(pc: PartyConn): Promise<void> {
    this.conns.add(pc);
    if (!this.sub) {
      const { queues } = this.deps;
      const source: StreamSource<'queue'> = {
        kind: 'queue',
        read: (id, after, limit) => queues.readStream(id, after, limit),
        snapshot: async (id) => ({ sequenceNumber: (await queues.peek(id))?.version ?? 0, data: {} }),
      };
      const version = (await queues.peek(this.queueId))?.version ?? 0;
      const sink: Sink<'queue'> = {
        event: () => {
          this.schedule();
          return !this.closed;
        },
        snapshot: () => !this.closed,
        note: () => undefined,
        failed: (err) => this.deps.log.warn({ err, partyId: this.partyId }, 'party queue catch-up failed'),
        catchup: (reason) => this.deps.metrics.catchups.inc({ reason }),
      };
      if (!this.sub && !this.closed) {
        this.sub = new Subscription(this.deps.bus, source, this.queueId, version, sink, null);
        await this.sub.start(Number.MAX_SAFE_INTEGER, false);
      }
    }
    pc.c.send(await this.message());
  }

  remove(pc: PartyConn): boolean {
    this.conns.delete(pc);
    if (this.conns.size > 0) return false;
    this.close();
    return true;
  }

  resync(): void {
    this.sub?.resync();
  }

  close(): void {
    this.closed = true;
    this.sub?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Changes often come in bursts (an add of many tracks): one message per burst. */
  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.message()
        .then((m) => {
          for (const pc of this.conns) pc.c.send(m);
        })
        .catch((err) => this.deps.log.warn({ err, partyId: this.partyId }, 'queue_updated failed'));
    }, 15);
  }
}

export function partySocketRoutes(deps: PartySocketDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const { auth, service, queues, server, bus, metrics, options, now } = deps;
    const partyOptions = service.options;
    const conns = new Set<PartyConn>();
    const hubs = new Map<string, PartyHub>();

    const partySource: StreamSource<'party'> = {
      kind: 'party',
      read: (id, after, limit) => service.readEvents(id, after, limit),
      snapshot: (id) => service.snapshot(id),
    };

    const ctx: Ctx = {
      options: partyOptions,
      now,
      service,
      metrics,
      log: app.log,
      checkMembership(pc) {
        service
          .load(pc.partyId)
          .then((s) => {
            if (!s || !isMember(s, pc.c.userId)) pc.c.close(CloseCode.normal, 'you left the party');
          })
          .catch((err) => app.log.warn({ err }, 'party membership check failed'));
      },
    };

    // Link rows of live sockets are refreshed; rows of a crashed instance age out.
    const refresh = setInterval(() => {
      for (const pc of conns) if (pc.link) pc.writeLink();
      service.pruneLinks().catch((err) => app.log.warn({ err }, 'party link prune failed'));
    }, partyOptions.linkRefreshMs);
    refresh.unref();
    // The sockets' own subscriptions are re-synced by the socket server; the hubs follow queues.
    bus.onReconnect(() => {
      for (const h of hubs.values()) h.resync();
    });
    app.addHook('onClose', async () => {
      clearInterval(refresh);
      for (const h of hubs.values()) h.close();
      await Promise.allSettled([...conns].map((pc) => service.deleteLink(pc.c.id)));
    });

    function hubFor(partyId: string, queueId: string): PartyHub {
      let h = hubs.get(partyId);
      if (!h || h.closed) {
        h = new PartyHub(partyId, queueId, { bus, queues, metrics, log: app.log, now });
        hubs.set(partyId, h);
      }
      return h;
    }

    /** One client message. Clock exchanges and position reports are answered synchronously. */
    function onMessage(pc: PartyConn, raw: Buffer, chain: (fn: () => Promise<void>) => void): void {
      if (!pc.c.admit()) return;
      let msg: PartyClientMessage;
      try {
        const parsed = JSON.parse(raw.toString('utf8'));
        guardJson(parsed);
        if (!validateClient(parsed)) throw new AppError('invalid', 'invalid_message', 'not a valid party message', { issues: validateClient.errors ?? [] });
        msg = parsed as PartyClientMessage;
      } catch (err) {
        pc.c.send(errorMessage(null, err instanceof AppError ? err : new AppError('invalid', 'invalid_json', 'the message is not valid JSON')));
        return;
      }
      if (msg.type === 'latency_measurement') {
        pc.onPing(msg.ping, msg.prev);
        return;
      }
      if (msg.type === 'position_report') {
        pc.onPosition(msg.position, msg.timestamp, msg.itemId);
        return;
      }
      if (msg.type === 'auth') {
        const m = msg;
        chain(async () => {
          try {
            pc.c.send(await renewSocketToken(pc.c, auth, m, 'party:join'));
          } catch (err) {
            pc.c.send(errorMessage(m.mutationId ?? null, err));
          }
        });
        return;
      }
      const { type: _t, mutationId, ...req } = msg;
      chain(async () => {
        try {
          // [AU7] Playback commands are the host's: a scoped token needs party:host.
          requireSocketScope(pc.c, 'party:host');
          // [PA11] A repeated mutationId answers the first command's event again, replayed.
          const { event: e, replayed } = await service.playback({ userId: pc.c.userId, deviceId: pc.c.deviceId }, pc.partyId, req, mutationId);
          if (mutationId) {
            const d = e.data as { at: number; leadMs: number };
            pc.c.send({
              type: 'ack',
              mutationId,
              queueId: null,
              sequenceNumbers: [e.sequenceNumber],
              version: e.sequenceNumber,
              replayed,
              result: { at: d.at, leadMs: d.leadMs },
            });
          }
        } catch (err) {
          if (!(err instanceof AppError)) app.log.error({ err }, 'party command failed');
          pc.c.send(errorMessage(mutationId ?? null, err));
        }
      });
    }

    app.get(
      '/ws/party/:partyId',
      {
        websocket: true,
        schema: {
          tags: ['parties'],
          summary: "WebSocket: a listening party's sync (see /asyncapi.json)",
          params: PartyIdParams,
          querystring: ConnectQuery,
          response: errors(426),
        },
        // [PA2] Checked before the upgrade: 404 unknown or ended, 403 not a member; no socket is opened.
        preHandler: async (req, reply) => {
          const s = await service.memberState(req.userId, req.params.partyId);
          if (s.status !== 'active') throw notFound('party_ended', 'the party has ended', { partyId: s.id });
          return requireUpgrade(req, reply);
        },
      },
      async (ws: WebSocket, req) => {
        const partyId = req.params.partyId;
        // A party socket that misses a pong is cut off at once (its clock samples would be stale).
        const c = server.open(ws, req, req.query.deviceId ?? `conn-${randomUUID()}`, { terminateOnTimeout: true });
        const pc = new PartyConn(c, partyId, ctx);
        conns.add(pc);
        let hub: PartyHub | null = null;
        let tail = Promise.resolve();
        const chain = (fn: () => Promise<void>) => (tail = tail.then(fn));
        const inbox = server.inbox(c, (d) => onMessage(pc, d, chain));
        ws.on('close', () => {
          conns.delete(pc);
          if (hub?.remove(pc)) hubs.delete(partyId);
          service.deleteLink(c.id).catch((err) => app.log.warn({ err }, 'party link delete failed'));
        });
        try {
          const s = await service.load(partyId);
          if (s?.status !== 'active') {
            c.close(CloseCode.notFound, 'the party ended');
            return;
          }
          c.send({
            type: 'hello',
            protocolVersion: PROTOCOL_VERSION,
            connectionId: c.id,
            userId: c.userId,
            deviceId: c.deviceId,
            stream: 'party',
            streamId: partyId,
            sequenceNumber: s.version,
            serverTime: now(),
          });
          pc.setTimeline(s.playback);
          // Clock exchanges may start now, before the replay is done.
          inbox.ready();
          const sub = new Subscription(bus, partySource, partyId, req.query.since ?? 0, pc, null);
          c.subs.set(`party:${partyId}`, sub);
          await sub.start(options.replayCap, req.query.since === undefined);
          if (!c.isOpen) return;
          hub = hubFor(partyId, s.queueId);
          await hub.add(pc);
          if (!c.isOpen && hub.remove(pc)) hubs.delete(partyId);
        } catch (err) {
          c.failed(err);
        }
      },
    );
  };
}
