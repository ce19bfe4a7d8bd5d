// The decider paths of collaborative queues (docs/SPEC.md [CO1]...), given/when/then:
// each command runs with the role the service would find for its user.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueCommand } from '../../src/queues/decide.ts';
import { can, canManageRole, QUEUE_ACTIONS, roleOf, ROLES, type QueueAction, type Role } from '../../src/queues/permissions.ts';
import { foldEvents, GONE_LIMIT, initialState, toView, upgradeState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import { applyCommand, expectAppError, plain, testContext, type TestContext } from '../helpers/domain.ts';

interface Limits {
  addsPerMinute?: number;
  maxCollaborators?: number;
}

/** A collaborative queue and its log; `as(user)` runs a command with the user's role, as the service would. */
class Collab {
  state: QueueState = initialState('cq');
  readonly events: QueueEvent[] = [];
  readonly ctx: TestContext;
  limits: Limits = {};

  constructor(owner = 'own', cmd: Partial<Extract<QueueCommand, { type: 'create_queue' }>> = {}) {
    this.ctx = testContext({ userId: owner });
    this.as(owner, { type: 'create_queue', name: 'Party', queueType: 'collaborative', ...cmd });
  }

  private ctxFor(user: string, cmd: QueueCommand) {
    const role = cmd.type === 'create_queue' ? 'owner' : roleOf(this.state, user);
    return { ...this.ctx, userId: user, role, time: Date.parse(this.ctx.now()) + 1, ...this.limits };
  }

  as(user: string, cmd: QueueCommand): QueueEvent[] {
    const r = applyCommand(this.state, cmd, this.ctxFor(user, cmd), { userId: user });
    this.state = r.state;
    this.events.push(...r.events);
    return r.events;
  }

  rejects(user: string, cmd: QueueCommand, code: string, kind?: Parameters<typeof expectAppError>[2]) {
    const before = structuredClone(plain(this.state));
    const err = expectAppError(() => applyCommand(this.state, cmd, this.ctxFor(user, cmd), { userId: user }), code, kind);
    assert.deepEqual(plain(this.state), before, 'a refused command changes nothing');
    return err;
  }

  add(user: string, ...tracks: string[]): string[] {
    return this.as(user, { type: 'add_tracks', tracks }).map((e) => (e.data as { itemId: string }).itemId);
  }

  tracks(): string[] {
    return this.state.items.map((i) => i.trackId);
  }

  role(user: string) {
    return roleOf(this.state, user);
  }
}

/** own (owner), adm (admin), con and con2 (contributors), vie (viewer). */
function team(cmd: Partial<Extract<QueueCommand, { type: 'create_queue' }>> = {}): Collab {
  const q = new Collab('own', { collaborators: ['adm', 'con', 'con2', 'vie'], ...cmd });
  q.as('own', { type: 'set_collaborator_role', userId: 'adm', role: 'admin' });
  q.as('own', { type: 'set_collaborator_role', userId: 'vie', role: 'viewer' });
  return q;
}

describe('[CO1] the permission matrix', () => {
  const expected: Record<Role, QueueAction[]> = {
    owner: [...QUEUE_ACTIONS],
    admin: ['read', 'add', 'edit_own', 'edit_any', 'vote', 'control', 'rename', 'settings', 'manage_members', 'invite'],
    contributor: ['read', 'add', 'edit_own', 'vote'],
    viewer: ['read'],
  };
  for (const role of ROLES) {
    it(`[CO1] ${role}: exactly ${expected[role].join(', ')}`, () => {
      for (const action of QUEUE_ACTIONS) assert.equal(can(role, action), expected[role].includes(action), `${role} ${action}`);
    });
  }
  it('[CO1] no role: nothing; a public queue makes every user a viewer', () => {
    for (const action of QUEUE_ACTIONS) assert.equal(can(null, action), false);
    const q = new Collab();
    assert.equal(roleOf(q.state, 'stranger'), null);
    q.as('own', { type: 'set_visibility', isPublic: true });
    assert.equal(roleOf(q.state, 'stranger'), 'viewer');
    assert.equal(roleOf(q.state, 'own'), 'owner');
  });
  it('[CO2] owners manage every role, admins contributors and viewers only', () => {
    assert.deepEqual(
      ROLES.map((r) => canManageRole('owner', r)),
      [false, true, true, true],
    );
    assert.deepEqual(
      ROLES.map((r) => canManageRole('admin', r)),
      [false, false, true, true],
    );
    for (const actor of ['contributor', 'viewer', null] as const)
      assert.deepEqual(
        ROLES.map((r) => canManageRole(actor, r)),
        [false, false, false, false],
      );
  });
});

describe('create a collaborative queue', () => {
  it('[CO13] named collaborators join as contributors, once, never the owner; public is an event', () => {
    const q = new Collab('own', { collaborators: ['bob', 'own', 'bob', 'cat'], isPublic: true, tracks: ['t1'] });
    assert.deepEqual(
      q.events.map((e) => e.type),
      ['queue_created', 'visibility_changed', 'collaborator_joined', 'collaborator_joined', 'item_added'],
    );
    assert.deepEqual(q.events[2]!.data, { userId: 'bob', role: 'contributor', via: 'created' });
    assert.deepEqual(
      q.state.collaborators.map((c) => [c.userId, c.role, c.via]),
      [
        ['bob', 'contributor', 'created'],
        ['cat', 'contributor', 'created'],
      ],
    );
    assert.equal(q.state.isPublic, true);
    assert.equal(q.state.type, 'collaborative');
  });
  it('[CO9] more collaborators than the limit at creation is too_many_collaborators', () => {
    const ctx = { ...testContext({ userId: 'own' }), maxCollaborators: 2 };
    expectAppError(
      () => applyCommand(initialState('x'), { type: 'create_queue', name: 'n', queueType: 'collaborative', collaborators: ['a', 'b', 'c'] }, ctx),
      'too_many_collaborators',
      'limit',
    );
  });
});

describe('[CO2] managing collaborators', () => {
  it('the owner adds an admin; the admin adds a contributor and a viewer', () => {
    const q = new Collab();
    q.as('own', { type: 'add_collaborator', userId: 'adm', role: 'admin' });
    q.as('adm', { type: 'add_collaborator', userId: 'c', role: 'contributor' });
    const [e] = q.as('adm', { type: 'add_collaborator', userId: 'v', role: 'viewer' });
    assert.equal(e!.type, 'collaborator_joined');
    assert.deepEqual(e!.data, { userId: 'v', role: 'viewer', via: 'added' });
    assert.equal(e!.userId, 'adm', 'the envelope says who did it');
    assert.deepEqual([q.role('adm'), q.role('c'), q.role('v')], ['admin', 'contributor', 'viewer']);
  });
  it('an admin may not make or change admins', () => {
    const q = team();
    q.rejects('adm', { type: 'add_collaborator', userId: 'x', role: 'admin' }, 'forbidden', 'forbidden');
    q.rejects('adm', { type: 'set_collaborator_role', userId: 'con', role: 'admin' }, 'forbidden', 'forbidden');
    q.as('own', { type: 'add_collaborator', userId: 'adm2', role: 'admin' });
    q.rejects('adm', { type: 'set_collaborator_role', userId: 'adm2', role: 'viewer' }, 'forbidden', 'forbidden');
    q.rejects('adm', { type: 'remove_collaborator', userId: 'adm2' }, 'forbidden', 'forbidden');
  });
  it('adding a member again with the same role is a no-op; with another role it changes the level', () => {
    const q = team();
    assert.deepEqual(q.as('own', { type: 'add_collaborator', userId: 'con', role: 'contributor' }), []);
    const [e] = q.as('adm', { type: 'add_collaborator', userId: 'con', role: 'viewer' });
    assert.equal(e!.type, 'permission_changed');
    assert.deepEqual(e!.data, { userId: 'con', role: 'viewer' });
    assert.equal(q.role('con'), 'viewer');
  });
  it('changing the level of a non-member is collaborator_not_found; of the owner is_owner', () => {
    const q = team();
    q.rejects('own', { type: 'set_collaborator_role', userId: 'nobody', role: 'viewer' }, 'collaborator_not_found', 'not_found');
    q.rejects('adm', { type: 'set_collaborator_role', userId: 'own', role: 'viewer' }, 'is_owner', 'conflict');
    q.rejects('own', { type: 'add_collaborator', userId: 'own', role: 'admin' }, 'is_owner', 'conflict');
  });
  it('remove, leave, and the owner who cannot leave', () => {
    const q = team();
    const [r] = q.as('adm', { type: 'remove_collaborator', userId: 'con2' });
    assert.deepEqual(r!.data, { userId: 'con2', reason: 'removed' });
    const [l] = q.as('vie', { type: 'leave_queue' });
    assert.deepEqual(l!.data, { userId: 'vie', reason: 'left' });
    const [self] = q.as('con', { type: 'remove_collaborator', userId: 'con' });
    assert.deepEqual(self!.data, { userId: 'con', reason: 'left' }, 'removing yourself is leaving');
    assert.deepEqual(
      q.state.collaborators.map((c) => c.userId),
      ['adm'],
    );
    assert.equal(q.role('vie'), null);
    q.rejects('own', { type: 'leave_queue' }, 'owner_cannot_leave', 'conflict');
    q.rejects('adm', { type: 'remove_collaborator', userId: 'own' }, 'is_owner', 'conflict');
    q.rejects('adm', { type: 'remove_collaborator', userId: 'vie' }, 'collaborator_not_found', 'not_found');
  });
  it('transfer: the new owner leaves the list, the old owner stays on as admin', () => {
    const q = team();
    const [e] = q.as('own', { type: 'transfer_ownership', userId: 'con' });
    assert.deepEqual(e!.data, { fromUserId: 'own', toUserId: 'con' });
    assert.equal(q.state.ownerId, 'con');
    assert.equal(q.role('con'), 'owner');
    assert.equal(q.role('own'), 'admin');
    assert.equal(q.state.collaborators.filter((c) => c.userId === 'con').length, 0);
    q.rejects('con', { type: 'transfer_ownership', userId: 'stranger' }, 'collaborator_not_found', 'not_found');
    assert.deepEqual(q.as('con', { type: 'transfer_ownership', userId: 'con' }), []);
  });
});

describe('[CO3] contributors edit only their own additions', () => {
  it('remove and move: own items yes, others no (not_your_item); admins any', () => {
    const q = team();
    const [o1, o2] = q.add('own', 'o1', 'o2');
    const [c1] = q.add('con', 'c1');
    q.rejects('con', { type: 'remove_items', itemIds: [o1!] }, 'not_your_item', 'forbidden');
    q.rejects('con', { type: 'remove_items', itemIds: [c1!, o1!] }, 'not_your_item', 'forbidden');
    q.rejects('con', { type: 'move_item', itemId: o2!, position: 0 }, 'not_your_item', 'forbidden');
    q.as('con', { type: 'move_item', itemId: c1!, position: 0 });
    assert.deepEqual(q.tracks(), ['c1', 'o1', 'o2']);
    q.as('con', { type: 'remove_items', itemIds: [c1!] });
    q.as('adm', { type: 'remove_items', itemIds: [o1!] });
    assert.deepEqual(q.tracks(), ['o2']);
    assert.deepEqual(
      q.state.items.map((i) => i.addedBy),
      ['own'],
    );
  });
});

describe('[CO5] joining', () => {
  it('a public queue is joined as a viewer; an invite gives its role, raises but never lowers one', () => {
    const q = team({ isPublic: true });
    const [j] = q.as('pub', { type: 'join_queue', role: 'admin', via: 'public' });
    assert.deepEqual(j!.data, { userId: 'pub', role: 'viewer', via: 'public' }, 'public joins are viewers whatever is asked');
    assert.deepEqual(q.as('pub', { type: 'join_queue', role: 'viewer', via: 'public' }), [], 'joining again changes nothing');
    const [i] = q.as('inv', { type: 'join_queue', role: 'contributor', via: 'invite' });
    assert.deepEqual(i!.data, { userId: 'inv', role: 'contributor', via: 'invite' });
    assert.deepEqual(q.as('adm', { type: 'join_queue', role: 'viewer', via: 'invite' }), [], 'an invite never lowers');
    const [up] = q.as('vie', { type: 'join_queue', role: 'contributor', via: 'invite' });
    assert.deepEqual(up!.data, { userId: 'vie', role: 'contributor' });
    assert.deepEqual(q.as('own', { type: 'join_queue', role: 'viewer', via: 'invite' }), []);
  });
});

describe('[CO7] fair play order', () => {
  it('adds without a placement interleave contributors round-robin', () => {
    const q = team();
    q.as('own', { type: 'update_settings', fairOrder: true });
    q.add('con', 'a1', 'a2', 'a3');
    q.add('con2', 'b1', 'b2');
    q.add('adm', 'c1');
    assert.deepEqual(q.tracks(), ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
    q.add('con2', 'b3');
    assert.deepEqual(q.tracks(), ['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'b3']);
    q.add('adm', 'c2');
    assert.deepEqual(q.tracks(), ['a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3']);
  });
  it('switching it on reorders the upcoming items only; an explicit placement is honoured', () => {
    const q = team();
    q.add('con', 'a1', 'a2', 'a3');
    q.add('con2', 'b1', 'b2');
    const first = q.state.items.at(0)!.itemId;
    q.as('own', { type: 'set_current', itemId: first });
    const events = q.as('own', { type: 'update_settings', fairOrder: true });
    assert.equal(events[0]!.type, 'queue_settings_changed');
    assert.ok(events.slice(1).every((e) => e.type === 'item_moved'));
    // a1 is current: it stays; after it the rounds restart from the upcoming items.
    assert.deepEqual(q.tracks(), ['a1', 'a2', 'b1', 'a3', 'b2']);
    assert.deepEqual(q.as('own', { type: 'update_settings', fairOrder: true }), [], 'no change, no event');
    q.as('con', { type: 'add_tracks', tracks: ['front'], position: 1 });
    assert.deepEqual(q.tracks(), ['a1', 'front', 'a2', 'b1', 'a3', 'b2']);
  });
});

describe('[CO8] votes', () => {
  it('one vote per user and item; 0 takes it back; the same vote twice is a no-op', () => {
    const q = team();
    const [o1] = q.add('own', 'o1');
    const [e] = q.as('con', { type: 'vote_item', itemId: o1!, vote: 1 });
    assert.deepEqual(e!.data, { itemId: o1, userId: 'con', vote: 1 });
    assert.deepEqual(q.as('con', { type: 'vote_item', itemId: o1!, vote: 1 }), []);
    q.as('con2', { type: 'vote_item', itemId: o1!, vote: -1 });
    q.as('adm', { type: 'vote_item', itemId: o1!, vote: 1 });
    assert.deepEqual(toView(q.state).votes, [
      {
        itemId: o1,
        score: 1,
        votes: [
          { userId: 'con', vote: 1 },
          { userId: 'con2', vote: -1 },
          { userId: 'adm', vote: 1 },
        ],
      },
    ]);
    q.as('con', { type: 'vote_item', itemId: o1!, vote: 0 });
    q.as('con2', { type: 'vote_item', itemId: o1!, vote: 0 });
    q.as('adm', { type: 'vote_item', itemId: o1!, vote: 0 });
    assert.equal(q.state.items.at(0)!.votes, undefined, 'no votes left: the field goes');
    assert.deepEqual(toView(q.state).votes, []);
  });
  it('voteOrder: a vote moves an upcoming item to its rank; the current item never moves', () => {
    const q = team();
    const [x, y, z] = q.add('own', 'x', 'y', 'z');
    q.as('own', { type: 'update_settings', voteOrder: true });
    const up = q.as('con', { type: 'vote_item', itemId: z!, vote: 1 });
    assert.deepEqual(
      up.map((e) => e.type),
      ['item_voted', 'item_moved'],
    );
    assert.deepEqual(q.tracks(), ['z', 'x', 'y']);
    q.as('con', { type: 'vote_item', itemId: x!, vote: -1 });
    assert.deepEqual(q.tracks(), ['z', 'y', 'x']);
    q.add('con2', 'n');
    assert.deepEqual(q.tracks(), ['z', 'y', 'n', 'x'], 'a new item goes after the items at or above score 0');
    q.as('own', { type: 'set_current', itemId: y! });
    q.as('con2', { type: 'vote_item', itemId: y!, vote: -1 });
    q.as('con', { type: 'vote_item', itemId: y!, vote: -1 });
    assert.deepEqual(q.tracks(), ['z', 'y', 'n', 'x'], 'the current item stays');
  });
  it('switching voteOrder on sorts the upcoming items by score, stably', () => {
    const q = team();
    const [a, , c, d] = q.add('own', 'a', 'b', 'c', 'd');
    q.as('con', { type: 'vote_item', itemId: c!, vote: 1 });
    q.as('con', { type: 'vote_item', itemId: a!, vote: -1 });
    q.as('con2', { type: 'vote_item', itemId: d!, vote: 1 });
    q.as('adm', { type: 'update_settings', voteOrder: true });
    assert.deepEqual(q.tracks(), ['c', 'd', 'b', 'a']);
  });
});

describe('[CO9] limits', () => {
  it('collaborators per queue: past the limit is too_many_collaborators (422)', () => {
    const q = new Collab();
    q.limits = { maxCollaborators: 2 };
    q.as('own', { type: 'add_collaborator', userId: 'a', role: 'viewer' });
    q.as('own', { type: 'join_queue', role: 'viewer', via: 'invite' }); // the owner: no-op
    q.as('b', { type: 'join_queue', role: 'viewer', via: 'invite' });
    const err = q.rejects('own', { type: 'add_collaborator', userId: 'c', role: 'viewer' }, 'too_many_collaborators', 'limit');
    assert.equal(err.details.limit, 2);
    q.rejects('d', { type: 'join_queue', role: 'viewer', via: 'invite' }, 'too_many_collaborators', 'limit');
    q.as('own', { type: 'set_collaborator_role', userId: 'a', role: 'contributor' }); // changing a level is not adding
  });
  it('adds per user and minute: the next add is rate_limited with retryAfterSeconds; the owner is exempt', () => {
    const q = team();
    q.limits = { addsPerMinute: 3 };
    q.add('con', 'c1', 'c2');
    q.add('con', 'c3');
    const err = q.rejects('con', { type: 'add_tracks', tracks: ['c4'] }, 'rate_limited', 'rate_limited');
    assert.ok(
      typeof err.details.retryAfterSeconds === 'number' && err.details.retryAfterSeconds >= 59 && err.details.retryAfterSeconds <= 60,
      String(err.details.retryAfterSeconds),
    );
    q.add('con2', 'd1', 'd2', 'd3'); // per user
    q.add('own', 'o1', 'o2', 'o3', 'o4', 'o5'); // the owner is not limited
    q.rejects('con', { type: 'add_tracks', tracks: ['a', 'b', 'c', 'd'] }, 'too_many_tracks', 'limit');
    for (let i = 0; i < 60_000; i++) q.ctx.tick(); // a minute later
    q.add('con', 'c4');
    assert.equal(q.tracks().filter((t) => t.startsWith('c')).length, 4);
  });
});

describe('[CO10] a removed item is gone, an unknown one not found', () => {
  it('remove, move, vote and set_current of a removed item are item_gone (409)', () => {
    const q = team();
    const [a, b] = q.add('own', 'a', 'b');
    q.as('adm', { type: 'remove_items', itemIds: [a!] });
    q.rejects('own', { type: 'remove_items', itemIds: [a!] }, 'item_gone', 'conflict');
    q.rejects('own', { type: 'move_item', itemId: a!, position: 0 }, 'item_gone', 'conflict');
    q.rejects('con', { type: 'vote_item', itemId: a!, vote: 1 }, 'item_gone', 'conflict');
    q.rejects('own', { type: 'set_current', itemId: a! }, 'item_gone', 'conflict');
    q.rejects('own', { type: 'remove_items', itemIds: ['never'] }, 'item_not_found', 'not_found');
    q.as('own', { type: 'clear' });
    q.rejects('own', { type: 'move_item', itemId: b!, position: 0 }, 'item_gone', 'conflict');
  });
  it(`the memory of removed ids is bounded (${GONE_LIMIT})`, () => {
    const q = new Collab();
    const ids = q.add('own', ...Array.from({ length: GONE_LIMIT + 10 }, (_, i) => `t${i}`));
    q.as('own', { type: 'clear' });
    assert.equal(q.state.goneItemIds.length, GONE_LIMIT);
    q.rejects('own', { type: 'remove_items', itemIds: [ids[0]!] }, 'item_not_found', 'not_found');
    q.rejects('own', { type: 'remove_items', itemIds: [ids[ids.length - 1]!] }, 'item_gone', 'conflict');
  });
});

describe('[CO14] states from before collaboration', () => {
  it('read as private, no collaborators, default settings; events fold onto them', () => {
    const q = new Collab('own', { tracks: ['t1'] });
    const { collaborators: _c, isPublic: _p, settings: _s, goneItemIds: _g, ...old } = q.state;
    const up = upgradeState(old as QueueState);
    assert.deepEqual(up.collaborators, []);
    assert.equal(up.isPublic, false);
    assert.deepEqual(up.settings, { fairOrder: false, voteOrder: false });
    assert.deepEqual(up.goneItemIds, []);
    assert.equal(upgradeState(q.state), q.state, 'a current state is returned as is');
    const view = toView(old as QueueState);
    assert.deepEqual(view.collaborators, []);
    const r = applyCommand(old as QueueState, { type: 'add_collaborator', userId: 'bob', role: 'viewer' }, { ...q.ctx, role: 'owner' });
    assert.deepEqual(
      r.state.collaborators.map((c) => c.userId),
      ['bob'],
    );
  });
  it('replaying a collaborative log (through JSON) gives the same state', () => {
    const q = team({ isPublic: true });
    const [a] = q.add('con', 'a', 'b');
    q.as('own', { type: 'update_settings', fairOrder: true, voteOrder: true });
    q.as('con2', { type: 'vote_item', itemId: a!, vote: 1 });
    q.as('own', { type: 'transfer_ownership', userId: 'adm' });
    q.as('adm', { type: 'remove_collaborator', userId: 'vie' });
    assert.deepEqual(plain(foldEvents(initialState('cq'), JSON.parse(JSON.stringify(q.events)))), plain(q.state));
  });
});
