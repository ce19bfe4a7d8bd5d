// The storage side of collaboration, on both stores: the member index that `append`
// keeps in its transaction ([CO4]) and the invite store ([CO5]).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { InviteStore } from '../../src/collab/store.ts';
import { VersionConflictError } from '../../src/errors.ts';
import { evolve, initialState, type QueueEvent, type QueueState } from '../../src/queues/queue.ts';
import type { NewEvent, Store } from '../../src/store/port.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { openTestStorage } from '../helpers/storage.ts';

let t = Date.parse('2024-06-01T00:00:00.000Z');
const at = () => new Date((t += 1000)).toISOString();

async function append(store: Store, queueId: string, base: QueueState, bodies: Omit<NewEvent, 'timestamp' | 'deviceId'>[]): Promise<QueueState> {
  const events: NewEvent[] = bodies.map((b) => ({ ...b, deviceId: null, timestamp: at() }) as NewEvent);
  const state = events.map((e, i) => ({ ...e, queueId, sequenceNumber: base.version + i + 1 }) as QueueEvent).reduce(evolve, base);
  await store.append({ queueId, expectedVersion: base.version, events, state });
  return state;
}

const created = (owner: string): Omit<NewEvent, 'timestamp' | 'deviceId'> => ({
  type: 'queue_created',
  userId: owner,
  data: { name: 'q', type: 'collaborative', ownerId: owner, metadata: {} },
});
const joined = (by: string, userId: string, role: 'admin' | 'contributor' | 'viewer'): Omit<NewEvent, 'timestamp' | 'deviceId'> => ({
  type: 'collaborator_joined',
  userId: by,
  data: { userId, role, via: 'added' },
});

function contract(name: 'sqlite' | 'postgres', skip: string | false = false) {
  describe(`collaboration storage contract: ${name}`, { skip }, () => {
    let store: Store;
    let invites: InviteStore;
    let cleanup: () => Promise<void>;
    before(async () => {
      const t = await openTestStorage(name);
      ({ store, cleanup } = t);
      invites = t.features.invites;
    });
    after(async () => {
      await cleanup?.();
    });

    it('[CO4] the member index follows membership events: join, role change, leave, transfer, delete', async () => {
      const id = `q-${randomUUID()}`;
      const u = (s: string) => `${s}-${id.slice(2, 8)}`;
      const [own, bob, cat] = [u('own'), u('bob'), u('cat')];
      let s = await append(store, id, initialState(id), [created(own), joined(own, bob, 'contributor'), joined(own, cat, 'viewer')]);
      const roleIn = async (user: string) => (await store.listMemberQueues(user, 10, null)).items.find((x) => x.id === id)?.role;
      assert.deepEqual([await roleIn(own), await roleIn(bob), await roleIn(cat)], ['owner', 'contributor', 'viewer']);
      s = await append(store, id, s, [{ type: 'permission_changed', userId: own, data: { userId: bob, role: 'admin' } }]);
      assert.equal(await roleIn(bob), 'admin');
      s = await append(store, id, s, [{ type: 'collaborator_left', userId: cat, data: { userId: cat, reason: 'left' } }]);
      assert.equal(await roleIn(cat), undefined);
      s = await append(store, id, s, [{ type: 'ownership_transferred', userId: own, data: { fromUserId: own, toUserId: bob } }]);
      assert.deepEqual([await roleIn(own), await roleIn(bob)], ['admin', 'owner']);
      const row = (await store.listMemberQueues(bob, 10, null)).items.find((x) => x.id === id)!;
      assert.deepEqual(
        { ...row, updatedAt: undefined },
        { id, name: 'q', type: 'collaborative', ownerId: bob, version: s.version, itemCount: 0, updatedAt: undefined, role: 'owner' },
      );
      // A conflicting append changes nothing, the index included.
      await assert.rejects(append(store, id, { ...s, version: s.version - 1 }, [joined(bob, cat, 'admin')]), VersionConflictError);
      assert.equal(await roleIn(cat), undefined);
      await append(store, id, s, [{ type: 'queue_deleted', userId: bob, data: {} }]);
      assert.equal(await roleIn(bob), undefined, 'deleted queues are not listed');
    });

    it('[CO4] members are listed newest first and paged with a cursor', async () => {
      const user = `pager-${randomUUID().slice(0, 8)}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = `q-${randomUUID()}`;
        await append(store, id, initialState(id), [created(`o-${i}-${user}`), joined(`o-${i}-${user}`, user, 'viewer')]);
        ids.push(id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<Store['listMemberQueues']>> = await store.listMemberQueues(user, 2, cursor);
        seen.push(...page.items.map((x) => x.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...ids].reverse());
    });

    it('[CO5] invites: create, list, claim until used up or expired, release, revoke', async () => {
      const queueId = `q-${randomUUID()}`;
      const now = Date.now();
      const code = `c${randomUUID().replace(/-/g, '')}`;
      await invites.create({ code, queueId, role: 'contributor', createdBy: 'own', createdAt: now, expiresAt: now + 60_000, maxUses: 2 });
      const expired = `x${randomUUID().replace(/-/g, '')}`;
      await invites.create({ code: expired, queueId, role: 'viewer', createdBy: 'own', createdAt: now - 1, expiresAt: now - 1, maxUses: null });
      assert.deepEqual((await invites.list(queueId)).map((i) => i.code).sort(), [code, expired].sort());
      const c1 = await invites.claim(code, now);
      assert.ok(c1.ok && c1.invite.uses === 1 && c1.invite.role === 'contributor');
      assert.ok((await invites.claim(code, now)).ok);
      const c3 = await invites.claim(code, now);
      assert.ok(!c3.ok && c3.reason === 'used_up');
      await invites.release(code);
      assert.ok((await invites.claim(code, now)).ok, 'a released use can be claimed again');
      const e = await invites.claim(expired, now);
      assert.ok(!e.ok && e.reason === 'expired');
      const none = await invites.claim('no-such-code', now);
      assert.ok(!none.ok && none.reason === 'not_found');
      // Racing for the last use: exactly one wins.
      const last = `l${randomUUID().replace(/-/g, '')}`;
      await invites.create({ code: last, queueId, role: 'viewer', createdBy: 'own', createdAt: now, expiresAt: now + 60_000, maxUses: 1 });
      const race = await Promise.all(Array.from({ length: 5 }, () => invites.claim(last, now)));
      assert.equal(race.filter((r) => r.ok).length, 1);
      assert.equal(await invites.revoke(queueId, code), true);
      assert.equal(await invites.revoke(queueId, code), false);
      const r = await invites.claim(code, now);
      assert.ok(!r.ok && r.reason === 'not_found', 'a revoked code is not found');
      assert.deepEqual((await invites.list(queueId)).map((i) => i.code).sort(), [expired, last].sort());
    });
  });
}

contract('sqlite');
contract('postgres', pgSkipReason);
