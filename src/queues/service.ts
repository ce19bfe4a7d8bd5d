// The queue service: load, authorize, decide, append with the expected version,
// then tell listeners after commit. REST (and later WebSocket) handlers call this;
// neither holds business rules.
import { createHash } from 'node:crypto';
import { AppError, conflict, invalid, notFound, VersionConflictError } from '../errors.ts';
import { decodeCursor, IdempotencyConflict, type NewEvent, type Page, type QueueSummary, type Store } from '../store/port.ts';
import { decide, type QueueCommand } from './decide.ts';
import { can, roleOf, type QueueAction } from './permissions.ts';
import { evolve, initialState, toView, type QueueEvent, type QueueState, type QueueType, type QueueView } from './queue.ts';

export interface Actor {
  userId: string;
  deviceId: string | null;
}

export interface WriteOptions {
  /** The version the client saw (If-Match / expectedVersion): a stale one is a 409. */
  expectedVersion?: number;
  /** Idempotency-Key / mutationId: a retry returns the first answer and appends nothing. */
  idempotencyKey?: string;
  /** What the request was (method, path, body), so a key reused for another request is refused. */
  fingerprint?: string;
}

export interface WriteResult {
  status: number;
  body: { queue: QueueView; events: QueueEvent[] };
  /** True when this answer is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

export interface ServiceDeps {
  store: Store;
  now: () => number;
  newId: () => string;
  random: () => number;
  maxItemsPerQueue: number;
}

export type CommittedListener = (queueId: string, events: QueueEvent[], state: QueueState) => void;

/** Attempts of a write without an expected version when other instances keep appending first. */
const MAX_ATTEMPTS = 30;

export function fingerprint(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

const actionOf: Record<QueueCommand['type'], QueueAction> = {
  create_queue: 'edit', add_tracks: 'edit', remove_items: 'edit', move_item: 'edit', clear: 'edit',
  set_shuffle: 'control', set_repeat: 'control', set_current: 'control', next: 'control', previous: 'control',
  update_queue: 'edit', delete_queue: 'delete',
};

export class QueueService {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly listeners: CommittedListener[] = [];

  constructor(private readonly deps: ServiceDeps) {}

  onCommitted(listener: CommittedListener): void {
    this.listeners.push(listener);
  }

  async create(actor: Actor, input: { name: string; type?: QueueType; tracks?: string[]; metadata?: Record<string, unknown> }, opts: WriteOptions = {}): Promise<WriteResult> {
    const cmd: QueueCommand = { type: 'create_queue', name: input.name, queueType: input.type ?? 'user', tracks: input.tracks ?? [], metadata: input.metadata ?? {} };
    return this.write(actor, this.deps.newId(), cmd, opts, 201);
  }

  async execute(actor: Actor, queueId: string, cmd: QueueCommand, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.write(actor, queueId, cmd, opts, 200);
  }

  /** A queue the actor may read, or 404 (strangers never learn that it exists). */
  async get(actor: Actor, queueId: string): Promise<QueueState> {
    const state = await this.deps.store.loadQueue(queueId);
    if (!state || state.deleted || !can(roleOf(state, actor.userId), 'read')) throw notFound('queue_not_found', 'queue not found', { queueId });
    return state;
  }

  async list(actor: Actor, limit: number, cursor: string | null): Promise<Page<QueueSummary>> {
    if (cursor !== null && decodeCursor(cursor) === null) throw invalid('invalid_cursor', 'cursor is not one this service gave out', { cursor });
    return this.deps.store.listQueues(actor.userId, limit, cursor);
  }

  async events(actor: Actor, queueId: string, since: number, limit: number): Promise<{ events: QueueEvent[]; version: number }> {
    // Deleted queues keep their log readable by the owner: it is the audit trail.
    const state = await this.deps.store.loadQueue(queueId);
    if (!state || !can(roleOf(state, actor.userId), 'read')) throw notFound('queue_not_found', 'queue not found', { queueId });
    return { events: await this.deps.store.readEvents(queueId, since, limit), version: state.version };
  }

  private async write(actor: Actor, queueId: string, cmd: QueueCommand, opts: WriteOptions, okStatus: number): Promise<WriteResult> {
    const { store } = this.deps;
    if (opts.idempotencyKey) {
      const seen = await this.replay(actor, opts);
      if (seen) return seen;
    }
    const result = await this.serial(queueId, async () => {
      for (let attempt = 1; ; attempt++) {
        const loaded = await store.loadQueue(queueId);
        const state = loaded ?? initialState(queueId);
        if (cmd.type !== 'create_queue') {
          if (!loaded || loaded.deleted) throw notFound('queue_not_found', 'queue not found', { queueId });
          const role = roleOf(state, actor.userId);
          if (!can(role, 'read')) throw notFound('queue_not_found', 'queue not found', { queueId });
          if (!can(role, actionOf[cmd.type])) throw new AppError('forbidden', 'forbidden', `your role may not ${cmd.type.replace('_', ' ')}`);
        }
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== state.version) {
          throw new VersionConflictError(queueId, opts.expectedVersion, state.version);
        }
        const now = new Date(this.deps.now()).toISOString();
        const bodies = decide(state, cmd, { userId: actor.userId, newId: this.deps.newId, random: this.deps.random, maxItems: this.deps.maxItemsPerQueue });
        const newEvents: NewEvent[] = bodies.map((b) => ({ ...b, userId: actor.userId, deviceId: actor.deviceId, timestamp: now }));
        const stored = newEvents.map((e, i) => ({ ...e, queueId, sequenceNumber: state.version + i + 1 }) as QueueEvent);
        const next = stored.reduce(evolve, state);
        const body = { queue: toView(next), events: stored };
        try {
          await store.append({
            queueId,
            expectedVersion: state.version,
            events: newEvents,
            state: next,
            idempotency: opts.idempotencyKey
              ? { userId: actor.userId, key: opts.idempotencyKey, fingerprint: opts.fingerprint ?? '', response: { status: okStatus, body } }
              : undefined,
          });
          // Listeners (metrics, the bus) hear of the commit before the next write to this
          // queue starts, so they see a queue's events in sequence order.
          if (stored.length > 0) for (const l of this.listeners) l(queueId, stored, next);
          return { status: okStatus, body, replayed: false, state: next };
        } catch (err) {
          // Another instance appended first: decide again on the fresh state, unless the
          // client pinned a version (then the conflict is the answer).
          if (err instanceof VersionConflictError && opts.expectedVersion === undefined && cmd.type !== 'create_queue' && attempt < MAX_ATTEMPTS) {
            // Random, growing back-off so two instances writing one queue do not keep colliding.
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
            continue;
          }
          if (err instanceof IdempotencyConflict) return null;
          throw err;
        }
      }
    });
    if (result === null) {
      const seen = await this.replay(actor, opts);
      if (seen) return seen;
      throw conflict('idempotency_conflict', 'a request with this idempotency key is being processed');
    }
    return { status: result.status, body: result.body, replayed: false };
  }

  private async replay(actor: Actor, opts: WriteOptions): Promise<WriteResult | null> {
    const rec = await this.deps.store.getIdempotency(actor.userId, opts.idempotencyKey!);
    if (!rec) return null;
    if (rec.fingerprint !== (opts.fingerprint ?? '')) {
      throw new AppError('limit', 'idempotency_key_reused', 'this idempotency key was used for a different request', { idempotencyKey: opts.idempotencyKey });
    }
    return { status: rec.status, body: rec.body as WriteResult['body'], replayed: true };
  }

  /** Runs writes to one queue one at a time in this process, so they do not race each other's versions. */
  private serial<T>(queueId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(queueId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(queueId, tail);
    void tail.then(() => {
      if (this.tails.get(queueId) === tail) this.tails.delete(queueId);
    });
    return run;
  }
}
