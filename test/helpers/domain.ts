// A tiny given/when/then harness for the queue domain: decide + evolve with
// deterministic ids (item-1, item-2, ...), a seeded PRNG and a fake clock.
// Nothing here touches a store; events get their envelope right here.
import assert from 'node:assert/strict';
import { AppError, type ErrorKind } from '../../src/errors.ts';
import { decide, type DecideContext, type QueueCommand } from '../../src/queues/decide.ts';
import { evolve, initialState, type QueueEvent, type QueueItem, type QueueState } from '../../src/queues/queue.ts';
import { mulberry32 } from './random.ts';

export { mulberry32 };

/**
 * A state with its items as a plain array, for deep comparisons: how an item list is cut
 * into chunks depends on its history (src/queues/items.ts), so two equal lists may differ in
 * their fields, and a structured clone of one is no list.
 */
export function plain(s: QueueState): PlainState;
export function plain(s: QueueState | null | undefined): PlainState | null;
export function plain(s: QueueState | null | undefined): PlainState | null {
  return s ? { ...s, items: [...s.items] } : null;
}
export type PlainState = Omit<QueueState, 'items'> & { items: QueueItem[] };

export const DEFAULT_QUEUE_ID = 'queue-1';
export const DEFAULT_USER_ID = 'user-1';
export const DEFAULT_START = Date.UTC(2024, 0, 1, 0, 0, 0, 0);

/** A DecideContext that is fully deterministic, plus the fake clock used for envelopes. */
export interface TestContext extends DecideContext {
  /** Advances the fake clock by 1 ms and returns the new time as an ISO string. */
  tick: () => string;
  /** The current fake time (ISO), without advancing. */
  now: () => string;
}

export interface TestContextOptions {
  seed?: number;
  userId?: string;
  maxItems?: number;
  /** Epoch ms of the fake clock before the first event. */
  start?: number;
  /** Prefix of generated ids: `${idPrefix}${n}`. */
  idPrefix?: string;
}

export function testContext(opts: TestContextOptions = {}): TestContext {
  let n = 0;
  let t = opts.start ?? DEFAULT_START;
  const prefix = opts.idPrefix ?? 'item-';
  return {
    userId: opts.userId ?? DEFAULT_USER_ID,
    maxItems: opts.maxItems ?? 10000,
    newId: () => `${prefix}${++n}`,
    random: mulberry32(opts.seed ?? 1),
    tick: () => new Date(++t).toISOString(),
    now: () => new Date(t).toISOString(),
  };
}

export interface StepResult {
  state: QueueState;
  events: QueueEvent[];
}

/**
 * The core step: runs `decide`, wraps every event body in an envelope
 * (sequenceNumber = state.version + i + 1, deviceId null, 1 ms per event) and folds with `evolve`.
 * Whatever `decide` throws propagates; the input state is never modified.
 */
export function applyCommand(state: QueueState, cmd: QueueCommand, ctx: TestContext, opts: { userId?: string; deviceId?: string | null } = {}): StepResult {
  const userId = opts.userId ?? ctx.userId;
  const bodies = decide(state, cmd, userId === ctx.userId ? ctx : { ...ctx, userId });
  const events: QueueEvent[] = bodies.map(
    (body, i) =>
      ({
        ...body,
        queueId: state.id,
        sequenceNumber: state.version + i + 1,
        userId,
        deviceId: opts.deviceId ?? null,
        timestamp: ctx.tick(),
      }) as QueueEvent,
  );
  return { state: events.reduce(evolve, state), events };
}

/** Applies commands one after another from a state (default: a fresh, never-created queue). */
export function given(
  cmds: QueueCommand[],
  ctx: TestContext = testContext(),
  from: QueueState = initialState(DEFAULT_QUEUE_ID),
): StepResult & { ctx: TestContext } {
  let state = from;
  const events: QueueEvent[] = [];
  for (const cmd of cmds) {
    const r = applyCommand(state, cmd, ctx);
    state = r.state;
    events.push(...r.events);
  }
  return { state, events, ctx };
}

/** A stateful scenario: keeps the state, all events and the context between commands. */
export class Scenario {
  state: QueueState;
  readonly events: QueueEvent[] = [];
  readonly ctx: TestContext;

  constructor(opts: TestContextOptions & { queueId?: string } = {}) {
    this.ctx = testContext(opts);
    this.state = initialState(opts.queueId ?? DEFAULT_QUEUE_ID);
  }

  /** Runs a command; on success keeps the new state and returns the new events. Errors leave the state alone. */
  when(cmd: QueueCommand, opts: { userId?: string } = {}): QueueEvent[] {
    const r = applyCommand(this.state, cmd, this.ctx, opts);
    this.state = r.state;
    this.events.push(...r.events);
    return r.events;
  }

  given(...cmds: QueueCommand[]): this {
    for (const c of cmds) this.when(c);
    return this;
  }

  /** Asserts that the command fails with an AppError of this code (and kind, when given), and that nothing changed. */
  rejects(cmd: QueueCommand, code: string, kind?: ErrorKind): AppError {
    const before = structuredClone(plain(this.state));
    const err = expectAppError(() => applyCommand(this.state, cmd, this.ctx), code, kind);
    assert.deepEqual(plain(this.state), before, 'a rejected command must not change the state');
    return err;
  }

  get itemIds(): string[] {
    return itemIds(this.state);
  }

  get trackIds(): string[] {
    return trackIds(this.state);
  }
}

export function scenario(opts: TestContextOptions & { queueId?: string } = {}): Scenario {
  return new Scenario(opts);
}

export function itemIds(state: QueueState): string[] {
  return state.items.map((i) => i.itemId);
}

export function trackIds(state: QueueState): string[] {
  return state.items.map((i) => i.trackId);
}

/** Items in canonical (unshuffled) order, by `key`. */
export function canonicalIds(state: QueueState): string[] {
  return [...state.items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((i) => i.itemId);
}

/** Runs fn, asserts it throws an AppError with this code (and kind), and returns the error. */
export function expectAppError(fn: () => unknown, code: string, kind?: ErrorKind): AppError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, `expected an AppError ${code}, but nothing was thrown`);
  assert.ok(thrown instanceof AppError, `expected an AppError ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code);
  if (kind !== undefined) assert.equal(thrown.kind, kind);
  return thrown;
}
