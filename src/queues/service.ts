// The queue service: load, authorize, decide, append with the expected version,
// then tell listeners after commit. REST and WebSocket handlers call this;
// neither holds business rules.
import { AppError, invalid, kindOfStatus, notFound, statusOf, VersionConflictError } from '../errors.ts';
import type { Actor } from '../model/actor.ts';
import {
  decodeCursor,
  type NewEvent,
  type Page,
  type QueueSummary,
  type IdempotencyRecords,
  type StoredResponse,
  type QueueStreams,
  type AppendInput,
} from '../store/port.ts';
import { decide, type QueueCommand } from './decide.ts';
import { can, memberRole, roleOf, type QueueAction, type Role } from './permissions.ts';
import {
  evolve,
  initialState,
  toView,
  upgradeState,
  type WindowQuery,
  type Collaborator,
  type CollaboratorRole,
  type QueueEvent,
  type QueueState,
  type QueueType,
  type QueueView,
} from './queue.ts';
import { CommitListeners, CommitPath, IdempotencyConflict, keyReused, recall, type StreamNote } from '../util/commit.ts';
import { StateCache } from './state-cache.ts';

export interface WriteOptions {
  /** The version the client saw (If-Match / expectedVersion): a stale one is a 409. */
  expectedVersion?: number;
  /** Idempotency-Key / mutationId: a retry returns the first answer and appends nothing. */
  idempotencyKey?: string;
  /** What the request was (method, path, body), so a key reused for another request is refused. */
  fingerprint?: string;
  /** [QW5] `minimal`: answer the version and the events only (Prefer: return=minimal). */
  minimal?: boolean;
  /** The window of items the answer carries (default: the first 200 of the play order). */
  window?: WindowQuery;
}

/** A write's answer: the events and the new version, and (unless minimal) the queue's header and a window. */
export interface WriteBody {
  queue?: QueueView;
  events: QueueEvent[];
  version: number;
}

/** What one commit answers: recorded (a replay) or fresh, with what the listeners need. */
interface Answer {
  status: number;
  body: WriteBody;
  fresh?: { state: QueueState; stored: QueueEvent[] };
}

export interface WriteResult {
  status: number;
  body: WriteBody;
  /** True when this answer is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

export interface ServiceDeps {
  store: QueueStreams & IdempotencyRecords;
  now: () => number;
  newId: () => string;
  random: () => number;
  maxItemsPerQueue: number;
  /** Hot states kept in memory: at most this many queues and this weight in items together (defaults 2,000 and 100,000; see state-cache.ts). */
  cacheQueues?: number;
  cacheItems?: number;
  /** Tracks one user other than the owner may add to one queue per minute ([CO9]). */
  addsPerMinute?: number;
  /** Collaborators one queue may have besides its owner ([CO9]). */
  maxCollaborators?: number;
  /** A listener threw after a commit (the write stands; the others still ran). */
  onListenerError?: (err: unknown) => void;
}

/** One line of GET /queues/{id}/history: who did what, when (the seed's queue_modifications). */
export interface HistoryEntry {
  sequenceNumber: number;
  action: string;
  userId: string;
  deviceId: string | null;
  timestamp: string;
  itemId: string | null;
  trackId: string | null;
  data: Record<string, unknown>;
}

/** The seed's action names for the item events; every other event is named by its type. */
const historyAction: Partial<Record<QueueEvent['type'], string>> = {
  item_added: 'add_track',
  item_removed: 'remove_track',
  item_moved: 'reorder',
  queue_cleared: 'clear',
};

export type CommittedListener = (queueId: string, events: QueueEvent[], state: QueueState) => void;

/** A cached state this many events behind the store is caught up from the log; further behind, loaded anew. */
const CATCH_UP_EVENTS = 500;

/**
 * The action of the permission matrix each command needs ([CO1]). Finer rules (own
 * additions, which roles an admin may manage) are decided with the role in decide.ts.
 */
const actionOf: Record<QueueCommand['type'], QueueAction> = {
  create_queue: 'add',
  add_tracks: 'add',
  remove_items: 'edit_own',
  move_item: 'edit_own',
  clear: 'edit_any',
  set_shuffle: 'control',
  set_repeat: 'control',
  set_current: 'control',
  next: 'control',
  previous: 'control',
  update_queue: 'rename',
  delete_queue: 'delete',
  vote_item: 'vote',
  add_collaborator: 'manage_members',
  set_collaborator_role: 'manage_members',
  remove_collaborator: 'manage_members',
  leave_queue: 'read',
  join_queue: 'read',
  transfer_ownership: 'transfer',
  set_visibility: 'visibility',
  update_settings: 'settings',
};

function actionFor(cmd: QueueCommand, actor: Actor): QueueAction {
  // Removing yourself is leaving, which any collaborator may do.
  if (cmd.type === 'remove_collaborator' && cmd.userId === actor.userId) return 'read';
  return actionOf[cmd.type];
}

const queueNotFound = (queueId: string) => notFound('queue_not_found', 'queue not found', { queueId });

/** [CO1] May this role run this command? The one check REST, socket and batch writes share. */
function permit(role: Role | null, cmd: QueueCommand, actor: Actor): void {
  const action = actionFor(cmd, actor);
  if (!can(role, action)) throw new AppError('forbidden', 'forbidden', `your role (${role}) may not ${cmd.type.replace(/_/g, ' ')}`, { role, action });
}

/** A write waiting in its queue's next batch (QueueService.joinNext). */
interface Joined {
  actor: Actor;
  cmd: QueueCommand;
  opts: WriteOptions;
  okStatus: number;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

/** Writes decided together in one batch at most; more wait for the next. */
const MAX_JOINED = 64;

/** Puts decided event bodies in their envelopes, numbered after `fromVersion`. */
function stamp(bodies: ReturnType<typeof decide>, actor: Actor, queueId: string, fromVersion: number, now: string) {
  const newEvents: NewEvent[] = bodies.map((b) => ({ ...b, userId: actor.userId, deviceId: actor.deviceId, timestamp: now }));
  const stored = newEvents.map((e, i) => ({ ...e, queueId, sequenceNumber: fromVersion + i + 1 }) as QueueEvent);
  return { newEvents, stored };
}

/** The actor's role on a queue it may read; null for a missing or deleted queue or a stranger (a 404 to them). */
function readerRole(state: QueueState | null, actor: Actor): Role | null {
  const role = state && !state.deleted ? roleOf(state, actor.userId) : null;
  return role !== null && can(role, 'read') ? role : null;
}

export class QueueService {
  /** Writes commit here: replay, one writer per queue, the stream lock, retries, publish in order. */
  private readonly commits: CommitPath;
  /** The store's foreign-writes mark when the cache was last known to match it (SQLite). */
  private foreignSeen: number | undefined;
  /** Told after each commit, in sequence order: metrics, the bus, the recommender's hooks (src/services.ts). */
  private readonly listeners: CommitListeners<Parameters<CommittedListener>>;
  /** Hot queue states: a write or read of a hot queue neither loads nor folds it (docs/adr/0001). */
  private readonly cache: StateCache;

  private readonly deps: ServiceDeps;
  constructor(deps: ServiceDeps) {
    this.deps = deps;
    this.cache = new StateCache(deps.cacheQueues ?? 2_000, deps.cacheItems ?? 100_000);
    this.listeners = new CommitListeners(deps.onListenerError);
    const store = deps.store;
    // Writers on other instances take turns on a queue when the store can lock it.
    this.commits = new CommitPath(store.withStreamLock?.bind(store));
  }

  onCommitted(listener: CommittedListener): void {
    this.listeners.add(listener);
  }

  /** Hears the queue streams' notes (presence, [CO11]); src/services.ts hooks the bus to it. */
  onNote(listener: (queueId: string, note: StreamNote) => void): void {
    this.listeners.addNote(listener);
  }

  /** [CO11] A user opened or closed the queue on a device: a presence note on the queue's stream. */
  notePresence(queueId: string, userId: string, deviceId: string, online: boolean): void {
    this.listeners.note(queueId, { type: 'presence', queueId, userId, deviceId, online, timestamp: this.deps.now() });
  }

  async create(
    actor: Actor,
    input: { name: string; type?: QueueType; tracks?: string[]; metadata?: Record<string, unknown>; isPublic?: boolean; collaborators?: string[] },
    opts: WriteOptions = {},
  ): Promise<WriteResult> {
    const cmd: QueueCommand = {
      type: 'create_queue',
      name: input.name,
      queueType: input.type ?? 'user',
      tracks: input.tracks ?? [],
      metadata: input.metadata ?? {},
      ...(input.isPublic ? { isPublic: true } : {}),
      ...(input.collaborators?.length ? { collaborators: input.collaborators } : {}),
    };
    return this.write(actor, this.deps.newId(), cmd, opts, 201);
  }

  async execute(actor: Actor, queueId: string, cmd: QueueCommand, opts: WriteOptions = {}): Promise<WriteResult> {
    // Joining with an invite's role is only for joinWithInvite, after the code was checked.
    if (cmd.type === 'join_queue' && cmd.via !== 'public')
      throw invalid('invalid_join', 'join a queue with an invite code through POST /invites/{code}/accept');
    return this.write(actor, queueId, cmd, opts, 200);
  }

  /** [CO5] Joins with a role an invite code granted; the caller (the invite feature) has checked the code. */
  async joinWithInvite(actor: Actor, queueId: string, role: CollaboratorRole, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.write(actor, queueId, { type: 'join_queue', role, via: 'invite' }, opts, 200, true);
  }

  /**
   * The queue as the store has it now. On SQLite a cached state is used while no other
   * process has written; elsewhere it is checked against the header's version (one small
   * read) and, when behind, caught up from the log. Only a queue not in the cache (or far
   * behind) is loaded: its snapshot plus the events after it.
   */
  private async load(queueId: string): Promise<QueueState | null> {
    const { store } = this.deps;
    // SQLite: what this process writes goes into the cache, so while no other connection
    // (a CLI import, a sweep) has committed, a cached state is the stored one; once one has,
    // the whole cache is dropped and states are read again.
    const foreign = store.foreignWrites?.();
    if (foreign !== undefined && foreign !== this.foreignSeen) {
      this.cache.clear();
      this.foreignSeen = foreign;
    }
    const cached = this.cache.get(queueId);
    if (cached !== undefined) {
      if (foreign !== undefined) return cached;
      const v = await store.queueVersion(queueId);
      if (v === cached.version) return cached;
      if (v !== null && v > cached.version && v - cached.version <= CATCH_UP_EVENTS) {
        const events = await store.readEvents(queueId, cached.version, v - cached.version);
        if (events.length > 0 && events[0]!.sequenceNumber === cached.version + 1) {
          const state = events.reduce(evolve, cached);
          this.cache.set(queueId, state);
          return state;
        }
      }
      this.cache.delete(queueId);
    }
    const loaded = await store.loadQueue(queueId);
    if (loaded === null) return null;
    const state = upgradeState(loaded);
    this.cache.set(queueId, state);
    return state;
  }

  /** The current state (cached, checked against the store), without an authorization check: for transports that checked at subscribe. */
  peek(queueId: string): Promise<QueueState | null> {
    return this.load(queueId);
  }

  /**
   * A queue stream's events after `afterSequence`, for a subscription whose reader was
   * authorized when it subscribed ([RT2]); no check here.
   */
  readStream(queueId: string, afterSequence: number, limit: number): Promise<QueueEvent[]> {
    return this.deps.store.readEvents(queueId, afterSequence, limit);
  }

  /**
   * The queue and the actor's role when the actor may do `action` to it: 404 when the actor
   * may not even read it (strangers never learn that it exists), 403 when the role lacks it.
   */
  async authorize(actor: Actor, queueId: string, action: QueueAction): Promise<{ state: QueueState; role: Role }> {
    const state = await this.load(queueId);
    const role = readerRole(state, actor);
    if (role === null) throw queueNotFound(queueId);
    if (!can(role, action))
      throw new AppError('forbidden', 'forbidden', `your role (${role}) may not ${action.replace('_', ' ')} on this queue`, { role, action });
    return { state: state!, role };
  }

  /** A queue the actor may read, or 404 (strangers never learn that it exists). */
  async get(actor: Actor, queueId: string): Promise<QueueState> {
    return (await this.authorize(actor, queueId, 'read')).state;
  }

  /**
   * `get` without a promise when it needs no I/O (issue 21: a read's async frames and their
   * microtasks): the cached state of a queue the actor may read, on a store whose writes all
   * go through this process (SQLite, while no other connection has committed). undefined:
   * ask `get`, which also gives the 404.
   */
  getCached(actor: Actor, queueId: string): QueueState | undefined {
    const foreign = this.deps.store.foreignWrites?.();
    if (foreign === undefined || foreign !== this.foreignSeen) return undefined;
    const state = this.cache.get(queueId);
    return state !== undefined && readerRole(state, actor) !== null ? state : undefined;
  }

  /** Queues the actor owns or collaborates on, with the actor's role ([CO4]). */
  async list(actor: Actor, limit: number, cursor: string | null): Promise<Page<QueueSummary & { role: string }>> {
    if (cursor !== null && decodeCursor(cursor) === null) throw invalid('invalid_cursor', 'cursor is not one this service gave out', { cursor });
    return this.deps.store.listMemberQueues(actor.userId, limit, cursor);
  }

  /** [QW9] Events after `since`, and where the log begins now (events before it were trimmed). */
  async events(actor: Actor, queueId: string, since: number, limit: number): Promise<{ events: QueueEvent[]; version: number; logStart: number }> {
    // Deleted queues keep their log readable by their members: it is the audit trail.
    const state = await this.load(queueId);
    if (!state || !can(state.deleted ? memberRole(state, actor.userId) : roleOf(state, actor.userId), 'read')) throw queueNotFound(queueId);
    const events = limit > 0 ? await this.deps.store.readEvents(queueId, since, limit) : [];
    // The log begins at 1 unless trimmed; only a read that could have met the trim asks.
    const logStart =
      events.length > 0 && events[0]!.sequenceNumber === since + 1 && since === 0 ? 1 : ((await this.deps.store.logStart(queueId)) ?? state.version + 1);
    return { events, version: state.version, logStart };
  }

  /** [CO6] Who did what, when: the event log newest first, `limit` events before sequence number `before`. */
  async history(
    actor: Actor,
    queueId: string,
    before: number | null,
    limit: number,
  ): Promise<{ entries: HistoryEntry[]; version: number; nextBefore: number | null; logStart: number }> {
    const { version, logStart } = await this.events(actor, queueId, 0, 0);
    const end = Math.min(before ?? version + 1, version + 1); // exclusive
    const after = Math.max(logStart - 1, end - 1 - limit);
    const events = end - 1 > after ? await this.deps.store.readEvents(queueId, after, end - 1 - after) : [];
    const entries = events.reverse().map((e): HistoryEntry => {
      const data = e.data as Record<string, unknown>;
      return {
        sequenceNumber: e.sequenceNumber,
        action: historyAction[e.type] ?? e.type,
        userId: e.userId,
        deviceId: e.deviceId,
        timestamp: e.timestamp,
        itemId: typeof data.itemId === 'string' ? data.itemId : null,
        trackId: typeof data.trackId === 'string' ? data.trackId : null,
        data,
      };
    });
    return { entries, version, nextBefore: after > logStart - 1 ? after + 1 : null, logStart };
  }

  /** The owner and the collaborators, and the caller's own role. */
  async collaborators(
    actor: Actor,
    queueId: string,
  ): Promise<{ ownerId: string; isPublic: boolean; yourRole: Role; collaborators: Collaborator[]; version: number }> {
    const { state, role } = await this.authorize(actor, queueId, 'read');
    return { ownerId: state.ownerId, isPublic: state.isPublic, yourRole: role, collaborators: state.collaborators, version: state.version };
  }

  /** Writes under way per queue (alone or joined): a write that finds one joins the next batch. */
  private readonly busy = new Map<string, number>();
  /** Per queue, the batch that is still taking writes (joinNext). */
  private readonly joining = new Map<string, Joined[]>();
  /** Batches committed and the writes in them, for tests and benchmarks. */
  readonly joinStats = { batches: 0, writes: 0, fallbacks: 0 };

  private async write(actor: Actor, queueId: string, cmd: QueueCommand, opts: WriteOptions, okStatus: number, byInvite = false): Promise<WriteResult> {
    // A queue with a write under way: this one is decided with the others waiting for it,
    // in one append, once that write has committed (a party's burst: one commit, not one each).
    // A pinned version, an invite's join and a queue's creation always go alone.
    const joinable = cmd.type !== 'create_queue' && !byInvite && opts.expectedVersion === undefined;
    this.busy.set(queueId, (this.busy.get(queueId) ?? 0) + 1);
    try {
      if (joinable && this.busy.get(queueId)! > 1) {
        if (opts.idempotencyKey) {
          const seen = await this.replay(actor, opts);
          if (seen !== null) return { status: seen.status, body: seen.body, replayed: true };
        }
        return await new Promise<WriteResult>((resolve, reject) => this.joinNext(queueId, { actor, cmd, opts, okStatus, resolve, reject }));
      }
      return await this.writeAlone(actor, queueId, cmd, opts, okStatus, byInvite);
    } finally {
      const n = this.busy.get(queueId)! - 1;
      if (n === 0) this.busy.delete(queueId);
      else this.busy.set(queueId, n);
    }
  }

  /**
   * Adds a write to the queue's next batch, or starts one: the batch takes writes until its
   * turn on the queue comes (the write under way has committed), then decides them in
   * order, each on the state the ones before it left, and appends their events in one
   * append. A write refused by its decision fails alone; the others commit. Should the append
   * fail on a key race (a retried request in the same batch), the keyed writes run alone
   * again, where a key is answered as usual, and the others join a new batch.
   */
  private joinNext(queueId: string, w: Joined): void {
    const open = this.joining.get(queueId);
    if (open !== undefined && open.length < MAX_JOINED) {
      open.push(w);
      return;
    }
    const batch = [w];
    this.joining.set(queueId, batch);
    type Outcome = { results: (WriteResult | AppError)[]; fresh: { state: QueueState; stored: QueueEvent[] } | null };
    this.commits
      .run<Outcome>(queueId, {
        retry: true,
        optimisticFirst: true,
        committed: ({ fresh }) => {
          if (fresh) this.committed(queueId, fresh.stored, fresh.state);
        },
        once: (attempt) => {
          // Its turn: later writes go to a new batch.
          if (this.joining.get(queueId) === batch) this.joining.delete(queueId);
          return this.decideBatch(queueId, batch, attempt);
        },
      })
      .then(
        ({ result }) => {
          this.joinStats.batches++;
          this.joinStats.writes += batch.length;
          batch.forEach((j, i) => {
            const r = result.results[i]!;
            if (r instanceof AppError) j.reject(r);
            else j.resolve(r);
          });
        },
        (err) => {
          if (this.joining.get(queueId) === batch) this.joining.delete(queueId);
          if (!(err instanceof IdempotencyConflict)) {
            for (const j of batch) j.reject(err);
            return;
          }
          // A key in the batch was recorded meanwhile (a retry joined while its first try was
          // under way, or the same key twice): keyed writes run alone, where a recorded key is
          // answered from its record; the others join a new batch.
          this.joinStats.fallbacks++;
          for (const j of batch) {
            if (j.opts.idempotencyKey) this.writeAlone(j.actor, queueId, j.cmd, j.opts, j.okStatus).then(j.resolve, j.reject);
            else this.joinNext(queueId, j);
          }
        },
      );
  }

  /** One attempt of a batch: every write decided in order on the state the earlier ones left, one append. */
  private async decideBatch(queueId: string, batch: Joined[], attempt: number) {
    // As writeAlone: the first attempt decides on the cached state, and a refusal decided on
    // it is decided again on the stored state.
    let cached = attempt === 1 ? this.cache.get(queueId) : undefined;
    for (;;) {
      const loaded = cached ?? (await this.load(queueId));
      const nowMs = this.deps.now();
      const now = new Date(nowMs).toISOString();
      let state = loaded ?? initialState(queueId);
      const results: (WriteResult | AppError)[] = [];
      const newEvents: NewEvent[] = [];
      const stored: QueueEvent[] = [];
      const records: NonNullable<AppendInput['idempotencyMany']> = [];
      let again = false;
      for (const { actor, cmd, opts, okStatus } of batch) {
        try {
          if (!loaded || state.deleted) throw queueNotFound(queueId);
          const role = roleOf(state, actor.userId);
          if (!can(role, 'read')) throw queueNotFound(queueId);
          permit(role, cmd, actor);
          const stamped = stamp(this.decideAs(state, cmd, actor, role, nowMs), actor, queueId, state.version, now);
          state = stamped.stored.reduce(evolve, state);
          newEvents.push(...stamped.newEvents);
          stored.push(...stamped.stored);
          const body: WriteBody = { events: stamped.stored, version: state.version };
          if (!opts.minimal) body.queue = toView(state, opts.window);
          if (opts.idempotencyKey)
            records.push({ userId: actor.userId, key: opts.idempotencyKey, fingerprint: opts.fingerprint ?? '', response: { status: okStatus, body } });
          results.push({ status: okStatus, body, replayed: false });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          if (cached) {
            again = true;
            break;
          }
          results.push(err);
        }
      }
      if (again) {
        this.cache.delete(queueId);
        cached = undefined;
        continue;
      }
      // Nothing decided (every write refused): nothing to append. Otherwise the append checks
      // the version even when the writes changed nothing, as a write alone does.
      const decided = results.some((r) => !(r instanceof AppError));
      if (loaded && decided) {
        try {
          await this.deps.store.append({
            queueId,
            expectedVersion: loaded.version,
            events: newEvents,
            state,
            idempotencyMany: records.length > 0 ? records : undefined,
          });
        } catch (err) {
          this.cache.delete(queueId);
          throw err;
        }
      }
      return { results, fresh: loaded && decided ? { state, stored } : null };
    }
  }

  private async writeAlone(actor: Actor, queueId: string, cmd: QueueCommand, opts: WriteOptions, okStatus: number, byInvite = false): Promise<WriteResult> {
    const { store } = this.deps;
    const { result, replayed } = await this.commits.run(queueId, {
      replay: opts.idempotencyKey ? () => this.replay(actor, opts) : undefined,
      // Another instance appended first: decide again on the fresh state, unless the client
      // pinned a version (then the conflict is the answer).
      retry: opts.expectedVersion === undefined && cmd.type !== 'create_queue',
      // Several instances: the first attempt is decided on the cached state without the lock
      // and batched with other queues' appends; a stale cache costs one conflict, then the
      // locked path below.
      optimisticFirst: true,
      committed: ({ fresh }) => {
        if (fresh) this.committed(queueId, fresh.stored, fresh.state);
      },
      once: async (attempt): Promise<Answer> => {
        // The first attempt uses the cached state as is; the append's version check catches a
        // stale one, and a refusal decided on it is decided again on the stored state. Several
        // instances (a stream lock): a retry runs under the lock, where the header's version
        // is authoritative, so load() checks the cache against it (one small read) and catches
        // up from the log, instead of another doomed append and a back-off.
        let cached = attempt === 1 && cmd.type !== 'create_queue' ? this.cache.get(queueId) : undefined;
        for (;;) {
          const loaded = cached ?? (await this.load(queueId));
          const state = loaded ?? initialState(queueId);
          const nowMs = this.deps.now();
          let bodies: ReturnType<typeof decide>;
          try {
            let role: Role | null = 'owner';
            if (cmd.type !== 'create_queue') {
              // [CO1] The one place REST and socket commands are authorized.
              if (!loaded || loaded.deleted) throw queueNotFound(queueId);
              role = roleOf(state, actor.userId);
              if (!byInvite) {
                if (!can(role, 'read')) throw queueNotFound(queueId);
                permit(role, cmd, actor);
              }
            }
            if (opts.expectedVersion !== undefined && opts.expectedVersion !== state.version) {
              throw new VersionConflictError(queueId, opts.expectedVersion, state.version);
            }
            bodies = this.decideAs(state, cmd, actor, role, nowMs);
          } catch (err) {
            this.cache.delete(queueId);
            if (cached) {
              cached = undefined;
              continue;
            }
            throw err;
          }
          const { newEvents, stored } = stamp(bodies, actor, queueId, state.version, new Date(nowMs).toISOString());
          const next = stored.reduce(evolve, state);
          const body: WriteBody = { events: stored, version: next.version };
          if (!opts.minimal) body.queue = toView(next, opts.window);
          try {
            await store.append({
              queueId,
              expectedVersion: state.version,
              events: newEvents,
              state: next,
              idempotency: opts.idempotencyKey
                ? // [QW5] The answer as sent: bounded by its window, never the whole queue.
                  { userId: actor.userId, key: opts.idempotencyKey, fingerprint: opts.fingerprint ?? '', response: { status: okStatus, body } }
                : undefined,
            });
          } catch (err) {
            this.cache.delete(queueId);
            throw err;
          }
          return { status: okStatus, body, fresh: { state: next, stored } };
        }
      },
    });
    return { status: result.status, body: result.body, replayed };
  }

  /**
   * After a commit, before the next write to the queue starts: listeners (metrics, the bus)
   * see a queue's events in sequence order, and the cache holds the new state.
   */
  private committed(queueId: string, events: QueueEvent[], state: QueueState): void {
    if (events.length > 0) this.listeners.tell(queueId, events, state);
    this.cache.set(queueId, state);
  }

  private decideAs(state: QueueState, cmd: QueueCommand, actor: Actor, role: Role | null, nowMs: number) {
    return decide(state, cmd, {
      userId: actor.userId,
      newId: this.deps.newId,
      random: this.deps.random,
      maxItems: this.deps.maxItemsPerQueue,
      role,
      time: nowMs,
      addsPerMinute: this.deps.addsPerMinute,
      maxCollaborators: this.deps.maxCollaborators,
    });
  }

  private async replay(actor: Actor, opts: WriteOptions): Promise<Answer | null> {
    const key = opts.idempotencyKey!;
    const rec = recall(await this.deps.store.getIdempotency(actor.userId, key), opts.fingerprint ?? '', keyReused(key));
    return rec && { status: rec.status, body: rec.body as WriteBody };
  }

  /**
   * Several commands to one queue, in order, committed in ONE append (offline sync, see
   * docs/OFFLINE.md). Each item is decided against the state left by the items before it;
   * an item that fails is reported alone and the others still apply. Every decided item's
   * answer is recorded under its idempotency key in the same transaction, so a retried
   * batch is answered from the records and appends nothing. Items whose key was recorded
   * before are answered from their record (replayed). When another writer appended first
   * the whole batch is decided again on the fresh state. A queue that is gone or that the
   * actor may not read fails every item that was not recorded before (nothing is written).
   */
  async executeMany(actor: Actor, queueId: string, items: BatchItem[], opts: BatchOptions = {}): Promise<BatchResult> {
    const { store } = this.deps;
    const fail = (error: AppError): BatchItemResult => ({ error, replayed: false });
    type Outcome = BatchResult & { fresh?: QueueState };
    /** Per item, its recorded answer (an earlier try of this batch), or null: to decide. Read by each round's replay. */
    let results: (BatchItemResult | null)[] = [];
    const { result: outcome } = await this.commits.run<Outcome>(queueId, {
      // Answers recorded before come first; when every item has one, they are the answer.
      replay: async () => {
        results = [];
        const keys = new Set<string>();
        for (const item of items) {
          if (keys.has(item.idempotencyKey)) {
            results.push(
              fail(invalid('duplicate_idempotency_key', 'this idempotency key appears twice in the batch', { idempotencyKey: item.idempotencyKey })),
            );
            continue;
          }
          keys.add(item.idempotencyKey);
          try {
            const rec = recall(await store.getIdempotency(actor.userId, item.idempotencyKey), item.fingerprint, keyReused(item.idempotencyKey));
            results.push(rec && fromRecord(rec));
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            results.push(fail(err));
          }
        }
        if (!results.every((r) => r !== null)) return null;
        const loaded = await this.load(queueId);
        const readable = loaded && !loaded.deleted && can(roleOf(loaded, actor.userId), 'read');
        return { items: results as BatchItemResult[], queue: readable ? toView(loaded) : null, events: [] };
      },
      // A concurrent try of this batch recorded some of its keys first: answer from them, decide the rest again.
      again: true,
      busy: 'a batch with these idempotency keys is being processed',
      // When another writer appended first the whole batch is decided again.
      retry: true,
      committed: (r) => {
        if (r.fresh) this.committed(queueId, r.events, r.fresh);
      },
      once: async () => {
        const loaded = await this.load(queueId);
        if (!loaded || loaded.deleted || !can(roleOf(loaded, actor.userId), 'read')) {
          const gone = fail(notFound('queue_not_found', 'queue not found', { queueId }));
          return { items: results.map((r) => r ?? gone), queue: null, events: [] as QueueEvent[] };
        }
        if (opts.prepare) await opts.prepare(loaded);
        const nowMs = this.deps.now();
        const now = new Date(nowMs).toISOString();
        let state = loaded;
        const newEvents: NewEvent[] = [];
        const stored: QueueEvent[] = [];
        const decided = [...results];
        const records: NonNullable<AppendInput['idempotencyMany']> = [];
        items.forEach((item, i) => {
          if (decided[i] !== null) return;
          let answer: BatchItemResult;
          try {
            const planned = typeof item.command === 'function' ? item.command(state, decided) : { command: item.command };
            const cmd = planned.command;
            if (cmd.type === 'create_queue') throw invalid('unsupported_command', 'a batch cannot create a queue');
            // Authorized as write() does ([CO1]), on the state as the batch left it.
            const role = roleOf(state, actor.userId);
            permit(role, cmd, actor);
            const { newEvents: evs, stored: seqd } = stamp(this.decideAs(state, cmd, actor, role, nowMs), actor, queueId, state.version, now);
            state = seqd.reduce(evolve, state);
            newEvents.push(...evs);
            stored.push(...seqd);
            const body: BatchItemBody = {
              sequenceNumbers: seqd.map((e) => e.sequenceNumber),
              itemIds: seqd.flatMap((e) => (e.type === 'item_added' ? [e.data.itemId] : [])),
            };
            if (planned.note) body.note = planned.note;
            answer = { body, replayed: false };
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            answer = fail(err);
          }
          decided[i] = answer;
          records.push({ userId: actor.userId, key: item.idempotencyKey, fingerprint: item.fingerprint, response: toRecord(answer) });
        });
        try {
          await store.append({ queueId, expectedVersion: loaded.version, events: newEvents, state, idempotencyMany: records });
        } catch (err) {
          this.cache.delete(queueId);
          throw err;
        }
        return { items: decided as BatchItemResult[], queue: toView(state), events: stored, fresh: state };
      },
    });
    const { fresh: _f, ...answer } = outcome;
    return answer;
  }
}

/** What executeMany records and answers for an applied item. */
export interface BatchItemBody {
  /** Sequence numbers of the item's events (empty: nothing to change). */
  sequenceNumbers: number[];
  /** Ids of the items it added. */
  itemIds: string[];
  /** What the caller's plan said about how it applied the command (e.g. a policy). */
  note?: Record<string, unknown>;
}

export interface BatchItem {
  /**
   * The command, or a plan made from the state left by the earlier items of the batch
   * (e.g. to resolve a gone anchor by a policy) and their answers so far (by index; null:
   * not decided yet). Throwing an AppError fails this item alone.
   */
  command: QueueCommand | ((state: QueueState, earlier: readonly (BatchItemResult | null)[]) => { command: QueueCommand; note?: Record<string, unknown> });
  idempotencyKey: string;
  /** What the item is, so a key reused for something else is refused. */
  fingerprint: string;
}

/** An item's answer: applied (or nothing to change) with its body, or refused with its error. */
export type BatchItemResult = ({ body: BatchItemBody; error?: undefined } | { error: AppError; body?: undefined }) & {
  /** True when the answer is the recorded answer of an earlier try. */
  replayed: boolean;
};

/**
 * An item's answer as its idempotency record keeps it: like an HTTP answer (status, body),
 * the status from the one kind-to-status table of src/http/errors.ts, read back through it.
 */
function toRecord(r: BatchItemResult): StoredResponse {
  if (!r.error) return { status: 200, body: r.body };
  const e = r.error;
  return { status: statusOf[e.kind], body: { error: { code: e.code, message: e.message, details: e.details } } };
}

/** A recorded answer, replayed. */
function fromRecord(rec: StoredResponse): BatchItemResult {
  if (rec.status === 200) return { body: rec.body as BatchItemBody, replayed: true };
  const e = (rec.body as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
  return { error: new AppError(kindOfStatus(rec.status) ?? 'invalid', e.code, e.message, e.details), replayed: true };
}

export interface BatchOptions {
  /** Runs after each load of the queue, before the items are decided (e.g. to read its history up to that version). */
  prepare?: (state: QueueState) => Promise<void>;
}

export interface BatchResult {
  items: BatchItemResult[];
  /** The queue after the batch; null when it is gone or not readable by the actor. */
  queue: QueueView | null;
  /** The events this call appended. */
  events: QueueEvent[];
}
