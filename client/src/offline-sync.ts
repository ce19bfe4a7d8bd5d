// The outbox flush of a QueueClient: once online, the edits made offline (the outbox's
// leading `offline` entries) go through POST /sync/offline in batches of 500, in order
// (docs/OFFLINE.md); the answer goes to the mirrors (events, conflicts, refusals) and to the
// edits' promises, and a failed sync is tried again with back-off while the socket stays
// up. QueueClient owns the socket, the mirrors and the promises; this only sends and sorts.
import type { Api, OfflineSyncAnswer } from './api.ts';
import { QueueServiceError } from './errors.ts';
import type { QueueMirror, MutationResult, OfflineConflict } from './mirror.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';
import type { PlaybackMirror } from './playback.ts';

/** What the flush needs from its client. */
export interface OfflineSyncHost {
  api: Api;
  outbox: Outbox;
  playback: PlaybackMirror;
  now(): number;
  deviceId: string;
  /** The sync socket is up (a sync is only tried then). */
  online(): boolean;
  /** The app closed the client: no more retries. */
  closed(): boolean;
  mirror(queueId: string): QueueMirror | undefined;
  mirrors(): Iterable<QueueMirror>;
  /** The promise of an edit, taken (resolved or rejected here, once). */
  takeWaiter(n: number): { resolve: (r: MutationResult) => void; reject: (e: QueueServiceError) => void } | undefined;
  /** The wait before the n-th retry (the client's reconnect back-off). */
  backoff(attempt: number): number;
  /** After a flush that went through: commands that waited behind the offline edits go now. */
  flushed(): void;
  conflict(c: OfflineConflict & { queueId: string }): void;
  synced(s: { edits: number; conflicts: number; refused: number }): void;
  error(err: QueueServiceError): void;
}

/** Offline outcomes whose intent is on the server (docs/OFFLINE.md; SYNCED_OUTCOMES in src/offline/schemas.ts). */
const SYNCED: ReadonlySet<string> = new Set(['applied', 'noop', 'merged', 'client_wins', 'superseded', 'skipped']);

/** Changes per POST /sync/offline. */
const BATCH = 500;

export class OfflineSync {
  private running = false;
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;

  private readonly h: OfflineSyncHost;
  constructor(host: OfflineSyncHost) {
    this.h = host;
  }

  /** A flush is under way: new edits queue as offline ones behind it, and commands wait. */
  get syncing(): boolean {
    return this.running;
  }

  /** Once online: offline edits through POST /sync/offline (in batches), then unacknowledged commands again. */
  async flush(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        if (!this.h.online()) return;
        const batch: OutboxEntry[] = [];
        for (const e of this.h.outbox.entries) {
          if (e.kind !== 'offline') break;
          batch.push(e);
          if (batch.length === BATCH) break;
        }
        if (batch.length === 0) break;
        await this.send(batch);
      }
    } catch (err) {
      this.h.error(err instanceof QueueServiceError ? err : new QueueServiceError(-1, 'offline_sync_failed', String(err)));
      // Kept in the outbox: tried again after a back-off while the socket stays up, and on
      // the next connection.
      this.running = false;
      this.retryLater();
      return;
    } finally {
      this.running = false;
    }
    this.failures = 0;
    // Edits keep their order: commands made before the offline ones (unacknowledged when the
    // socket dropped) go again now, and the offline edits behind them are sent once the last
    // of those is acknowledged or refused (afterCommand), not here.
    this.h.flushed();
  }

  /** A command left the outbox: offline edits that waited behind it go now. */
  afterCommand(): void {
    if (this.h.online() && this.h.outbox.entries[0]?.kind === 'offline') void this.flush();
  }

  /** A failed POST /sync/offline is tried again while online (jittered back-off, as reconnects). */
  private retryLater(): void {
    if (this.retry || this.h.closed()) return;
    const delay = this.h.backoff(this.failures);
    this.failures = Math.min(this.failures + 1, 30);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.h.online()) void this.flush();
    }, delay);
    (this.retry as { unref?: () => void }).unref?.();
  }

  /** One batch: sent, then its answer sorted out to the mirrors, the events and the edits' promises. */
  private async send(batch: OutboxEntry[]): Promise<void> {
    const { outbox } = this.h;
    const queues: Record<string, number> = {};
    for (const e of batch) if (e.resource !== 'playback') queues[e.queueId] ??= this.h.mirror(e.queueId)?.version ?? e.baseVersion;
    for (const m of this.h.mirrors()) if (Object.keys(queues).length < 100) queues[m.id] ??= m.version;
    const answer: OfflineSyncAnswer = await this.h.api.syncOffline({
      changes: batch.map((e) =>
        e.resource === 'playback'
          ? {
              clientId: outbox.clientId,
              mutationId: e.n,
              resourceType: 'playback' as const,
              resourceId: 'me',
              op: e.op,
              args: e.args,
              clientTimestamp: e.at,
            }
          : {
              clientId: outbox.clientId,
              mutationId: e.n,
              resourceType: 'queue' as const,
              resourceId: e.queueId,
              baseVersion: e.baseVersion,
              op: e.op,
              args: e.args,
              clientTimestamp: e.at,
            },
      ),
      lastSyncTimestamp: this.h.now(),
      lastSequences: { queues, user: this.h.playback.sequence },
      deviceId: this.h.deviceId,
    });
    const byN = new Map(batch.map((e) => [e.n, e]));
    for (const r of answer.results) {
      const entry = byN.get(Number(r.mutationId));
      if (entry && Array.isArray(r.itemIds)) outbox.resolved(entry.n, r.itemIds as string[]);
    }
    const removed = outbox.remove(batch.map((e) => e.n));
    for (const [q, events] of Object.entries(answer.events.queues)) {
      const m = this.h.mirror(q);
      if (!m) continue;
      m.ingest(events);
      m.changed([]);
      if ((answer.hasMore.queues as Record<string, boolean>)[q]) void m.refill();
    }
    for (const c of answer.conflicts as OfflineConflict[]) {
      const change = c.change as { resourceId?: string; resourceType?: string };
      const queueId = change?.resourceType === 'playback' ? '' : String(change?.resourceId ?? '');
      this.h.mirror(queueId)?.conflict(c);
      this.h.conflict({ ...c, queueId });
    }
    this.h.playback.ingest(answer.events.user);
    const refused = this.settle(answer, byN);
    this.h.synced({ edits: batch.length, conflicts: answer.conflicts.length, refused });
    await removed;
  }

  /** Each edit's promise: resolved with its events when its intent is on the server, else rejected (and rolled back); how many were refused. */
  private settle(answer: OfflineSyncAnswer, byN: Map<number, OutboxEntry>): number {
    const errorsByN = new Map(
      (answer.errors as { change: { mutationId?: number }; error: { code: string; message: string; details: Record<string, unknown> } }[]).map((x) => [
        Number(x.change?.mutationId),
        x.error,
      ]),
    );
    const conflictsByN = new Map((answer.conflicts as OfflineConflict[]).map((c) => [Number((c.change as { mutationId?: number })?.mutationId), c]));
    let refused = 0;
    for (const r of answer.results) {
      const n = Number(r.mutationId);
      const entry = byN.get(n);
      if (!entry) continue;
      const w = this.h.takeWaiter(n);
      const seqs = new Set((r.sequenceNumbers as number[] | undefined) ?? []);
      if (SYNCED.has(String(r.outcome))) {
        const events = (answer.events.queues[entry.queueId] ?? []).filter((e) => seqs.has(e.sequenceNumber));
        w?.resolve({ events, version: (answer.versions.queues as Record<string, number>)[entry.queueId] ?? 0 });
      } else {
        const e = errorsByN.get(n);
        const c = conflictsByN.get(n);
        const reason = (c?.reason ?? {}) as { code?: string; message?: string };
        const err = e
          ? new QueueServiceError(400, e.code, e.message, e.details)
          : new QueueServiceError(409, reason.code ?? String(r.outcome), reason.message ?? `offline edit ${r.outcome}`, { outcome: r.outcome, conflict: c });
        this.h.mirror(entry.queueId)?.refused(err);
        w?.reject(err);
        refused++;
      }
    }
    return refused;
  }
}
