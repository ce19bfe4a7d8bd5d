// What the queue socket and the sync socket share: the queue and user streams as socket
// sources, subscribing a socket to one (with the queue rules that ride along: a queue event
// that may cost the reader its access is re-checked [CO12], and a deleted queue ends a queue
// socket with 4404), and the client messages both carry (queue commands, set_playback,
// subscribe, auth). Parsing, admission and answering are realtime/endpoint.ts's.
import type { FastifyBaseLogger } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Authenticator } from '../auth/authenticator.ts';
import type { UserEvent } from '../model/playback.ts';
import type { Gate } from '../realtime/endpoint.ts';
import type { Presence } from '../realtime/presence.ts';
import type { QueuePresence } from '../realtime/queue-presence.ts';
import type { SocketOptions, SocketServer } from '../realtime/socket-server.ts';
import { opScope } from '../auth/scopes.ts';
import { renewSocketToken, requireSocketScope } from '../auth/socket-auth.ts';
import { AppError } from '../errors.ts';
import type { Bus, SequencedEvent } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';
import { ack, answer, parse } from '../realtime/endpoint.ts';
import { ClientMessage, CloseCode, errorMessage } from '../realtime/protocol.ts';
import { Subscription, type StreamSource } from '../realtime/subscription.ts';
import { fingerprint } from '../util/commit.ts';
import { strictAjv } from '../validation.ts';
import { queueCommandOf } from './ops.ts';
import { mayLoseAccess } from './permissions.ts';
import { toView, windowKeys } from './queue.ts';
import type { QueueService } from './service.ts';
import { MAX_SEQUENCE } from './schemas.ts';

const validateClient = strictAjv.compile(ClientMessage);

/** What the sockets need from the playback feature (the user stream). */
export interface UserStream {
  readEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]>;
  snapshot(userId: string): Promise<{ sequenceNumber: number; data: object }>;
  registerDevice(userId: string, deviceId: string, info: { name?: string; type?: string }): Promise<void>;
  /** [RT8] The device came online or went offline: a presence note on the user's stream (the playback service tells it). */
  notePresence(userId: string, deviceId: string, online: boolean): void;
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
  /** Bounds on work in flight, shared with HTTP (src/http/admission.ts): a command past them is refused at once. */
  admission?: Gate;
  /** The server clock (epoch ms): hello's serverTime. */
  now: () => number;
}

export const ConnectQuery = Type.Object({
  token: Type.Optional(Type.String()),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEQUENCE, description: 'Last sequence number seen: replay what came after it' })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  deviceName: Type.Optional(Type.String({ maxLength: 200 })),
  deviceType: Type.Optional(Type.String({ maxLength: 50 })),
});

export class QueueSocketCommands {
  /** Queue sockets and the queue of their path (a sync socket has none). */
  private readonly queueSockets = new WeakMap<Connection, string>();
  readonly queueSource: StreamSource<'queue'>;
  readonly userSource: StreamSource<'user'>;

  private readonly deps: SocketDeps;
  private readonly log: FastifyBaseLogger;
  constructor(deps: SocketDeps, log: FastifyBaseLogger) {
    this.deps = deps;
    this.log = log;
    const { queues, users } = deps;
    this.queueSource = {
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
    this.userSource = { kind: 'user', read: (id, a, l) => users.readEvents(id, a, l), snapshot: (id) => users.snapshot(id) };
  }

  /** Marks a socket as the queue socket of `queueId`: it ends with its queue. */
  bind(c: Connection, queueId: string): void {
    this.queueSockets.set(c, queueId);
  }

  /** Asks the service whether the socket's user may still read the queue; if not, the queue stream ends (4403). */
  private recheck(c: Connection, queueId: string): void {
    this.deps.queues.get({ userId: c.userId, deviceId: c.deviceId }, queueId).then(
      () => undefined,
      (err) => {
        if (!(err instanceof AppError) || err.code !== 'queue_not_found') return;
        if (this.queueSockets.get(c) === queueId) {
          c.close(CloseCode.forbidden, 'you no longer have access to this queue');
          return;
        }
        c.subs.get(`queue:${queueId}`)?.close();
        c.subs.delete(`queue:${queueId}`);
        c.send(errorMessage(null, new AppError('forbidden', 'access_revoked', 'you no longer have access to this queue', { queueId })));
      },
    );
  }

  async subscribe<K extends 'queue' | 'user'>(c: Connection, source: StreamSource<K>, id: string, since: number | undefined): Promise<void> {
    const afterEvent =
      source.kind !== 'queue'
        ? undefined
        : (e: SequencedEvent) => {
            // A deleted queue ends its queue socket (4404); a sync socket only hears of it.
            if (e.type === 'queue_deleted' && this.queueSockets.get(c) === id) {
              c.close(CloseCode.notFound, 'the queue was deleted');
              return;
            }
            // Every queue event sent to this socket: did it cost the socket's user its access? [CO12]
            if (mayLoseAccess(c.userId, e)) this.recheck(c, id);
          };
    const sub = new Subscription(this.deps.bus, source, id, since ?? 0, c, c.deviceId, afterEvent);
    c.subs.set(`${source.kind}:${id}`, sub);
    await sub.start(this.deps.options.replayCap, since === undefined);
  }

  /** One client message of a queue or sync socket: parsed, run, answered. */
  async message(c: Connection, raw: Buffer, defaultQueueId: string | null): Promise<void> {
    const msg = parse<ClientMessage>(c, raw, validateClient, 'client', true);
    if (msg === null) return;
    await answer(c, 'mutationId' in msg ? (msg.mutationId ?? null) : null, this.log, 'socket message', () => this.handle(c, msg, defaultQueueId));
  }

  private async handle(c: Connection, msg: ClientMessage, defaultQueueId: string | null): Promise<void> {
    const { auth, queues, users } = this.deps;
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
      await this.subscribe(c, this.queueSource, msg.queueId, msg.since);
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
      ack(c, { mutationId: msg.mutationId, queueId: null, sequenceNumbers: [r.sequenceNumber], version: r.sequenceNumber, replayed: false, result: r.result });
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
    ack(c, {
      mutationId: msg.mutationId,
      queueId,
      sequenceNumbers: res.body.events.map((e) => e.sequenceNumber),
      version: res.body.version,
      replayed: res.replayed,
      events: res.body.events,
    });
    // The socket's own events are not sent back to it ([RT5]), so its own leave is checked here.
    if (res.body.events.some((e) => mayLoseAccess(c.userId, e))) this.recheck(c, queueId);
  }
}
