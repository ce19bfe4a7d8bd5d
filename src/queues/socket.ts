// WebSocket endpoints: /ws/queues/{queueId} (one queue) and /ws/sync/{userId} (a
// user's devices: playback, presence, and the queues they subscribe to). The token is
// checked at the upgrade (query `token` or Authorization), as are the path rules; the
// connection lifecycle (heartbeat, held messages, shutdown) is realtime/socket-server.ts's.
// Here, beside the queue service, because both endpoints carry queue commands and queue
// streams; the sync socket's playback part goes through the UserStream port below.
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket'; // the `websocket: true` route option
import { Type } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import type { Authenticator } from '../auth/authenticator.ts';
import { opScope } from '../auth/scopes.ts';
import { renewSocketToken, requireSocketScope } from '../auth/socket-auth.ts';
import { AppError } from '../errors.ts';
import { pathUser } from '../http/auth.ts';
import { guardJson } from '../http/json-guard.ts';
import { errors } from '../http/schemas.ts';
import { requireUpgrade } from '../http/upgrade.ts';
import type { QueuePresence } from '../realtime/queue-presence.ts';
import { strictAjv } from '../validation.ts';
import type { Admission } from '../http/admission.ts';
import type { UserEvent } from '../model/playback.ts';
import type { Bus, SequencedEvent } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Presence } from '../realtime/presence.ts';
import { ClientMessage, CloseCode, errorMessage, PROTOCOL_VERSION } from '../realtime/protocol.ts';
import type { SocketOptions, SocketServer } from '../realtime/socket-server.ts';
import { Subscription, type StreamSource } from '../realtime/subscription.ts';
import { queueCommandOf } from './ops.ts';
import { mayLoseAccess } from './permissions.ts';
import { toView, windowKeys } from './queue.ts';
import { Id, MAX_SEQUENCE } from './schemas.ts';
import { fingerprint } from '../util/commit.ts';
import type { QueueService } from './service.ts';

/** What the sockets need from the playback feature (the user stream). */
export interface UserStream {
  readEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]>;
  snapshot(userId: string): Promise<{ sequenceNumber: number; data: object }>;
  registerDevice(userId: string, deviceId: string, info: { name?: string; type?: string }): Promise<void>;
  /** The set_playback op: the PUT playback-state body; answers the new sequence number. */
  setPlayback(userId: string, deviceId: string, args: unknown, mutationId: string): Promise<{ sequenceNumber: number; result: Record<string, unknown> }>;
}

export interface SocketDeps {
  /** Checks the tokens of `auth` messages (a fresh token for an open socket, [AU11]). */
  auth: Pick<Authenticator, 'authenticate'>;
  /** The connection lifecycle shared with the party socket. */
  server: SocketServer;
  queues: QueueService;
  users: UserStream;
  bus: Bus;
  presence: Presence;
  options: SocketOptions;
  /** Who has each queue open ([CO11]); none: no queue presence. */
  queuePresence?: QueuePresence;
  /** Bounds on work in flight, shared with HTTP: a command past them is refused at once. */
  admission?: Admission;
  /** The server clock (epoch ms): hello's serverTime, presence notes. */
  now: () => number;
}

const validateClient = strictAjv.compile(ClientMessage);

const ConnectQuery = Type.Object({
  token: Type.Optional(Type.String()),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'Last sequence number seen: replay what came after it' })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  deviceName: Type.Optional(Type.String({ maxLength: 200 })),
  deviceType: Type.Optional(Type.String({ maxLength: 50 })),
});

const noop = () => undefined;

export function socketRoutes(deps: SocketDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const { auth, server, queues, users, bus, presence, options, queuePresence, admission, now } = deps;
    /** Queue sockets and the queue of their path. */
    const queueSockets = new WeakMap<Connection, string>();

    /** Asks the service whether the socket's user may still read the queue; if not, the queue stream ends (4403). */
    const recheck = (c: Connection, queueId: string) => {
      queues.get({ userId: c.userId, deviceId: c.deviceId }, queueId).then(
        () => undefined,
        (err) => {
          if (!(err instanceof AppError) || err.code !== 'queue_not_found') return;
          if (queueSockets.get(c) === queueId) {
            c.close(CloseCode.forbidden, 'you no longer have access to this queue');
            return;
          }
          c.subs.get(`queue:${queueId}`)?.close();
          c.subs.delete(`queue:${queueId}`);
          c.send(errorMessage(null, new AppError('forbidden', 'access_revoked', 'you no longer have access to this queue', { queueId })));
        },
      );
    };

    const queueSource: StreamSource<'queue'> = {
      kind: 'queue',
      read: (id, after, limit) => queues.readStream(id, after, limit),
      snapshot: async (id) => {
        const s = await queues.peek(id);
        if (!s) throw new AppError('not_found', 'queue_not_found', 'queue not found');
        // [QW7] The header and the default window; `window.nextCursor` pages the rest over
        // GET /queues/{id}?cursor=. Order keys of the window's items ride along so a client
        // can place later item_added / item_moved events [CO13].
        const view = toView(s);
        return { sequenceNumber: s.version, data: { ...view, itemKeys: windowKeys(s, view) } };
      },
    };
    const userSource: StreamSource<'user'> = { kind: 'user', read: (id, a, l) => users.readEvents(id, a, l), snapshot: (id) => users.snapshot(id) };

    function open(ws: WebSocket, req: FastifyRequest, deviceId: string): Connection {
      return server.open(ws, req, deviceId);
    }

    async function subscribe<K extends 'queue' | 'user'>(c: Connection, source: StreamSource<K>, id: string, since: number | undefined): Promise<void> {
      // Every queue event sent to this socket: did it cost the socket's user its access? [CO12]
      const afterEvent =
        source.kind !== 'queue'
          ? undefined
          : (e: SequencedEvent) => {
              if (mayLoseAccess(c.userId, e)) recheck(c, id);
            };
      const sub = new Subscription(bus, source, id, since ?? 0, c, c.deviceId, afterEvent);
      c.subs.set(`${source.kind}:${id}`, sub);
      await sub.start(options.replayCap, since === undefined);
    }

    /** Parses and runs one client message; errors go back as `error` messages. */
    async function onMessage(c: Connection, raw: Buffer, defaultQueueId: string | null): Promise<void> {
      if (!c.admit()) return;
      let msg: ClientMessage;
      let mutationId: string | null = null;
      try {
        const parsed = JSON.parse(raw.toString('utf8'));
        mutationId = typeof parsed?.mutationId === 'string' ? parsed.mutationId : null;
        guardJson(parsed);
        if (!validateClient(parsed)) {
          throw new AppError('invalid', 'invalid_message', 'not a valid client message', { issues: validateClient.errors ?? [] });
        }
        msg = parsed as ClientMessage;
      } catch (err) {
        c.send(errorMessage(mutationId, err instanceof AppError ? err : new AppError('invalid', 'invalid_json', 'the message is not valid JSON')));
        return;
      }
      try {
        await handle(c, msg, defaultQueueId);
      } catch (err) {
        if (!(err instanceof AppError)) app.log.error({ err }, 'socket message failed');
        c.send(errorMessage(mutationId, err));
      }
    }

    async function handle(c: Connection, msg: ClientMessage, defaultQueueId: string | null): Promise<void> {
      const actor = { userId: c.userId, deviceId: c.deviceId };
      if (msg.type === 'auth') {
        c.send(await renewSocketToken(c, auth, msg, 'queue:read'));
        return;
      }
      if (msg.type === 'subscribe') {
        if (defaultQueueId !== null) throw new AppError('invalid', 'not_here', 'subscribe is for the sync socket');
        requireSocketScope(c, 'queue:read');
        const state = await queues.get(actor, msg.queueId);
        c.subs.get(`queue:${msg.queueId}`)?.close();
        await subscribe(c, queueSource, msg.queueId, msg.since);
        c.send({ type: 'subscribed', queueId: msg.queueId, sequenceNumber: state.version });
        return;
      }
      if (msg.type === 'unsubscribe') {
        c.subs.get(`queue:${msg.queueId}`)?.close();
        c.subs.delete(`queue:${msg.queueId}`);
        return;
      }
      // [AU7] Each command needs its op's scope (a token without scopes has them all).
      requireSocketScope(c, opScope(msg.op));
      if (msg.op === 'set_playback') {
        const r = await users.setPlayback(c.userId, c.deviceId, msg.args, msg.mutationId);
        c.send({
          type: 'ack',
          mutationId: msg.mutationId,
          queueId: null,
          sequenceNumbers: [r.sequenceNumber],
          version: r.sequenceNumber,
          replayed: false,
          result: r.result,
        });
        return;
      }
      const queueId = msg.queueId ?? defaultQueueId;
      if (!queueId) throw new AppError('invalid', 'missing_queue_id', 'queue commands on the sync socket name their queueId');
      const { command, expectedVersion } = queueCommandOf(msg.op, msg.args);
      const res = await queues.execute(actor, queueId, command, {
        expectedVersion,
        idempotencyKey: msg.mutationId,
        fingerprint: fingerprint('ws', msg.op, queueId, msg.args ?? {}),
        // The ack carries the version and the events; the queue itself is not sent back.
        minimal: true,
      });
      const seqs = res.body.events.map((e) => e.sequenceNumber);
      c.send({
        type: 'ack',
        mutationId: msg.mutationId,
        queueId,
        sequenceNumbers: seqs,
        version: res.body.version,
        replayed: res.replayed,
        events: res.body.events,
      });
      // The socket's own events are not sent back to it ([RT5]), so its own leave is checked here.
      if (res.body.events.some((e) => mayLoseAccess(c.userId, e))) recheck(c, queueId);
    }

    /**
     * Admission ([AD8]) when a command's turn on its socket comes: it waits its turn like an
     * HTTP request and is refused only as one would be. Refused commands were not applied;
     * the client retries them (same mutationId) after `retryAfterSeconds`, so the answers
     * may come out of order.
     */
    async function admitted(c: Connection, d: Buffer, queueId: string | null): Promise<(() => void) | null> {
      if (!admission) return noop;
      const a = await admission.enter({ tenant: `user:${c.userId}`, write: true, queueId });
      if ('end' in a) return a.end;
      admission.refused('ws', a.refused);
      let mutationId: string | null = null;
      try {
        const m = JSON.parse(d.toString('utf8'));
        if (typeof m?.mutationId === 'string') mutationId = m.mutationId;
      } catch {
        // not JSON: the refusal goes out without a mutationId
      }
      // The same refusal an HTTP request gets (503 with retryAfterSeconds).
      c.send({ type: 'error', mutationId, status: 503, error: admission.refusedBody(a.refused).error });
      return null;
    }

    /**
     * Sets a socket up, then handles its messages one at a time, in order. Messages that
     * arrive while `setup` runs wait, so a command never races the subscription.
     */
    async function serve(c: Connection, defaultQueueId: string | null, setup: () => Promise<void>): Promise<void> {
      let chain = Promise.resolve();
      const inbox = server.inbox(c, (d) => {
        chain = chain.then(async () => {
          const end = await admitted(c, d, defaultQueueId);
          if (end === null) return;
          try {
            await onMessage(c, d, defaultQueueId);
          } finally {
            end();
          }
        });
      });
      try {
        await setup();
      } catch (err) {
        c.failed(err);
        return;
      }
      inbox.ready();
    }

    function hello(c: Connection, stream: 'queue' | 'user', streamId: string, head: number): void {
      c.send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        connectionId: c.id,
        userId: c.userId,
        deviceId: c.deviceId,
        stream,
        streamId,
        sequenceNumber: head,
        serverTime: now(),
      });
    }

    app.get(
      '/ws/queues/:queueId',
      {
        websocket: true,
        schema: {
          tags: ['realtime'],
          summary: "WebSocket: one queue's events (see /asyncapi.json)",
          params: Type.Object({ queueId: Id }),
          querystring: ConnectQuery,
          response: errors(426),
        },
        // Checked before the upgrade: strangers get a 404, never a socket.
        preHandler: async (req, reply) => {
          await queues.get({ userId: req.userId, deviceId: null }, req.params.queueId);
          return requireUpgrade(req, reply);
        },
      },
      async (ws, req) => {
        const c = open(ws, req, req.query.deviceId ?? `conn-${randomUUID()}`);
        const queueId = req.params.queueId;
        queueSockets.set(c, queueId);
        // [CO11] Presence: who is looking at the queue, as a note on the queue stream.
        const announce = (online: boolean) =>
          bus.publish({
            stream: 'queue',
            id: queueId,
            events: [],
            note: { type: 'presence', queueId, userId: c.userId, deviceId: c.deviceId, online, timestamp: now() },
          });
        await serve(c, queueId, async () => {
          const head = (await queues.peek(queueId))?.version ?? 0;
          hello(c, 'queue', queueId, head);
          await subscribe(c, queueSource, queueId, req.query.since);
          if (queuePresence) {
            // The close listener goes on before the entry is written, in the same tick, so a
            // socket that closes at any point from here on is taken out again.
            if (!c.isOpen) return;
            ws.once(
              'close',
              () =>
                void queuePresence.closed(queueId, c.id).then(
                  () => announce(false),
                  () => announce(false),
                ),
            );
            await queuePresence.opened(queueId, c.id, c.userId, c.deviceId);
            if (c.isOpen) announce(true);
          }
        });
      },
    );

    app.get(
      '/ws/sync/:userId',
      {
        websocket: true,
        schema: {
          tags: ['realtime'],
          summary: "WebSocket: a user's devices: playback, presence, subscribed queues (see /asyncapi.json)",
          params: Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }) }),
          querystring: ConnectQuery,
          response: errors(426),
        },
        preHandler: async (req, reply) => {
          pathUser(req, req.params.userId);
          return requireUpgrade(req, reply);
        },
      },
      async (ws, req) => {
        const userId = req.userId;
        const deviceId = req.query.deviceId ?? `conn-${randomUUID()}`;
        const c = open(ws, req, deviceId);
        const announce = (online: boolean) =>
          bus.publish({ stream: 'user', id: userId, events: [], note: { type: 'presence', queueId: null, userId, deviceId, online, timestamp: now() } });
        await serve(c, null, async () => {
          if (req.query.deviceId) await users.registerDevice(userId, deviceId, { name: req.query.deviceName, type: req.query.deviceType });
          // Closed while the device was registered: it never comes online.
          if (!c.isOpen) return;
          // The close listener goes on before the entry is written, in the same tick, so a
          // socket that closes at any point from here on goes offline again.
          ws.once(
            'close',
            () =>
              void presence.disconnected(c.id).then(
                () => announce(false),
                () => announce(false),
              ),
          );
          await presence.connected(c.id, userId, deviceId);
          if (!c.isOpen) return;
          announce(true);
          const head = (await users.snapshot(userId)).sequenceNumber;
          hello(c, 'user', userId, head);
          await subscribe(c, userSource, userId, req.query.since);
        });
      },
    );
  };
}
