// The admission controller on a virtual clock (issue 20; docs/SPEC.md [AD1]-[AD7]): a
// burst that drains, a standing queue, recovery, fairness, per-queue backlogs and the
// fan-out. A simulated server finishes the running work one piece at a time, each taking
// `serviceMs` of its one CPU, as the event loop does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionControl, type AdmissionLimits, type RefusalReason, type Ticket, type Timers, type Work } from '../../src/http/admission-control.ts';

class VirtualTimers implements Timers {
  t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clear(h: unknown): void {
    this.pending.delete(h as number);
  }
  /** Runs every timer due up to now + ms, in time order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

const LIMITS: AdmissionLimits = { concurrency: 4, maxQueued: 1000, maxWaitMs: 2000, targetMs: 50, intervalMs: 1000, shedWaitMs: 500, maxFanOutLagMs: 250 };

interface Done {
  id: number;
  arrivedAt: number;
  startedAt: number | null;
  refused: RefusalReason | null;
  endedAt: number | null;
  work: Work;
}

/** A controller and a one-CPU server that finishes the running work in start order, `serviceMs` each. */
function simulate(limits: Partial<AdmissionLimits> = {}, serviceMs = 1, lag: () => number = () => 0) {
  const timers = new VirtualTimers();
  const control = new AdmissionControl({ ...LIMITS, ...limits }, timers, lag);
  const running: { ticket: Ticket; rec: Done }[] = [];
  const all: Done[] = [];
  let cpuBusy = false;
  const cpu = () => {
    const job = running.shift();
    if (!job) {
      cpuBusy = false;
      return;
    }
    job.rec.endedAt = timers.now();
    job.ticket.end();
    timers.set(cpu, serviceMs);
  };
  const kick = () => {
    if (!cpuBusy && running.length > 0) {
      cpuBusy = true;
      timers.set(cpu, serviceMs);
    }
  };
  const send = (work: Partial<Work> = {}): Done => {
    const w: Work = { tenant: 'a', write: false, queueId: null, ...work };
    const rec: Done = { id: all.length, arrivedAt: timers.now(), startedAt: null, refused: null, endedAt: null, work: w };
    all.push(rec);
    control.admit(w, (ticket, refused) => {
      if (refused) rec.refused = refused;
      else {
        rec.startedAt = timers.now();
        running.push({ ticket, rec });
        kick();
      }
    });
    return rec;
  };
  return { timers, control, all, send };
}

describe('admission control on a virtual clock', () => {
  it('[AD1] below the concurrency floor everything starts at once and nothing waits', () => {
    const s = simulate({ concurrency: 16 });
    const burst = Array.from({ length: 16 }, () => s.send({ write: true, queueId: 'q' }));
    assert.ok(
      burst.every((r) => r.startedAt === 0),
      'all 16 started on arrival',
    );
    assert.equal(s.control.stats().waiting, 0);
    s.timers.advance(100);
    assert.ok(burst.every((r) => r.endedAt !== null && r.refused === null));
  });

  it('[AD2] a burst that drains within the interval is served in full, in arrival order, without declaring overload', () => {
    const s = simulate({}, 1);
    const burst = Array.from({ length: 600 }, (_, i) => s.send({ tenant: `u${i % 10}` }));
    let sawOverload = false;
    for (let t = 0; t < 800; t += 10) {
      s.timers.advance(10);
      sawOverload ||= s.control.stats().overloaded;
    }
    assert.equal(burst.filter((r) => r.refused).length, 0, 'nothing refused');
    assert.ok(
      burst.every((r) => r.endedAt !== null),
      'all served',
    );
    assert.equal(sawOverload, false);
    // Lines take turns, each line in its own arrival order.
    for (let u = 0; u < 10; u++) {
      const mine = burst.filter((r) => r.work.tenant === `u${u}`).map((r) => r.startedAt!);
      assert.deepEqual(
        mine,
        [...mine].sort((a, b) => a - b),
      );
    }
  });

  it('[AD2] a burst that a slow host takes longer than the interval to drain is served in full, never shed', () => {
    // 2,000 requests arrive over 300 ms; each takes 2 ms of the one CPU (a busy host), so
    // the line needs 4 s, four intervals, to drain. No new demand comes meanwhile.
    const s = simulate({ maxWaitMs: 6000, maxQueued: 4096 }, 2);
    const burst: Done[] = [];
    let sawOverload = false;
    for (let t = 0; t < 300; t++) {
      for (let k = 0; k < 7; k++) burst.push(s.send({ tenant: `g${(t + k) % 25}` }));
      s.timers.advance(1);
    }
    for (let t = 300; t < 4600; t += 10) {
      s.timers.advance(10);
      sawOverload ||= s.control.stats().overloaded;
    }
    assert.equal(burst.length, 2100);
    assert.deepEqual(
      burst.filter((r) => r.refused).map((r) => r.refused),
      [],
      'nothing refused',
    );
    assert.ok(
      burst.every((r) => r.endedAt !== null),
      'all served',
    );
    assert.equal(sawOverload, false, 'a draining burst is not overload');
    // Served in arrival order within each line: the burst was not turned newest-first.
    const mine = burst.filter((r) => r.work.tenant === 'g0').map((r) => r.startedAt!);
    assert.deepEqual(
      mine,
      [...mine].sort((a, b) => a - b),
    );
  });

  it('[AD2][AD3] a standing queue is overload: newest first, waits past the shed bound refused, served latency bounded; then recovery', () => {
    // 2 arrivals per ms against 1 served per ms: demand beyond capacity, sustained.
    const s = simulate({}, 1);
    let overloadAt: number | null = null;
    for (let t = 0; t < 3000; t++) {
      s.send({ tenant: `u${t % 7}` });
      s.send({ tenant: `u${(t + 3) % 7}` });
      s.timers.advance(1);
      if (overloadAt === null && s.control.stats().overloaded) overloadAt = s.timers.now();
    }
    assert.ok(overloadAt !== null, 'overload declared');
    // The delay crosses the 50 ms target early; overload needs a whole interval above it.
    assert.ok(overloadAt >= 1000 && overloadAt <= 1200, `declared at ${overloadAt} ms`);
    const late = s.all.filter((r) => r.arrivedAt >= 1500 && r.arrivedAt < 2500);
    const served = late.filter((r) => r.startedAt !== null);
    const refused = late.filter((r) => r.refused !== null);
    assert.ok(served.length > 800, `served ${served.length}`);
    assert.ok(refused.length > 500, `refused ${refused.length}`);
    assert.ok(refused.every((r) => r.refused === 'wait_time'));
    // Served under overload: newest first, so most barely wait, and none past the shed bound.
    const waits = served.map((r) => r.startedAt! - r.arrivedAt).sort((a, b) => a - b);
    assert.ok(waits[Math.floor(waits.length / 2)]! <= 20, `median wait ${waits[Math.floor(waits.length / 2)]} ms`);
    assert.ok(waits[waits.length - 1]! <= 500, `longest wait ${waits[waits.length - 1]} ms`);
    // Recovery: demand falls below capacity; the queue drains and the state clears.
    for (let t = 0; t < 2000; t++) {
      if (t % 2 === 0) s.send({ tenant: 'calm' });
      s.timers.advance(1);
    }
    assert.equal(s.control.stats().overloaded, false);
    const calm = s.all.filter((r) => r.work.tenant === 'calm' && r.arrivedAt >= 4000);
    assert.ok(calm.length > 0 && calm.every((r) => r.refused === null && r.startedAt! - r.arrivedAt <= 5), 'after recovery nothing waits or is refused');
  });

  it('[AD3] work waits its turn for at most maxWaitMs, even when nothing finishes', () => {
    const s = simulate({ concurrency: 2, maxWaitMs: 300 }, 10_000);
    const held = [s.send(), s.send()];
    const waiting = Array.from({ length: 5 }, () => s.send());
    s.timers.advance(299);
    assert.ok(waiting.every((r) => r.refused === null && r.startedAt === null));
    s.timers.advance(2);
    assert.ok(waiting.every((r) => r.refused === 'wait_time'));
    assert.ok(held.every((r) => r.startedAt === 0));
  });

  it("[AD4] one tenant's flood does not starve the others: lines take turns", () => {
    const s = simulate({}, 1);
    const flood = Array.from({ length: 1000 }, () => s.send({ tenant: 'flood' }));
    s.timers.advance(5);
    const others = Array.from({ length: 20 }, (_, i) => s.send({ tenant: `user-${i}` }));
    s.timers.advance(60);
    assert.ok(
      others.every((r) => r.startedAt !== null && r.startedAt - r.arrivedAt <= 45),
      `others waited ${others.map((r) => (r.startedAt ?? Infinity) - r.arrivedAt)}`,
    );
    assert.ok(flood.filter((r) => r.startedAt === null).length > 800, 'the flood is still waiting');
  });

  it("[AD5] a full waiting room refuses the heaviest tenant's work first", () => {
    const s = simulate({ concurrency: 1, maxQueued: 10 }, 1000);
    s.send({ tenant: 'heavy' }); // runs
    const heavy = Array.from({ length: 10 }, () => s.send({ tenant: 'heavy' }));
    assert.equal(s.control.stats().waiting, 10);
    const light = s.send({ tenant: 'light' });
    assert.equal(light.refused, null, 'the light tenant gets in');
    assert.equal(heavy.filter((r) => r.refused === 'queue_full').length, 1, "one of the heavy tenant's waiting requests made room");
    assert.equal(heavy[9]!.refused, 'queue_full', 'the one its line would serve last');
    const more = s.send({ tenant: 'heavy' });
    assert.equal(more.refused, 'queue_full', "the heaviest tenant's own newcomer is refused");
  });

  it('[AD6] 200 writes to one queue wait their turn and are all served; a backlog that could not be served in time is refused at once', () => {
    // One queue's writes are serialised (here: 2 ms each on the simulated CPU).
    const s = simulate({}, 2);
    const burst = Array.from({ length: 200 }, (_, i) => s.send({ tenant: `guest-${i % 10}`, write: true, queueId: 'party' }));
    s.timers.advance(1000);
    assert.equal(burst.filter((r) => r.refused).length, 0);
    assert.ok(burst.every((r) => r.endedAt !== null));

    // A queue whose writes take 20 ms each cannot serve a backlog of 200 within the 2 s bound.
    const slow = simulate({ concurrency: 200 }, 20);
    const flood = Array.from({ length: 200 }, () => slow.send({ write: true, queueId: 'slow' }));
    slow.timers.advance(100); // some finish: the queue's pace is known
    const late = Array.from({ length: 150 }, () => slow.send({ write: true, queueId: 'slow' }));
    assert.ok(
      late.some((r) => r.refused === 'queue_busy'),
      'refused once the backlog is past the bound',
    );
    assert.ok(
      flood.every((r) => r.refused === null),
      'the writes already counted are not',
    );
    const other = slow.send({ write: true, queueId: 'other' });
    assert.equal(other.refused, null, 'another queue is not affected');
  });

  it('[AD7] writes wait while the fan-out lags; reads go on; the writes start once it caught up', () => {
    let lag = 1000;
    const s = simulate({}, 1, () => lag);
    const write = s.send({ write: true, queueId: 'q' });
    const read = s.send();
    assert.equal(write.startedAt, null);
    assert.equal(read.startedAt, 0);
    s.timers.advance(100);
    assert.equal(write.startedAt, null);
    lag = 10;
    s.timers.advance(10);
    assert.ok(write.startedAt !== null && write.refused === null);
  });

  it('work whose client went away while waiting is dropped, never started', () => {
    const s = simulate({ concurrency: 1 }, 100);
    s.send();
    const tickets: Ticket[] = [];
    const started: boolean[] = [];
    for (let i = 0; i < 3; i++)
      tickets.push(
        s.control.admit({ tenant: 'x', write: false, queueId: null }, (t) => {
          started.push(true);
          t.end();
        }),
      );
    tickets[1]!.end();
    assert.equal(s.control.stats().waiting, 2);
    s.timers.advance(1000);
    assert.equal(started.length, 2);
  });

  it('the heap bound refuses new work and new sockets', () => {
    const s = simulate();
    s.control.heapOver = true;
    assert.equal(s.send().refused, 'heap');
    assert.equal(s.control.upgradeRefusal(), 'heap');
    s.control.heapOver = false;
    assert.equal(s.send().refused, null);
    assert.equal(s.control.upgradeRefusal(), null);
  });
});
