// Property test of collaborative queues: two users with random roles edit one queue
// "at once". Each acts on the state it last saw (so its picks may be stale, as over a
// network), the server serialises their commands in any interleaving, and after every
// step the queue must be valid: the permission matrix held, nothing lost or duplicated,
// the order keys sound, and the log folds back to the state.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AppError } from '../../src/errors.ts';
import type { QueueCommand } from '../../src/queues/decide.ts';
import { can, roleOf, type QueueAction, type Role } from '../../src/queues/permissions.ts';
import { activeKey, foldEvents, initialState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { applyCommand, testContext } from '../helpers/domain.ts';

const NUM_RUNS = 150;
const OWNER = 'own';
const USERS = ['u1', 'u2'] as const;
type User = (typeof USERS)[number];

type Abs =
  | { t: 'add'; n: number; place: 'end' | 'after' | 'pos'; p: number }
  | { t: 'remove'; p: number }
  | { t: 'move'; p: number; to: number }
  | { t: 'vote'; p: number; v: 1 | -1 | 0 }
  | { t: 'clear' }
  | { t: 'next' }
  | { t: 'settings'; fair: boolean; vote: boolean }
  | { t: 'leave' }
  | { t: 'join' }
  | { t: 'grant'; who: User | 'x'; role: 'admin' | 'contributor' | 'viewer' }
  | { t: 'kick'; who: User | 'x' };

const absArb: fc.Arbitrary<Abs> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('add' as const),
      n: fc.integer({ min: 1, max: 3 }),
      place: fc.constantFrom('end' as const, 'after' as const, 'pos' as const),
      p: fc.nat(50),
    }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('remove' as const), p: fc.nat(50) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('move' as const), p: fc.nat(50), to: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('vote' as const), p: fc.nat(50), v: fc.constantFrom(1 as const, -1 as const, 0 as const) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'clear' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'next' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('settings' as const), fair: fc.boolean(), vote: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'leave' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'join' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('grant' as const),
      who: fc.constantFrom('u1' as const, 'u2' as const, 'x' as const),
      role: fc.constantFrom('admin' as const, 'contributor' as const, 'viewer' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('kick' as const), who: fc.constantFrom('u1' as const, 'u2' as const, 'x' as const) }) },
);

const roleArb = fc.constantFrom('admin' as const, 'contributor' as const, 'viewer' as const, 'none' as const);

/** A command from an abstract op, its items picked from the (possibly stale) state the user saw. */
function concrete(a: Abs, seen: QueueState, k: number): QueueCommand {
  const ids = seen.items.map((i) => i.itemId);
  const pick = (p: number) => (ids.length ? ids[p % ids.length]! : 'ghost');
  switch (a.t) {
    case 'add': {
      const tracks = Array.from({ length: a.n }, (_, i) => `t${k}-${i}`);
      if (a.place === 'after' && ids.length) return { type: 'add_tracks', tracks, afterItemId: pick(a.p) };
      if (a.place === 'pos') return { type: 'add_tracks', tracks, position: a.p % (ids.length + 2) };
      return { type: 'add_tracks', tracks };
    }
    case 'remove':
      return { type: 'remove_items', itemIds: [pick(a.p)] };
    case 'move':
      return { type: 'move_item', itemId: pick(a.p), position: a.to % (ids.length + 1) };
    case 'vote':
      return { type: 'vote_item', itemId: pick(a.p), vote: a.v };
    case 'clear':
      return { type: 'clear' };
    case 'next':
      return { type: 'next' };
    case 'settings':
      return { type: 'update_settings', fairOrder: a.fair, voteOrder: a.vote };
    case 'leave':
      return { type: 'leave_queue' };
    case 'join':
      return { type: 'join_queue', role: 'viewer', via: 'public' };
    case 'grant':
      return { type: 'add_collaborator', userId: a.who, role: a.role };
    case 'kick':
      return { type: 'remove_collaborator', userId: a.who };
  }
}

/** The matrix action the service checks for a command (as in service.ts). */
function actionOf(cmd: QueueCommand, user: string): QueueAction {
  switch (cmd.type) {
    case 'add_tracks':
      return 'add';
    case 'remove_items':
    case 'move_item':
      return 'edit_own';
    case 'vote_item':
      return 'vote';
    case 'clear':
      return 'edit_any';
    case 'next':
      return 'control';
    case 'update_settings':
      return 'settings';
    case 'leave_queue':
    case 'join_queue':
      return 'read';
    case 'add_collaborator':
      return 'manage_members';
    case 'remove_collaborator':
      return cmd.userId === user ? 'read' : 'manage_members';
    default:
      throw new Error(`unexpected ${cmd.type}`);
  }
}

/** Errors a valid command may meet when the other user got there first (or the pick was stale). */
const EXPECTED = new Set([
  'item_gone',
  'item_not_found',
  'anchor_not_found',
  'not_your_item',
  'forbidden',
  'queue_empty',
  'collaborator_not_found',
  'invalid_anchor',
]);

function run(
  seed: number,
  roles: Record<User, 'admin' | 'contributor' | 'viewer' | 'none'>,
  isPublic: boolean,
  ops: Record<User, Abs[]>,
  order: boolean[],
  trace: string[],
) {
  const ctx = testContext({ seed, userId: OWNER });
  let state = initialState('pq');
  const log: QueueEvent[] = [];
  const apply = (user: string, cmd: QueueCommand, role: Role | null) => {
    const r = applyCommand(state, cmd, { ...ctx, userId: user, role, time: Date.parse(ctx.now()) }, { userId: user });
    state = r.state;
    log.push(...r.events);
    return r.events;
  };
  const members = USERS.filter((u) => roles[u] !== 'none');
  apply(OWNER, { type: 'create_queue', name: 'p', queueType: 'collaborative', isPublic, tracks: ['s1', 's2', 's3'], collaborators: [...members] }, 'owner');
  for (const u of members)
    if (roles[u] !== 'contributor') apply(OWNER, { type: 'set_collaborator_role', userId: u, role: roles[u] as 'admin' | 'viewer' }, 'owner');

  const seen: Record<User, QueueState> = { u1: state, u2: state };
  const next: Record<User, number> = { u1: 0, u2: 0 };
  const model = new Map(state.items.map((i) => [i.itemId, i.trackId]));
  let k = 0;
  for (const pickU1 of order) {
    const user: User = pickU1 ? 'u1' : 'u2';
    const a = ops[user][next[user]++];
    if (!a) continue;
    const cmd = concrete(a, seen[user], k++);
    const role = roleOf(state, user);
    const before = state;
    let events: QueueEvent[] = [];
    let outcome = 'ok';
    if (!can(role, 'read')) outcome = 'queue_not_found';
    else if (!can(role, actionOf(cmd, user))) outcome = 'forbidden';
    else {
      try {
        events = apply(user, cmd, role);
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        outcome = e.code;
        assert.ok(EXPECTED.has(e.code), `unexpected error ${e.code}: ${e.message}`);
        assert.equal(state, before);
      }
    }
    trace.push(`${user}(${role}) ${JSON.stringify(cmd)} -> ${outcome} ${events.map((e) => e.type).join(',')}`);
    seen[user] = state; // the user learns the state when the answer comes back

    // The matrix held for what was appended.
    for (const e of events) {
      if (e.type === 'item_added') {
        assert.ok(can(role, 'add'), `${role} added`);
        model.set(e.data.itemId, e.data.trackId);
      }
      if (e.type === 'item_removed' || e.type === 'item_moved') {
        const item = before.items.find((i) => i.itemId === e.data.itemId);
        assert.ok(item, `${e.type} of an item that was there`);
        // voteOrder moves are the rule's, not the user's
        if (cmd.type !== 'vote_item' && cmd.type !== 'update_settings' && cmd.type !== 'add_tracks') {
          assert.ok(can(role, 'edit_any') || item.addedBy === user, `${role} ${user} edited ${item.addedBy}'s item`);
        }
        if (e.type === 'item_removed') model.delete(e.data.itemId);
      }
      if (e.type === 'queue_cleared') {
        assert.ok(can(role, 'edit_any'));
        for (const id of e.data.itemIds) model.delete(id);
      }
      if (e.type === 'collaborator_joined' || e.type === 'permission_changed') {
        assert.ok(e.data.userId === user || can(role, 'manage_members'), `${role} granted a role`);
        if (role !== 'owner' && e.data.userId !== user) assert.notEqual(e.data.role, 'admin', 'only owners make admins');
      }
    }
    checkValid(state, model, log);
  }
}

function checkValid(s: QueueState, model: Map<string, string>, log: QueueEvent[]) {
  const ids = s.items.map((i) => i.itemId);
  assert.equal(new Set(ids).size, ids.length, 'no duplicated item');
  assert.deepEqual(new Map(s.items.map((i) => [i.itemId, i.trackId])), model, 'no lost or invented item');
  for (let i = 1; i < s.items.length; i++) {
    assert.ok(activeKey(s.items.at(i - 1)!, s.shuffle) < activeKey(s.items.at(i)!, s.shuffle), 'order keys strictly increase');
  }
  assert.ok(s.currentItemId === null || ids.includes(s.currentItemId), 'the current item exists');
  const who = s.collaborators.map((c) => c.userId);
  assert.equal(new Set(who).size, who.length, 'a collaborator is listed once');
  assert.ok(!who.includes(s.ownerId), 'the owner is not a collaborator');
  for (const i of s.items) {
    const voters = (i.votes ?? []).map((v) => v.userId);
    assert.equal(new Set(voters).size, voters.length, 'one vote per user and item');
  }
  assert.deepEqual(
    log.map((e) => e.sequenceNumber),
    log.map((_, i) => i + 1),
    'gapless',
  );
  assert.deepEqual(foldEvents(initialState('pq'), log), s, 'the log folds back to the state');
}

describe('collaborative queue properties', () => {
  it(`[CO1][CO3][CO10] any interleaving of two users' operations, with any roles, yields a valid queue (${NUM_RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.record({ u1: roleArb, u2: roleArb }),
        fc.boolean(),
        fc.record({ u1: fc.array(absArb, { maxLength: 25 }), u2: fc.array(absArb, { maxLength: 25 }) }),
        fc.array(fc.boolean(), { minLength: 10, maxLength: 60 }),
        (seed, roles, isPublic, ops, order) => {
          const trace: string[] = [];
          try {
            run(seed, roles, isPublic, ops, order, trace);
          } catch (e) {
            throw new Error(`${(e as Error).message}\nroles ${JSON.stringify(roles)} public ${isPublic} seed ${seed}\n${trace.join('\n')}`, { cause: e });
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
