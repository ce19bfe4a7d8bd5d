// What every socket endpoint does with a client message, in order: admit it (the bounds on
// work in flight HTTP shares, [AD8]), count it against the socket's rate ([RT9]), parse it
// (JSON, then the guard of what the stores cannot keep), validate it against the endpoint's
// message schema, run the feature's handler, and answer: the ack, or an `error` message
// carrying the request's mutationId. The features give the schema, the handler and their
// rules (src/queues/queue-socket.ts, sync-socket.ts, src/party/socket.ts); the plumbing is here once.
import type { ValidateFunction } from 'ajv';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../errors.ts';
import { guardJson } from '../util/json-guard.ts';
import type { Connection } from './connection.ts';
import { errorMessage, PROTOCOL_VERSION } from './protocol.ts';
import type { SocketServer } from './socket-server.ts';

/**
 * The bounds on work in flight a socket command waits on like an HTTP request
 * (src/http/admission.ts's Admission has this shape; none: every command is admitted).
 */
export interface Gate<R extends string = string> {
  enter(work: { tenant: string; write: boolean; queueId: string | null }): Promise<{ end: () => void } | { refused: R }>;
  refused(transport: 'ws', reason: R): void;
  refusedBody(reason: R): { error: object };
}

const noop = () => undefined;

/** The mutationId of a raw message, when it is JSON naming one; else null. */
export function mutationIdOf(raw: Buffer): string | null {
  try {
    const m = JSON.parse(raw.toString('utf8'));
    return typeof m?.mutationId === 'string' ? m.mutationId : null;
  } catch {
    return null; // not JSON: the answer goes out without a mutationId
  }
}

/**
 * Admit: the command's turn at the shared bounds ([AD8]). Resolves with the function that
 * ends its work, or null when it was refused as an HTTP request would be (503 with
 * retryAfterSeconds): it was not applied, and the client retries it with the same mutationId.
 */
export async function admit(gate: Gate | undefined, c: Connection, raw: Buffer, queueId: string | null): Promise<(() => void) | null> {
  if (!gate) return noop;
  const a = await gate.enter({ tenant: `user:${c.userId}`, write: true, queueId });
  if ('end' in a) return a.end;
  gate.refused('ws', a.refused);
  c.send({ type: 'error', mutationId: mutationIdOf(raw), status: 503, error: gate.refusedBody(a.refused).error });
  return null;
}

/**
 * Rate, parse, guard, validate: the message, or null once the socket was closed for its rate
 * or an `error` message went back (with the message's mutationId when `echoMutationId`).
 */
export function parse<T>(c: Connection, raw: Buffer, validate: ValidateFunction, what: string, echoMutationId: boolean): T | null {
  if (!c.admit()) return null;
  let mutationId: string | null = null;
  try {
    const parsed = JSON.parse(raw.toString('utf8'));
    if (echoMutationId && typeof parsed?.mutationId === 'string') mutationId = parsed.mutationId;
    guardJson(parsed);
    if (!validate(parsed)) throw new AppError('invalid', 'invalid_message', `not a valid ${what} message`, { issues: validate.errors ?? [] });
    return parsed as T;
  } catch (err) {
    c.send(errorMessage(mutationId, err instanceof AppError ? err : new AppError('invalid', 'invalid_json', 'the message is not valid JSON')));
    return null;
  }
}

/** Runs a handler; a failure goes back as an `error` message with the mutationId (an unexpected one is logged too). */
export async function answer(c: Connection, mutationId: string | null, log: FastifyBaseLogger, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof AppError)) log.error({ err }, `${what} failed`);
    c.send(errorMessage(mutationId, err));
  }
}

/** Ack: what a command did, to the socket that sent it. */
export function ack(
  c: Connection,
  a: { mutationId: string; queueId: string | null; sequenceNumbers: number[]; version: number; replayed: boolean } & Record<string, unknown>,
): void {
  c.send({ type: 'ack', ...a });
}

/** The first message of every socket: who it is, which stream, and the stream's head. */
export function hello(c: Connection, stream: 'queue' | 'user' | 'party', streamId: string, head: number, now: number): void {
  c.send({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    connectionId: c.id,
    userId: c.userId,
    deviceId: c.deviceId,
    stream,
    streamId,
    sequenceNumber: head,
    serverTime: now,
  });
}

/**
 * Sets a socket up, then handles its messages one at a time, in order, each admitted first.
 * Messages that arrive while `setup` runs wait, so a command never races the subscription.
 */
export async function serve(
  server: SocketServer,
  c: Connection,
  o: { gate?: Gate; queueId: string | null; handle: (raw: Buffer) => Promise<void>; setup: () => Promise<void> },
): Promise<void> {
  let chain = Promise.resolve();
  const inbox = server.inbox(c, (d) => {
    chain = chain.then(async () => {
      const end = await admit(o.gate, c, d, o.queueId);
      if (end === null) return;
      try {
        await o.handle(d);
      } finally {
        end();
      }
    });
  });
  try {
    await o.setup();
  } catch (err) {
    c.failed(err);
    return;
  }
  inbox.ready();
}
