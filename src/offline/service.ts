// Offline sync: replays a batch of changes made offline, once each, in the client's order,
// by the per-operation policies of policy.ts (docs/OFFLINE.md), and answers what happened
// to each change plus every event the client needs to rebase. Each queue's accepted
// changes commit in one append (QueueService.executeMany); the playback group is one write.
import type { Static } from '@sinclair/typebox';
import { AppError, conflict, invalid } from '../errors.ts';
import type { PlaybackService, PlaybackWrite } from '../playback/service.ts';
import { PlaybackWriteBody } from '../playback/schemas.ts';
import { parseClientTime, type PlaybackView } from '../playback/playback.ts';
import { queueCommandOf } from '../queues/ops.ts';
import { can, roleOf } from '../queues/permissions.ts';
import { toView, type QueueEvent, type QueueState, type QueueView } from '../queues/queue.ts';
import type { Actor } from '../model/actor.ts';
import { fingerprint, idempotencyCutoff, recall, sweepExpired } from '../util/commit.ts';
import type { BatchItem, BatchItemResult, QueueService } from '../queues/service.ts';
import type { QueueStreams, UserEvent, UserStreams } from '../store/port.ts';
import { strictAjv } from '../validation.ts';
import { lastAtOrBefore } from './catchup.ts';
import { emptyHistory, foldHistory, planQueueChange, type QueueHistory, type Resolution } from './policy.ts';
import { refsIn, withRefs } from './refs.ts';
import {
  MAX_CHANGES,
  MAX_EVENTS_PER_STREAM,
  MAX_EVENTS_TOTAL,
  MAX_QUEUES_PER_BATCH,
  OfflineChange,
  QUEUE_ID_PATTERN,
  SYNCED_OUTCOMES,
  type Outcome,
} from './schemas.ts';
import { markKey, type HighWaterMark, type OfflineStore, type ResourceType, type StoredOutcome } from './store.ts';

export interface OfflineDeps {
  store: QueueStreams & UserStreams;
  queues: QueueService;
  playback: PlaybackService;
  offline: OfflineStore;
  now: () => number;
  /**
   * IDEMPOTENCY_TTL_HOURS (default 24 h): a change's recorded outcome is replayed this long,
   * like every idempotency record, then swept. Past it, an id at or below its client's
   * high-water mark is still never applied again (answered `skipped`).
   */
  idempotencyTtlMs?: number;
}

export interface SyncRequest {
  changes: unknown[];
  lastSyncTimestamp: string | number | null;
  lastSequences?: { queues?: Record<string, number>; user?: number };
  /** Throws (an AppError) when the caller's token may not make this change (its scope, [AU7]): the change fails alone. */
  authorize?(resourceType: 'queue' | 'playback', op: string): void;
}

interface ErrorObj {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** A change whose envelope is valid: it has an identity (client, mutation) and a resource. */
interface Change {
  clientId: string;
  mutationId: number;
  resourceType: ResourceType;
  /** Normalised: the queue id, or the caller's user id for playback. */
  resourceId: string;
  baseVersion?: number;
  op: string;
  args: Record<string, unknown>;
  clientTs: number;
}

/** What happened to one change; also what is kept in offline_outcomes. */
interface Result {
  outcome: Outcome;
  resolution?: Resolution;
  reason?: ErrorObj;
  error?: ErrorObj;
  sequenceNumbers: number[];
  itemIds: string[];
}

/** An outcome as read back from offline_outcomes: a Result and where its change went. */
type Recorded = Result & { resourceType?: ResourceType; resourceId?: string };

/** The store keeps outcomes as JSON it does not read; this service wrote every one of them as a `Recorded`. */
function readRecorded(o: Record<string, unknown> | undefined): Recorded | undefined {
  if (o === undefined) return undefined;
  if (isRecorded(o)) return o;
  throw new Error(`unreadable offline outcome: ${JSON.stringify(o).slice(0, 200)}`);
}

function isRecorded(o: Record<string, unknown>): o is Record<string, unknown> & Recorded {
  return typeof o.outcome === 'string' && Array.isArray(o.sequenceNumbers) && Array.isArray(o.itemIds);
}

interface Entry {
  index: number;
  raw: unknown;
  change?: Change;
  /** A playback change's arguments, once validated. */
  playback?: PlaybackWrite;
  fp?: string;
  result?: Result;
  replayed?: boolean;
  /** Decided now: its outcome is recorded. */
  fresh?: boolean;
}

export interface SyncAnswer {
  synced: number;
  conflicts: { change: unknown; serverState: unknown; resolution: Resolution; reason: ErrorObj }[];
  errors: { change: unknown; error: ErrorObj }[];
  results: {
    index: number;
    clientId: string | null;
    mutationId: number | null;
    outcome: Outcome;
    replayed: boolean;
    sequenceNumbers: number[];
    itemIds: string[];
  }[];
  events: { queues: Record<string, QueueEvent[]>; user: UserEvent[] };
  hasMore: { queues: Record<string, boolean>; user: boolean };
  versions: { queues: Record<string, number>; user: number };
  queues: Record<string, QueueView>;
  serverTime: string;
}

const validateChange = strictAjv.compile(OfflineChange);
const validatePlayback = strictAjv.compile<Static<typeof PlaybackWriteBody>>(PlaybackWriteBody);
const queueIdRe = new RegExp(QUEUE_ID_PATTERN);
/** Stands in for a reference while the arguments are validated (a valid item id). */
const REF_PLACEHOLDER = 'offline-ref';
const HISTORY_CACHE = 256;
/**
 * Queue ops a batch may carry: editing and playing a queue. Membership, visibility and
 * deletion are online-only (their effects on others are not something to merge later).
 */
export const OFFLINE_QUEUE_OPS = [
  'add_tracks',
  'remove_item',
  'remove_items',
  'move_item',
  'clear',
  'set_shuffle',
  'set_repeat',
  'set_current',
  'next',
  'previous',
  'update_queue',
  'vote_item',
] as const;
const offlineQueueOps: ReadonlySet<string> = new Set(OFFLINE_QUEUE_OPS);

const errObj = (e: AppError): ErrorObj => ({ code: e.code, message: e.message, details: e.details });
const errorResult = (e: AppError): Result => ({ outcome: 'error', error: errObj(e), sequenceNumbers: [], itemIds: [] });
const conflictResult = (resolution: Resolution, reason: ErrorObj, extra: Partial<Result> = {}): Result => ({
  outcome: resolution,
  resolution,
  reason,
  sequenceNumbers: [],
  itemIds: [],
  ...extra,
});

/** An item error of executeMany or the playback write, as a result: a conflict with a resolution, or an error. */
function classify(err: AppError): Result {
  const error = errObj(err);
  if (err.kind === 'conflict') return conflictResult(error.details.resolution === 'server_wins' ? 'server_wins' : 'dropped', error);
  // Lost permissions, gone things and limits of the queue (queue_full, adds per minute) drop a change;
  // a reused key is the client's mistake.
  if (err.kind === 'forbidden' || err.kind === 'not_found' || err.kind === 'rate_limited' || (err.kind === 'limit' && !err.code.endsWith('_reused')))
    return conflictResult('dropped', error);
  return { outcome: 'error', error, sequenceNumbers: [], itemIds: [] };
}

export class OfflineSyncService {
  /** Per queue, what its log says about items and settings (policy.ts), kept up to date incrementally. */
  private readonly histories = new Map<string, QueueHistory>();

  private readonly deps: OfflineDeps;
  constructor(deps: OfflineDeps) {
    this.deps = deps;
  }

  /**
   * One sync, in five named phases over the batch's entries (each phase fills in what the
   * next reads: a change, a fingerprint, a result): envelopes, recorded outcomes, arguments,
   * apply, record; then the answer.
   */
  async sync(actor: Actor, req: SyncRequest): Promise<SyncAnswer> {
    if (req.changes.length > MAX_CHANGES) {
      throw new AppError('too_large', 'too_many_changes', `a batch holds at most ${MAX_CHANGES} changes; send the rest in another`, {
        limit: MAX_CHANGES,
        count: req.changes.length,
      });
    }
    const entries: Entry[] = req.changes.map((raw, index) => ({ index, raw }));
    const clientIds = this.readEnvelopes(entries, actor.userId);
    const valid = entries.filter((e) => e.change);
    const { pending, recorded } = await this.recallOutcomes(actor.userId, clientIds, valid);
    const { queueGroups, playbackGroup } = this.checkArguments(pending, req);
    const views = await this.apply(actor, queueGroups, playbackGroup, entries, recorded);
    await this.record(actor.userId, valid);
    return this.answer(actor, req, entries, views);
  }

  /**
   * [OF1] Phase 1, envelopes: each entry gets its change (or an error result), mutation ids
   * must increase per client in the order sent, and each change its fingerprint. Returns
   * the clients seen.
   */
  private readEnvelopes(entries: Entry[], userId: string): string[] {
    const lastOf = new Map<string, number>();
    for (const e of entries) {
      try {
        e.change = this.envelope(e.raw, userId);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        e.result = errorResult(err);
        continue;
      }
      const c = e.change;
      const last = lastOf.get(c.clientId);
      if (last !== undefined && c.mutationId <= last) {
        e.result = errorResult(
          invalid('mutation_id_not_increasing', `mutation ${c.mutationId} of client ${c.clientId} comes after ${last} in this batch`, {
            clientId: c.clientId,
            mutationId: c.mutationId,
            previous: last,
          }),
        );
        e.change = undefined;
        continue;
      }
      lastOf.set(c.clientId, c.mutationId);
      e.fp = fingerprint('offline', c.resourceType, c.resourceId, c.op, c.args, c.baseVersion ?? null, c.clientTs);
    }
    return [...lastOf.keys()];
  }

  /**
   * [OF1] Phase 2, what earlier syncs decided: a change with a recorded outcome is answered
   * from it (the one replay-or-reused decision of util/commit.ts: `mutation_id_reused` when
   * the id named another change), one at or below its high-water mark is skipped; the rest
   * are pending. Also returns the records read (references to earlier changes resolve from them).
   */
  private async recallOutcomes(
    userId: string,
    clientIds: string[],
    valid: Entry[],
  ): Promise<{ pending: Entry[]; recorded: Map<string, Map<number, StoredOutcome>> }> {
    const marks = clientIds.length ? await this.deps.offline.highWaters(userId, clientIds) : new Map<string, number>();
    const recorded = new Map<string, Map<number, StoredOutcome>>();
    for (const clientId of clientIds) {
      const ids = new Set<number>();
      for (const e of valid) {
        if (e.change!.clientId !== clientId) continue;
        ids.add(e.change!.mutationId);
        for (const ref of refsIn(e.change!.args)) ids.add(ref.mutationId);
      }
      recorded.set(clientId, await this.deps.offline.outcomes(userId, clientId, [...ids], this.cutoff()));
    }
    const pending: Entry[] = [];
    for (const e of valid) {
      const c = e.change!;
      const mark = marks.get(markKey(c.clientId, c.resourceType, c.resourceId)) ?? 0;
      let rec: StoredOutcome | null;
      try {
        rec = recall(recorded.get(c.clientId)?.get(c.mutationId), e.fp!, {
          code: 'mutation_id_reused',
          message: 'this mutation id was used for a different change',
          details: { clientId: c.clientId, mutationId: c.mutationId },
        });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        e.result = errorResult(err);
        continue;
      }
      if (rec) {
        e.result = readRecorded(rec.outcome);
        e.replayed = true;
      } else if (c.mutationId <= mark) {
        e.result = { outcome: 'skipped', sequenceNumbers: [], itemIds: [] };
      } else pending.push(e);
    }
    return { pending, recorded };
  }

  /**
   * Phase 3, arguments, before anything is applied: a malformed change (or one the token
   * may not make) fails alone. The rest are grouped: per queue, and the playback group.
   */
  private checkArguments(pending: Entry[], req: SyncRequest): { queueGroups: Map<string, Entry[]>; playbackGroup: Entry[] } {
    const queueGroups = new Map<string, Entry[]>();
    const playbackGroup: Entry[] = [];
    for (const e of pending) {
      const c = e.change!;
      e.fresh = true;
      try {
        req.authorize?.(c.resourceType, c.op);
        if (c.resourceType === 'queue') {
          if (!offlineQueueOps.has(c.op)) throw invalid('unknown_op', `op "${c.op}" cannot be sent in an offline batch`, { op: c.op, ops: OFFLINE_QUEUE_OPS });
          queueCommandOf(
            c.op,
            withRefs(c.args, () => REF_PLACEHOLDER),
          );
          if (!queueGroups.has(c.resourceId) && queueGroups.size >= MAX_QUEUES_PER_BATCH) {
            throw new AppError('too_large', 'too_many_queues', `a batch changes at most ${MAX_QUEUES_PER_BATCH} queues; send the rest in another`, {
              limit: MAX_QUEUES_PER_BATCH,
            });
          }
          const g = queueGroups.get(c.resourceId) ?? [];
          g.push(e);
          queueGroups.set(c.resourceId, g);
        } else {
          if (c.op !== 'set_playback') throw invalid('unknown_op', `unknown playback op "${c.op}"`, { op: c.op, ops: ['set_playback'] });
          const { mutationId: _m, ...args } = c.args;
          if (!validatePlayback(args)) {
            const v = validatePlayback.errors?.[0];
            throw invalid('validation_failed', `args${v?.instancePath ?? ''} ${v?.message ?? 'is invalid'}`, {
              op: c.op,
              issues: validatePlayback.errors ?? [],
            });
          }
          parseClientTime(args.timestamp);
          e.playback = args;
          playbackGroup.push(e);
        }
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        e.result = errorResult(err);
      }
    }
    return { queueGroups, playbackGroup };
  }

  /** [OF2] Phase 4, apply: each queue's changes in one append; then the playback state. Returns each queue's view after it. */
  private async apply(
    actor: Actor,
    queueGroups: Map<string, Entry[]>,
    playbackGroup: Entry[],
    entries: Entry[],
    recorded: Map<string, Map<number, StoredOutcome>>,
  ): Promise<Map<string, QueueView | null>> {
    const views = new Map<string, QueueView | null>();
    for (const [queueId, group] of queueGroups) views.set(queueId, await this.applyQueueGroup(actor, queueId, group, entries, recorded));
    if (playbackGroup.length) await this.applyPlayback(actor, playbackGroup);
    return views;
  }

  /** Phase 5, record what was decided now, and raise the marks, so a retry is answered the same way. */
  private async record(userId: string, valid: Entry[]): Promise<void> {
    const outcomes: StoredOutcome[] = [];
    const raise = new Map<string, HighWaterMark>();
    for (const e of valid) {
      const c = e.change!;
      if (!e.change || !e.result) continue;
      if (e.fresh)
        outcomes.push({
          clientId: c.clientId,
          mutationId: c.mutationId,
          fingerprint: e.fp!,
          outcome: { ...e.result, resourceType: c.resourceType, resourceId: c.resourceId },
        });
      // Only what has a record raises a mark: a reused id must not hide the change it was first used for.
      if (!e.fresh && !e.replayed) continue;
      const k = markKey(c.clientId, c.resourceType, c.resourceId);
      const m = raise.get(k);
      if (!m || m.mutationId < c.mutationId)
        raise.set(k, { clientId: c.clientId, resourceType: c.resourceType, resourceId: c.resourceId, mutationId: c.mutationId });
    }
    await this.deps.offline.commit(userId, outcomes, [...raise.values()], new Date(this.deps.now()).toISOString(), this.cutoff());
  }

  /** The one expiry (util/commit.ts): outcomes recorded before this have expired. */
  private cutoff(): string {
    return idempotencyCutoff(this.deps, this.deps.now());
  }

  /** The sweeper's part: deletes the expired outcomes (the high-water marks stay); how many. */
  sweep(): Promise<number> {
    return sweepExpired((before, limit) => this.deps.offline.sweepOutcomes(before, limit), this.cutoff());
  }

  /** The envelope of one change, or an AppError saying what is wrong with it. */
  private envelope(raw: unknown, userId: string): Change {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('invalid_change', 'a change is an object');
    if (!validateChange(raw)) {
      const v = validateChange.errors?.[0];
      throw invalid('validation_failed', `change${v?.instancePath ?? ''} ${v?.message ?? 'is invalid'}`, { issues: validateChange.errors ?? [] });
    }
    const r = raw as {
      clientId: string;
      mutationId: number;
      resourceType: ResourceType;
      resourceId: string;
      baseVersion?: number;
      op: string;
      args?: Record<string, unknown>;
      clientTimestamp: string | number;
    };
    let resourceId = r.resourceId;
    if (r.resourceType === 'queue' && !queueIdRe.test(resourceId)) {
      throw invalid('invalid_resource_id', 'resourceId of a queue change is a queue id', { resourceId });
    }
    if (r.resourceType === 'playback') {
      if (resourceId !== 'me' && resourceId !== userId)
        throw new AppError('forbidden', 'forbidden', 'playback changes are for your own user (resourceId: your user id or "me")', { resourceId });
      resourceId = userId;
    }
    const c: Change = {
      clientId: r.clientId,
      mutationId: r.mutationId,
      resourceType: r.resourceType,
      resourceId,
      op: r.op,
      args: r.args ?? {},
      clientTs: parseClientTime(r.clientTimestamp),
    };
    if (r.baseVersion !== undefined) c.baseVersion = r.baseVersion;
    return c;
  }

  /** [OF2]-[OF9] One queue's changes, decided in order on the evolving state, committed in one append. */
  private async applyQueueGroup(
    actor: Actor,
    queueId: string,
    group: Entry[],
    all: Entry[],
    records: Map<string, Map<number, StoredOutcome>>,
  ): Promise<QueueView | null> {
    let history = emptyHistory();
    const items: BatchItem[] = group.map((e, gi) => {
      const c = e.change!;
      return {
        idempotencyKey: `offline:${c.clientId}:${c.mutationId}`,
        fingerprint: e.fp!,
        command: (state: QueueState, earlier: readonly (BatchItemResult | null)[]) => {
          const added = (mutationId: number): string[] | null => {
            const at = group.findIndex((g) => g.change!.clientId === c.clientId && g.change!.mutationId === mutationId);
            if (at >= 0) {
              const r = at < gi ? earlier[at] : null;
              return r?.body ? r.body.itemIds : null;
            }
            const inBatch = all.find((x) => x.change?.clientId === c.clientId && x.change.mutationId === mutationId && x.result);
            const before = readRecorded(records.get(c.clientId)?.get(mutationId)?.outcome);
            const prior = inBatch?.result ?? before;
            const where = inBatch?.change?.resourceId ?? before?.resourceId;
            return prior && where === queueId ? prior.itemIds : null;
          };
          const args = withRefs(c.args, (ref) => {
            const id = added(ref.mutationId)?.[ref.index];
            if (id === undefined) {
              throw conflict('unresolved_reference', `${ref.text} does not name an item this client added to this queue`, {
                ref: ref.text,
                resolution: 'dropped',
              });
            }
            return id;
          });
          const { command } = queueCommandOf(c.op, args);
          const inBatch = new Set(earlier.flatMap((r) => r?.body?.itemIds ?? []));
          const planned = planQueueChange({ baseVersion: c.baseVersion, clientTs: c.clientTs }, command, state, history, {
            deviceId: actor.deviceId,
            addedInBatch: inBatch,
          });
          return planned.note ? { command: planned.command, note: planned.note } : { command: planned.command };
        },
      };
    });
    const res = await this.deps.queues.executeMany(actor, queueId, items, {
      prepare: async (state) => {
        history = await this.historyOf(queueId, state.version);
      },
    });
    res.items.forEach((r, gi) => {
      const e = group[gi]!;
      e.replayed = r.replayed;
      if (r.error) {
        e.result = classify(r.error);
      } else {
        const note = r.body.note as { resolution: Resolution; reason: ErrorObj } | undefined;
        const base = { sequenceNumbers: r.body.sequenceNumbers, itemIds: r.body.itemIds };
        e.result = note
          ? { ...conflictResult(note.resolution, note.reason), ...base }
          : { outcome: r.body.sequenceNumbers.length ? 'applied' : 'noop', ...base };
      }
    });
    return res.queue;
  }

  /**
   * [OF10] Playback: the newest state of the batch (by its own timestamp) is written, once,
   * unless the server holds a newer one (server_wins). The older states of the batch share its fate.
   */
  private async applyPlayback(actor: Actor, group: Entry[]): Promise<void> {
    const tsOf = (e: Entry) => parseClientTime(e.playback!.timestamp);
    let newest = group[0]!;
    for (const e of group) if (tsOf(e) >= tsOf(newest)) newest = e;
    const c = newest.change!;
    const latest = await this.currentPlayback(actor.userId);
    let fate: Result;
    if (latest && Date.parse(latest.timestamp) > tsOf(newest)) {
      fate = conflictResult('server_wins', {
        code: 'newer_playback_state',
        message: 'the server has a newer playback state',
        details: { storedTimestamp: latest.timestamp, receivedTimestamp: new Date(tsOf(newest)).toISOString(), storedDeviceId: latest.deviceId },
      });
      newest.result = fate;
    } else {
      try {
        const w = await this.deps.playback.write(actor, newest.playback!, { idempotencyKey: `offline:${c.clientId}:${c.mutationId}`, fingerprint: newest.fp! });
        newest.result = { outcome: 'applied', sequenceNumbers: [w.body.sequenceNumber], itemIds: [] };
        newest.replayed = w.replayed;
        fate = { outcome: 'superseded', sequenceNumbers: [], itemIds: [] };
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        const r = classify(err);
        if (err.code === 'stale_playback_state') Object.assign(r, { outcome: 'server_wins', resolution: 'server_wins' });
        newest.result = r;
        fate =
          r.outcome === 'server_wins'
            ? r
            : r.outcome === 'error'
              ? conflictResult('dropped', {
                  code: 'newer_change_failed',
                  message: 'the newer playback state of this batch was not applied',
                  details: { mutationId: c.mutationId },
                })
              : r;
      }
    }
    for (const e of group) if (e !== newest) e.result = { ...fate, sequenceNumbers: [], itemIds: [] };
  }

  private async currentPlayback(userId: string): Promise<PlaybackView | null> {
    try {
      return await this.deps.playback.get(userId);
    } catch (err) {
      if (err instanceof AppError && err.code === 'no_playback_state') return null;
      throw err;
    }
  }

  /** The queue's history folded up to at least `version` (cached; the log is read only past what is known). */
  private async historyOf(queueId: string, version: number): Promise<QueueHistory> {
    let h = this.histories.get(queueId);
    if (!h || h.upTo > version + 100_000) h = emptyHistory();
    while (h.upTo < version) {
      const page = await this.deps.store.readEvents(queueId, h.upTo, 1000);
      if (page.length === 0) break;
      foldHistory(h, page);
    }
    this.histories.delete(queueId);
    this.histories.set(queueId, h);
    if (this.histories.size > HISTORY_CACHE) this.histories.delete(this.histories.keys().next().value!);
    return h;
  }

  /** The answer: per change what happened, and every event the client needs to rebase. */
  private async answer(actor: Actor, req: SyncRequest, entries: Entry[], views: Map<string, QueueView | null>): Promise<SyncAnswer> {
    const { store } = this.deps;
    const userId = actor.userId;
    const since = req.lastSyncTimestamp === null ? null : parseClientTime(req.lastSyncTimestamp);
    const queueIds = new Set<string>();
    for (const e of entries) if (e.change?.resourceType === 'queue') queueIds.add(e.change.resourceId);
    for (const q of Object.keys(req.lastSequences?.queues ?? {})) queueIds.add(q);

    const out: SyncAnswer = {
      synced: 0,
      conflicts: [],
      errors: [],
      results: [],
      events: { queues: {}, user: [] },
      hasMore: { queues: {}, user: false },
      versions: { queues: {}, user: 0 },
      queues: {},
      serverTime: new Date(this.deps.now()).toISOString(),
    };
    const states = new Map<string, QueueState | null>();
    let budget = MAX_EVENTS_TOTAL;
    for (const q of queueIds) {
      const s = await store.loadQueue(q);
      const readable = s !== null && can(roleOf(s, userId), 'read');
      states.set(q, readable ? s : null);
      if (!readable) continue;
      // Deleted queues keep their log readable: the client learns of the deletion from it.
      const after = req.lastSequences?.queues?.[q] ?? (since === null ? 0 : await lastAtOrBefore(since, s.version, (k) => store.readEvents(q, k, 1)));
      const cap = Math.min(MAX_EVENTS_PER_STREAM, budget);
      const page = cap > 0 ? await store.readEvents(q, after, cap + 1) : [];
      out.events.queues[q] = page.slice(0, cap);
      out.hasMore.queues[q] = page.length > cap || (cap === 0 && after < s.version);
      budget -= out.events.queues[q]!.length;
      out.versions.queues[q] = Math.max(s.version, page[page.length - 1]?.sequenceNumber ?? 0);
      if (!s.deleted) out.queues[q] = views.get(q) && views.get(q)!.version >= s.version ? views.get(q)! : toView(s);
    }
    const userVersion = await store.userVersion(userId);
    const afterUser = req.lastSequences?.user ?? (since === null ? 0 : await lastAtOrBefore(since, userVersion, (k) => store.readUserEvents(userId, k, 1)));
    const userPage = await store.readUserEvents(userId, afterUser, MAX_EVENTS_PER_STREAM + 1);
    out.events.user = userPage.slice(0, MAX_EVENTS_PER_STREAM);
    out.hasMore.user = userPage.length > MAX_EVENTS_PER_STREAM;
    out.versions.user = Math.max(userVersion, userPage[userPage.length - 1]?.sequenceNumber ?? 0);

    let playback: PlaybackView | null | undefined;
    for (const e of entries) {
      const r = e.result!;
      const c = e.change;
      out.results.push({
        index: e.index,
        clientId: c?.clientId ?? null,
        mutationId: c?.mutationId ?? null,
        outcome: r.outcome,
        replayed: e.replayed ?? false,
        sequenceNumbers: r.sequenceNumbers ?? [],
        itemIds: r.itemIds ?? [],
      });
      if (SYNCED_OUTCOMES.has(r.outcome)) out.synced++;
      if (r.outcome === 'error') out.errors.push({ change: e.raw, error: r.error! });
      else if (r.resolution) {
        let serverState: unknown = null;
        if (c?.resourceType === 'queue') serverState = summary(c.resourceId, states.get(c.resourceId) ?? null);
        else if (c?.resourceType === 'playback') serverState = playback === undefined ? (playback = await this.currentPlayback(userId)) : playback;
        out.conflicts.push({ change: e.raw, serverState, resolution: r.resolution, reason: r.reason! });
      }
    }
    return out;
  }
}

/** What a queue conflict met: the queue's summary (the whole queue is in `queues`); null when it cannot be read. */
function summary(queueId: string, s: QueueState | null): Record<string, unknown> | null {
  if (!s) return null;
  if (s.deleted) return { queueId, version: s.version, deleted: true };
  return { queueId, version: s.version, deleted: false, currentItemId: s.currentItemId, shuffle: s.shuffle, repeat: s.repeat, itemCount: s.items.length };
}
