// WS /ws/party/{partyId}: the party's sequenced events (resumable with ?since, as the
// queue sockets), the party queue as queue_updated, NTP-style clock exchanges answered at
// once, position reports answered with corrections, and the host's playback commands.
// Membership is checked at the upgrade. Each socket's measured link is written to the
// store so whichever instance schedules a command knows every member's delay.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket'; // the `websocket: true` route option
import { Type } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import type { Authenticator } from '../auth/authenticator.ts';
import { renewSocketToken, requireSocketScope } from '../auth/socket-auth.ts';
import { notFound } from '../errors.ts';
import { errors } from '../http/schemas.ts';
import { requireUpgrade } from '../http/upgrade.ts';
import type { Metrics } from '../metrics.ts';
import { MAX_SEQUENCE } from '../queues/schemas.ts';
import type { QueueService } from '../queues/service.ts';
import type { Bus } from '../realtime/bus.ts';
import { ack, answer, hello, parse } from '../realtime/endpoint.ts';
import { CloseCode } from '../realtime/protocol.ts';
import type { SocketOptions, SocketServer } from '../realtime/socket-server.ts';
import { Subscription, type StreamSource } from '../realtime/subscription.ts';
import { strictAjv } from '../validation.ts';
import { PartyConn, type Ctx } from './conn.ts';
import { PartyHub } from './hub.ts';
import { isMember } from './party.ts';
import { PartyClientMessage, PartyIdParams } from './protocol.ts';
import type { PartyService } from './service.ts';

export { partyMessage } from './conn.ts';

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
      const msg = parse<PartyClientMessage>(pc.c, raw, validateClient, 'party', false);
      if (msg === null) return;
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
        chain(() => answer(pc.c, m.mutationId ?? null, app.log, 'party auth', async () => void pc.c.send(await renewSocketToken(pc.c, auth, m, 'party:join'))));
        return;
      }
      const { type: _t, mutationId, ...req } = msg;
      chain(() =>
        answer(pc.c, mutationId ?? null, app.log, 'party command', async () => {
          // [AU7] Playback commands are the host's: a scoped token needs party:host.
          requireSocketScope(pc.c, 'party:host');
          // [PA11] A repeated mutationId answers the first command's event again, replayed.
          const { event: e, replayed } = await service.playback({ userId: pc.c.userId, deviceId: pc.c.deviceId }, pc.partyId, req, mutationId);
          if (mutationId) {
            const d = e.data as { at: number; leadMs: number };
            ack(pc.c, {
              mutationId,
              queueId: null,
              sequenceNumbers: [e.sequenceNumber],
              version: e.sequenceNumber,
              replayed,
              result: { at: d.at, leadMs: d.leadMs },
            });
          }
        }),
      );
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
          hello(c, 'party', partyId, s.version, now());
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
