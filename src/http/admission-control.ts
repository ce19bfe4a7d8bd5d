// The admission controller (issue 20; docs/SPEC.md [AD1]-[AD9]): how many requests and
// socket commands are worked on at once, who waits, for how long, in which order, and
// what is refused when demand stays beyond capacity. Pure: the clock and the timers come
// in, so tests drive it with a virtual clock (test/unit/admission.test.ts).
//
// - Up to `concurrency` pieces of work run at once; nothing is refused below that floor.
// - More work waits in a line per tenant (a token, or an address): lines take turns, so
//   one flood does not starve other users ([AD4]).
// - A burst waits and is served in arrival order. Overload is a queue that stands: the
//   delay of the oldest waiting work has stayed above `targetMs` for a whole `intervalMs`
//   (CoDel's rule, on the minimum of the delay, not on one sample) ([AD2]), while demand
//   keeps coming: work arrived in the last half interval and the line did not get shorter
//   over it. A burst that a slow or busy host takes longer than the interval to drain has
//   no new arrivals and a line that shrinks: it waits and is served, never shed. Then the
//   newest work is served first (adaptive LIFO) and work that waited `shedWaitMs` is
//   refused, so the answers that are sent still arrive while their clients wait ([AD3]).
// - Nothing waits longer than `maxWaitMs` in any case; a full waiting room refuses the
//   heaviest tenant's work first ([AD5]); a write to a queue whose backlog could not be
//   served within the wait bound is refused at once ([AD6]).
// - Writes wait (they are not refused) while the socket fan-out lags ([AD7]).

export interface AdmissionLimits {
  /** Work started at once (HTTP requests and socket commands): the floor below which nothing waits or is refused. */
  concurrency: number;
  /** Work waiting for its turn; past it the heaviest tenant's is refused (queue_full). */
  maxQueued: number;
  /** The longest any work waits for its turn (ms). */
  maxWaitMs: number;
  /** Overload: the oldest waiting work's delay stayed above this (ms) ... */
  targetMs: number;
  /** ... for this long (ms). */
  intervalMs: number;
  /** Under overload: newest first, and work that waited this long (ms) is refused. */
  shedWaitMs: number;
  /** Writes wait while the socket fan-out lags more than this (ms); 0 = never. */
  maxFanOutLagMs: number;
}

export type RefusalReason = 'wait_time' | 'queue_full' | 'queue_busy' | 'heap' | 'shedding';

export interface Work {
  /** Whose work this is (a token, an address): lines are kept and refused per tenant. */
  tenant: string;
  write: boolean;
  /** The queue a write goes to, when it names one. */
  queueId: string | null;
}

export interface Timers {
  now(): number;
  /** Calls fn after ms; the handle goes to clear(). */
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** Told once what became of a piece of work: started (reason null) or refused. */
export type Outcome = (ticket: Ticket, refused: RefusalReason | null) => void;

const WAITING = 0;
const RUNNING = 1;
const ENDED = 2;

/**
 * One piece of work from admit() to its end. `end` is called once the work is done, or
 * when its client went away while it waited (it is then dropped without an answer).
 */
export class Ticket {
  state = WAITING;
  startedAt = 0;
  /** Counted in its queue's backlog ([AD6]). */
  onQueue = false;
  /** Where it sits in its line (an absolute index). */
  pos = 0;
  /** Next in arrival order (the expiry list). */
  next: Ticket | null = null;
  line: Line | null = null;
  readonly work: Work;
  readonly arrivedAt: number;
  readonly outcome: Outcome;
  private readonly control: AdmissionControl;

  constructor(control: AdmissionControl, work: Work, arrivedAt: number, outcome: Outcome) {
    this.control = control;
    this.work = work;
    this.arrivedAt = arrivedAt;
    this.outcome = outcome;
  }

  readonly end = (): void => {
    this.control.ended(this);
  };

  /** Refused, or ended: nothing more will happen to it. */
  get over(): boolean {
    return this.state === ENDED;
  }
}

/**
 * A tenant's reads and its writes wait in two lines, so that writes held back for the
 * fan-out ([AD7]) do not hold up the same tenant's reads.
 */
const lineKey = (w: Work) => (w.write ? 'w\u0000' : 'r\u0000') + w.tenant;

/** One tenant's waiting reads or writes: a deque (served from the front, or from the back under overload). */
class Line {
  items: (Ticket | null)[] = [];
  head = 0;
  /** The absolute index of items[0]. */
  offset = 0;
  live = 0;
  inRing = false;
  readonly key: string;

  constructor(key: string) {
    this.key = key;
  }

  push(t: Ticket): void {
    t.pos = this.offset + this.items.length;
    this.items.push(t);
    this.live++;
    t.line = this;
  }

  /** The next ticket to serve (front, or back when `newest`), left in place. */
  peek(newest: boolean): Ticket | null {
    if (newest) {
      while (this.items.length > this.head && this.items[this.items.length - 1] === null) this.items.pop();
      return this.items.length > this.head ? this.items[this.items.length - 1]! : null;
    }
    while (this.head < this.items.length && this.items[this.head] === null) this.head++;
    return this.head < this.items.length ? this.items[this.head]! : null;
  }

  /** Takes a ticket out (it is the one peek returned, or one that is ending). */
  take(t: Ticket): void {
    const i = t.pos - this.offset;
    if (i === this.items.length - 1) this.items.pop();
    else if (i === this.head) this.head++;
    else this.items[i] = null;
    t.line = null;
    this.live--;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.offset += this.head;
      this.head = 0;
    }
  }
}

/** What a queue's writes have told about its backlog ([AD6]), while it has one. */
interface QueueBacklog {
  pending: number;
  /** Smoothed time between two of its writes finishing (ms), once `samples` says it means something. */
  everyMs: number;
  samples: number;
  /** When the last of its writes finished; null before the first. */
  lastDoneAt: number | null;
}

/** How long the line was, and how much work had arrived, at a moment. */
interface LineSample {
  at: number;
  waiting: number;
  arrivals: number;
}

/** Intervals between finished writes before a queue's pace is trusted to refuse on. */
const PACE_SAMPLES = 4;

export interface AdmissionStats {
  running: number;
  waiting: number;
  overloaded: boolean;
}

export class AdmissionControl {
  private running = 0;
  private waiting = 0;
  private overloaded = false;
  /** Since when the oldest waiting work's delay has been above the target (null: it is not). */
  private aboveSince: number | null = null;
  private lastBelowAt = 0;
  /** Work admitted so far (a count that only grows). */
  private arrivals = 0;
  /**
   * The line as it was, sampled every half interval: `older` is between half an interval
   * and (while work keeps coming) a whole one ago. Demand is sustained when work arrived
   * since `older` and the line is at least as long as it was then.
   */
  private older: LineSample = { at: 0, waiting: 0, arrivals: 0 };
  private newer: LineSample = { at: 0, waiting: 0, arrivals: 0 };
  /** Every waiting ticket in arrival order (ended ones are skipped lazily). */
  private first: Ticket | null = null;
  private last: Ticket | null = null;
  private readonly lines = new Map<string, Line>();
  /** The lines with waiting work, taken in turn. */
  private readonly ring: Line[] = [];
  private turn = 0;
  private heaviest: Line | null = null;
  private readonly backlogs = new Map<string, QueueBacklog>();
  private timer: unknown = null;
  private timerAt = Infinity;
  private pumping = false;
  readonly limits: AdmissionLimits;
  private readonly timers: Timers;
  private readonly fanOutLagMs: () => number;
  /** Set while the heap is past its bound (sampled by the caller): new work is refused. */
  heapOver = false;

  constructor(limits: AdmissionLimits, timers: Timers, fanOutLagMs: () => number = () => 0) {
    this.limits = limits;
    this.timers = timers;
    this.fanOutLagMs = fanOutLagMs;
  }

  stats(): AdmissionStats {
    return { running: this.running, waiting: this.waiting, overloaded: this.overloaded };
  }

  /**
   * Asks to start a piece of work. `outcome` is called once: at once when the work may
   * start (or is refused at once), later when it waited. The returned ticket's `end` must be
   * called when the work is done or its client went away.
   */
  admit(work: Work, outcome: Outcome): Ticket {
    const now = this.timers.now();
    this.arrivals++;
    const t = new Ticket(this, work, now, outcome);
    if (this.heapOver) return this.refuse(t, 'heap');
    if (work.write && work.queueId !== null) {
      if (!this.countOnQueue(work.queueId)) return this.refuse(t, 'queue_busy');
      t.onQueue = true;
    }
    if (this.running < this.limits.concurrency && this.waiting === 0 && !this.held(work)) {
      this.start(t, now);
      return t;
    }
    this.observe(now);
    if (this.waiting >= this.limits.maxQueued && !this.makeRoom(t)) return this.refuse(t, 'queue_full');
    this.enqueue(t);
    this.pump();
    this.arm(now);
    return t;
  }

  /** Would a new socket be refused now? Under overload, or with the heap past its bound. */
  upgradeRefusal(): RefusalReason | null {
    if (this.heapOver) return 'heap';
    this.observe(this.timers.now());
    return this.overloaded ? 'shedding' : null;
  }

  /** A ticket's end: done running (frees its place), or gone while waiting. */
  ended(t: Ticket): void {
    const was = t.state;
    if (was === ENDED) return;
    t.state = ENDED;
    const now = this.timers.now();
    if (was === WAITING) this.unqueue(t);
    else this.running--;
    if (t.onQueue) {
      t.onQueue = false;
      this.uncountOnQueue(t.work.queueId!, was === RUNNING, now);
    }
    if (this.waiting > 0) {
      this.pump();
      this.arm(now);
    }
  }

  // ---- waiting and starting

  private start(t: Ticket, now: number): void {
    t.state = RUNNING;
    t.startedAt = now;
    this.running++;
    t.outcome(t, null);
  }

  private refuse(t: Ticket, reason: RefusalReason): Ticket {
    const was = t.state;
    t.state = ENDED;
    if (was === WAITING && t.line) this.unqueue(t);
    if (t.onQueue) {
      t.onQueue = false;
      this.uncountOnQueue(t.work.queueId!, false, this.timers.now());
    }
    t.outcome(t, reason);
    return t;
  }

  /** Writes are held back while the fan-out lags ([AD7]). */
  private held(work: Work): boolean {
    return work.write && this.limits.maxFanOutLagMs > 0 && this.fanOutLagMs() > this.limits.maxFanOutLagMs;
  }

  private enqueue(t: Ticket): void {
    const key = lineKey(t.work);
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = new Line(key)));
    line.push(t);
    if (!line.inRing) {
      line.inRing = true;
      this.ring.push(line);
    }
    if (!this.heaviest || line.live > this.heaviest.live) this.heaviest = line;
    this.waiting++;
    if (this.last) this.last.next = t;
    else this.first = t;
    this.last = t;
  }

  private unqueue(t: Ticket): void {
    const line = t.line;
    if (!line) return;
    line.take(t);
    this.waiting--;
    if (line.live === 0) this.dropLine(line);
  }

  private dropLine(line: Line): void {
    if (line.inRing) {
      line.inRing = false;
      const i = this.ring.indexOf(line);
      if (i >= 0) {
        this.ring[i] = this.ring[this.ring.length - 1]!;
        this.ring.pop();
      }
    }
    this.lines.delete(line.key);
    if (this.heaviest === line) this.heaviest = null;
  }

  /** Starts waiting work while there is room: lines in turn; front first, or back under overload. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const now = this.timers.now();
      let heldBack = false;
      while (this.running < this.limits.concurrency && this.waiting > 0) {
        let picked: Ticket | null = null;
        for (let n = 0; n < this.ring.length && picked === null; n++) {
          if (this.turn >= this.ring.length) this.turn = 0;
          const line = this.ring[this.turn++]!;
          const t = line.peek(this.overloaded);
          if (t === null) continue;
          if (this.held(t.work)) {
            heldBack = true;
            continue;
          }
          picked = t;
        }
        if (picked === null) break;
        this.unqueue(picked);
        this.start(picked, now);
        this.observe(now);
      }
      // Writes held back for the fan-out are looked at again shortly.
      if (heldBack && this.running < this.limits.concurrency) this.arm(now, now + 5);
    } finally {
      this.pumping = false;
    }
  }

  /** A full waiting room: refuse the heaviest tenant's next-to-last work to make room, unless the newcomer's tenant is the heaviest ([AD5]). */
  private makeRoom(t: Ticket): boolean {
    let heavy = this.heaviest;
    if (!heavy || heavy.live === 0) {
      heavy = null;
      for (const line of this.ring) if (!heavy || line.live > heavy.live) heavy = line;
      this.heaviest = heavy;
    }
    const mine = this.lines.get(lineKey(t.work))?.live ?? 0;
    if (!heavy || heavy.key === lineKey(t.work) || heavy.live <= mine + 1) return false;
    // The one its line would serve last: the newest in a burst, the oldest under overload.
    const victim = heavy.peek(!this.overloaded);
    if (!victim) return false;
    this.refuse(victim, 'queue_full');
    return true;
  }

  // ---- overload ([AD2]) and deadlines ([AD3])

  private oldest(): Ticket | null {
    while (this.first !== null && this.first.state !== WAITING) {
      this.first = this.first.next;
      if (this.first === null) this.last = null;
    }
    return this.first;
  }

  /** Follows the oldest waiting work's delay: overload once it stayed above the target for an interval. */
  private observe(now: number): void {
    const o = this.oldest();
    const delay = o === null ? 0 : now - o.arrivedAt;
    if (delay <= this.limits.targetMs) {
      this.aboveSince = null;
      this.lastBelowAt = now;
      this.overloaded = false;
      return;
    }
    if (this.aboveSince === null) this.aboveSince = Math.max(this.lastBelowAt, o!.arrivedAt + this.limits.targetMs);
    const half = this.limits.intervalMs / 2;
    if (now - this.newer.at >= half) {
      this.older = this.newer;
      this.newer = { at: now, waiting: this.waiting, arrivals: this.arrivals };
    }
    if (this.overloaded || now - this.aboveSince < this.limits.intervalMs) return;
    if (now - this.older.at >= half && this.arrivals > this.older.arrivals && this.waiting >= this.older.waiting) this.overloaded = true;
    // A line that drains (a burst on a slow host): looked at again a quarter interval on.
    else this.aboveSince = now - this.limits.intervalMs + this.limits.intervalMs / 4;
  }

  private waitBound(): number {
    return this.overloaded ? Math.min(this.limits.shedWaitMs, this.limits.maxWaitMs) : this.limits.maxWaitMs;
  }

  /** Sets the timer for the next moment something may change: a deadline, or overload being declared. */
  private arm(now: number, at?: number): void {
    const o = this.oldest();
    if (o === null) {
      this.disarm();
      return;
    }
    let when = o.arrivedAt + this.waitBound();
    if (!this.overloaded) when = Math.min(when, (this.aboveSince ?? o.arrivedAt + this.limits.targetMs) + this.limits.intervalMs);
    if (at !== undefined) when = Math.min(when, at);
    when = Math.max(when, now);
    if (this.timer !== null && this.timerAt <= when) return;
    this.disarm();
    this.timerAt = when;
    this.timer = this.timers.set(this.tick, when - now);
  }

  private disarm(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private readonly tick = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.timers.now();
    this.observe(now);
    // Past its deadline, oldest first.
    const bound = this.waitBound();
    for (let o = this.oldest(); o !== null && now - o.arrivedAt >= bound; o = this.oldest()) this.refuse(o, 'wait_time');
    this.observe(now);
    this.pump();
    this.arm(now);
  };

  // ---- one queue's writes ([AD6])

  /** Counts a write in on its queue; false when the queue's backlog could not be served within the wait bound. */
  private countOnQueue(queueId: string): boolean {
    let b = this.backlogs.get(queueId);
    if (!b) {
      this.backlogs.set(queueId, (b = { pending: 0, everyMs: 0, samples: 0, lastDoneAt: null }));
    } else if (b.samples >= PACE_SAMPLES && b.pending * b.everyMs > this.waitBound()) {
      return false;
    }
    b.pending++;
    return true;
  }

  private uncountOnQueue(queueId: string, finished: boolean, now: number): void {
    const b = this.backlogs.get(queueId);
    if (!b) return;
    b.pending--;
    if (b.pending <= 0) {
      this.backlogs.delete(queueId);
      return;
    }
    if (!finished) return;
    // Writes of one queue finish one after the other: how often they do is how fast its
    // backlog drains (the first finish only starts the clock: it also carries the burst's arrival).
    if (b.lastDoneAt !== null) {
      const every = now - b.lastDoneAt;
      b.everyMs = b.samples === 0 ? every : 0.8 * b.everyMs + 0.2 * every;
      b.samples++;
    }
    b.lastDoneAt = now;
  }
}
