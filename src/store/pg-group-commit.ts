// Group commit for PostgreSQL (issue 21; docs/adr/0005): the appends that arrive in one
// turn of the event loop, on different queues, go to the database in ONE call of
// qs_append_queues (migration 023): one round trip and one commit for all of them, each
// append in a subtransaction of its own, so that a version conflict or a taken idempotency
// key fails that append alone. While a batch is out, the next appends gather for the next
// one (at most `maxInFlight` batches at once), so batches grow with the load. Every promise
// settles after the call returned, i.e. after COMMIT.
import type pg from 'pg';
import { VersionConflictError } from '../errors.ts';
import type { QueueEvent, QueueFold } from '../model/queue.ts';
import { IdempotencyConflict, snapshotEvery, type AppendInput, type RetentionOptions } from './port.ts';

type Outcome = { ok: true; snap: number; due: boolean } | { conflict: number } | { idem: [string, string] };

interface Job {
  input: AppendInput;
  resolve: (r: { events: QueueEvent[]; snapshotDue: boolean }) => void;
  reject: (err: unknown) => void;
}

export class PgGroupCommit {
  private pending: Job[] = [];
  private scheduled = false;
  private inFlight = 0;
  readonly stats = { transactions: 0, writes: 0, largest: 0 };
  private readonly pool: pg.Pool;
  private readonly fold: QueueFold;
  private readonly retention: RetentionOptions;
  private readonly cutoff: () => string;
  private readonly maxInFlight: number;
  private readonly maxWrites: number;

  constructor(pool: pg.Pool, fold: QueueFold, retention: RetentionOptions, cutoff: () => string, o: { maxInFlight?: number; maxWrites?: number } = {}) {
    this.pool = pool;
    this.fold = fold;
    this.retention = retention;
    this.cutoff = cutoff;
    this.maxInFlight = o.maxInFlight ?? 4;
    this.maxWrites = o.maxWrites ?? 128;
  }

  /** Appends in the next batch; rejects with VersionConflictError or IdempotencyConflict as the store's append does. */
  run(input: AppendInput): Promise<{ events: QueueEvent[]; snapshotDue: boolean }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    const jobs = this.pending.length <= this.maxWrites ? this.pending : this.pending.slice(0, this.maxWrites);
    this.pending = jobs === this.pending ? [] : this.pending.slice(jobs.length);
    // Header rows are locked in queue-id order, the same in every batch of every instance:
    // two batches never wait for each other's rows the other way round.
    jobs.sort((x, y) => (x.input.queueId < y.input.queueId ? -1 : x.input.queueId > y.input.queueId ? 1 : 0));
    this.inFlight++;
    void this.send(jobs).finally(() => {
      this.inFlight--;
      this.schedule();
    });
    this.schedule();
  };

  private async send(jobs: Job[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      const r = await this.pool.query<{ r: Outcome[] }>('SELECT qs_append_queues($1::jsonb, $2::timestamptz) AS r', [
        JSON.stringify(jobs.map((j) => this.payload(j.input))),
        this.cutoff(),
      ]);
      outcomes = r.rows[0]!.r;
    } catch (err) {
      // A deadlock or serialisation failure rolled the batch back: nothing of it is stored,
      // and each write is decided again (under its stream lock) like any version conflict.
      const code = (err as { code?: string }).code;
      for (const j of jobs) {
        j.reject(code === '40P01' || code === '40001' ? new VersionConflictError(j.input.queueId, j.input.expectedVersion, j.input.expectedVersion) : err);
      }
      return;
    }
    this.stats.transactions++;
    this.stats.writes += jobs.length;
    if (jobs.length > this.stats.largest) this.stats.largest = jobs.length;
    jobs.forEach((j, i) => {
      const o = outcomes[i]!;
      const { queueId, expectedVersion, events } = j.input;
      if ('ok' in o) {
        j.resolve({ events: events.map((e, k) => ({ ...e, queueId, sequenceNumber: expectedVersion + k + 1 }) as QueueEvent), snapshotDue: o.due });
      } else if ('conflict' in o) j.reject(new VersionConflictError(queueId, expectedVersion, o.conflict));
      else j.reject(new IdempotencyConflict(o.idem[0], o.idem[1]));
    });
  }

  /** One append as qs_append_queues takes it. */
  private payload(input: AppendInput): Record<string, unknown> {
    const st = input.state;
    const p: Record<string, unknown> = {
      q: input.queueId,
      v: input.expectedVersion,
      e: input.events.map((e) => ({ t: e.type, d: e.data, u: e.userId, dv: e.deviceId, at: e.timestamp })),
      h: { owner: st.ownerId, name: st.name, type: st.type, items: st.items.length, deleted: st.deleted, updated: st.updatedAt },
      every: snapshotEvery(st.items.length, this.retention),
    };
    // A new queue gets its first snapshot with its first events; later ones are written after
    // the answer, when the call says one is due (PostgresStore.putSnapshot).
    if (input.expectedVersion === 0) p.s = st;
    if (input.events.some((e) => this.fold.touchesAccess(e.type))) p.m = this.fold.members(st).map((m) => [m.userId, m.role]);
    const recs = [...(input.idempotency ? [input.idempotency] : []), ...(input.idempotencyMany ?? [])];
    // The answer travels as the text it is stored as: replayed byte for byte ([Q2]); a jsonb value would come back with its keys reordered.
    if (recs.length > 0)
      p.i = recs.map((r) => ({ u: r.userId, k: r.key, f: r.fingerprint, st: r.response.status, b: JSON.stringify(r.response.body ?? null) }));
    return p;
  }
}
