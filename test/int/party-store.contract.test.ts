// The parties' feature store on both databases, built by the same per-adapter factory
// the server uses: a party and its events ([PA1]), one active party per queue, updates
// under the party's lock with gapless sequence numbers across concurrent writers, and
// the measured link rows every instance reads when it schedules a command ([PA10]), and
// the members' command keys recorded with the event they appended ([PA11]).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { evolve, initialState, type PartyEvent, type PartyEventBody, type PartyState } from '../../src/party/party.ts';
import { PostgresPartyStore, SqlitePartyStore, type LinkRecord, type PartyCommandKey, type PartyStore } from '../../src/party/store.ts';
import type { PostgresStore } from '../../src/store/postgres.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';
import { storeKinds } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let clock = Date.parse('2026-11-30T12:00:00.000Z');
const at = () => new Date((clock += 1000)).toISOString();

/** The events `bodies` make after `state`, by `userId`, and the state after them. */
function next(state: PartyState, userId: string, bodies: PartyEventBody[]): { events: PartyEvent[]; state: PartyState } {
  const events = bodies.map(
    (b, i) => ({ ...b, partyId: state.id, sequenceNumber: state.version + i + 1, userId, deviceId: 'phone', timestamp: at() }) as PartyEvent,
  );
  return { events, state: events.reduce(evolve, state) };
}

const created = (queueId: string, hostId: string): PartyEventBody => ({
  type: 'party_created',
  data: {
    queueId,
    hostId,
    inviteCode: 'ABCDEFGHJK',
    allowMemberAdds: false,
    playback: { position: 0, at: 0, isPlaying: false, rate: 1, itemId: null, trackId: null },
  },
});

async function newParty(parties: PartyStore, queueId = `q-${randomUUID()}`, hostId = 'host') {
  const { events, state } = next(initialState(randomUUID()), hostId, [created(queueId, hostId)]);
  await parties.create(events[0]!, state);
  return state;
}

const link = (partyId: string, connectionId: string, updatedAt: number, extra: Partial<LinkRecord> = {}): LinkRecord => ({
  connectionId,
  partyId,
  userId: 'm',
  deviceId: 'd',
  offsetMs: 12.5,
  rttMs: 40.25,
  oneWayMs: 22,
  degraded: false,
  followDelayMs: 0,
  samples: 8,
  updatedAt,
  positionErrorMs: null,
  positionErrorAt: null,
  ...extra,
});

for (const { kind, skip } of storeKinds) {
  describe(`party store contract: ${kind}`, { skip }, () => {
    let t: TestStorage;
    let parties: PartyStore;
    before(async () => {
      t = await openTestStorage(kind);
      parties = t.features.parties;
    });
    after(async () => {
      await t?.cleanup();
    });

    it('[PA1] a party is created with its first event; load and readEvents give them back', async () => {
      const s = await newParty(parties);
      assert.deepEqual(await parties.load(s.id), s);
      const events = await parties.readEvents(s.id, 0, 10);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0], {
        ...events[0],
        type: 'party_created',
        partyId: s.id,
        sequenceNumber: 1,
        userId: 'host',
        deviceId: 'phone',
        timestamp: s.createdAt,
      });
      assert.equal(await parties.load(randomUUID()), null);
      assert.deepEqual(await parties.readEvents(randomUUID(), 0, 10), []);
    });

    it('[PA1] one active party per queue: a second is 409 party_exists naming the first; once it ended, a new one may start', async () => {
      const first = await newParty(parties);
      assert.equal(await parties.activeForQueue(first.queueId), first.id);
      await assert.rejects(newParty(parties, first.queueId, 'other'), (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'party_exists');
        assert.deepEqual(err.details, { queueId: first.queueId, partyId: first.id });
        return true;
      });
      const ended = await parties.update(first.id, 0, (s) => next(s, 'host', [{ type: 'party_ended', data: { reason: 'ended_by_host' } }]));
      assert.equal(ended?.state.status, 'ended');
      assert.equal(await parties.activeForQueue(first.queueId), null);
      const second = await newParty(parties, first.queueId, 'other');
      assert.equal(await parties.activeForQueue(first.queueId), second.id);
      assert.equal((await parties.load(first.id))?.status, 'ended');
    });

    it("update runs decide under the party's lock: concurrent writers get gapless sequence numbers", async () => {
      const s = await newParty(parties);
      const users = Array.from({ length: 12 }, (_, i) => `m${i}`);
      await Promise.all(
        users.map((u) => parties.update(s.id, 0, (cur) => next(cur, u, [{ type: 'member_joined', data: { userId: u, deviceInfo: { n: u } } }]))),
      );
      const events = await parties.readEvents(s.id, 0, 100);
      assert.deepEqual(
        events.map((e) => e.sequenceNumber),
        Array.from({ length: 13 }, (_, i) => i + 1),
      );
      const state = (await parties.load(s.id))!;
      assert.equal(state.version, 13);
      assert.deepEqual(state.members.map((m) => m.userId).sort(), ['host', ...users].sort());
      // Paging: after and limit.
      assert.deepEqual(
        (await parties.readEvents(s.id, 10, 2)).map((e) => e.sequenceNumber),
        [11, 12],
      );
    });

    it('update: an unknown party is null; a decide that throws or decides nothing writes nothing', async () => {
      assert.equal(await parties.update(randomUUID(), 0, () => assert.fail('decide runs only for a party')), null);
      const s = await newParty(parties);
      await assert.rejects(
        parties.update(s.id, 0, () => {
          throw new AppError('conflict', 'nope', 'refused');
        }),
        (err: unknown) => err instanceof AppError && err.code === 'nope',
      );
      const none = await parties.update(s.id, 0, (cur) => ({ events: [], state: cur }));
      assert.deepEqual(none?.events, []);
      assert.equal((await parties.readEvents(s.id, 0, 10)).length, 1);
      assert.equal((await parties.load(s.id))?.version, 1);
    });

    it('[PA10] link rows: upserted per socket, read per party since a time in connection order, deleted, pruned', async () => {
      const s = await newParty(parties);
      const other = await newParty(parties);
      await parties.putLink(link(s.id, 'c-b', 1_000));
      await parties.putLink(link(s.id, 'c-a', 2_000, { degraded: true, followDelayMs: 120 }));
      await parties.putLink(link(other.id, 'c-c', 2_000));
      assert.deepEqual(await parties.links(s.id, 0), [link(s.id, 'c-a', 2_000, { degraded: true, followDelayMs: 120 }), link(s.id, 'c-b', 1_000)]);
      assert.deepEqual(
        (await parties.links(s.id, 1_500)).map((l) => l.connectionId),
        ['c-a'],
      );
      // A refresh replaces the measurement, with the latest position error [PA9].
      const refreshed = { offsetMs: -7.75, rttMs: 10, samples: 20, positionErrorMs: -42.125, positionErrorAt: 2_990 };
      await parties.putLink(link(s.id, 'c-b', 3_000, refreshed));
      assert.deepEqual(await parties.links(s.id, 2_500), [link(s.id, 'c-b', 3_000, refreshed)]);
      // decide sees the party's links updated since linksSince.
      let seen: string[] = [];
      await parties.update(s.id, 2_500, (cur, links) => {
        seen = links.map((l) => l.connectionId);
        return { events: [], state: cur };
      });
      assert.deepEqual(seen, ['c-b']);
      await parties.deleteLink('c-a');
      assert.deepEqual(
        (await parties.links(s.id, 0)).map((l) => l.connectionId),
        ['c-b'],
      );
      await parties.pruneLinks(2_500);
      assert.deepEqual(await parties.links(other.id, 0), [], 'rows older than the cut-off are gone');
      assert.deepEqual(
        (await parties.links(s.id, 0)).map((l) => l.connectionId),
        ['c-b'],
      );
    });

    it('[PA11] a command key is recorded with the event it appended, per member and party; a repeat decides nothing and answers the record', async () => {
      const s = await newParty(parties);
      const other = await newParty(parties);
      const key: PartyCommandKey = { userId: 'host', mutationId: 'm-1', fingerprint: 'fp-next' };
      const toggle = (cur: PartyState) => next(cur, 'host', [{ type: 'settings_changed', data: { allowMemberAdds: !cur.allowMemberAdds } }]);
      const first = await parties.update(s.id, 0, toggle, key);
      assert.equal(first?.recorded, undefined);
      assert.deepEqual(
        first?.events.map((e) => e.sequenceNumber),
        [2],
      );
      assert.deepEqual(await parties.command(s.id, 'host', 'm-1'), { fingerprint: 'fp-next', sequenceNumber: 2 });
      // The repeat: decide does not run, nothing is appended, the record is the answer (whatever its fingerprint: the service compares).
      const again = await parties.update(s.id, 0, () => assert.fail('a recorded key decides nothing'), { ...key, fingerprint: 'fp-other' });
      assert.deepEqual(again?.recorded, { fingerprint: 'fp-next', sequenceNumber: 2 });
      assert.deepEqual(again?.events, []);
      assert.equal(again?.state.version, 2);
      assert.equal((await parties.readEvents(s.id, 0, 10)).length, 2);
      // Scoped per member and per party.
      assert.equal(await parties.command(s.id, 'member', 'm-1'), null);
      assert.equal(await parties.command(other.id, 'host', 'm-1'), null);
      const otherMember = await parties.update(s.id, 0, toggle, { ...key, userId: 'member' });
      assert.deepEqual(
        otherMember?.events.map((e) => e.sequenceNumber),
        [3],
      );
      // A decide that throws or decides nothing records nothing.
      await assert.rejects(
        parties.update(
          s.id,
          0,
          () => {
            throw new AppError('forbidden', 'not_the_host', 'refused');
          },
          { ...key, mutationId: 'm-2' },
        ),
      );
      await parties.update(s.id, 0, (cur) => ({ events: [], state: cur }), { ...key, mutationId: 'm-3' });
      assert.equal(await parties.command(s.id, 'host', 'm-2'), null);
      assert.equal(await parties.command(s.id, 'host', 'm-3'), null);
    });

    it('[PA11] concurrent updates with one key append once', async () => {
      const s = await newParty(parties);
      const key: PartyCommandKey = { userId: 'host', mutationId: 'race', fingerprint: 'fp' };
      const outs = await Promise.all(
        Array.from({ length: 8 }, () =>
          parties.update(s.id, 0, (cur) => next(cur, 'host', [{ type: 'settings_changed', data: { allowMemberAdds: !cur.allowMemberAdds } }]), key),
        ),
      );
      assert.equal(outs.filter((o) => o?.recorded === undefined).length, 1);
      assert.deepEqual(
        outs.filter((o) => o?.recorded).map((o) => o?.recorded),
        Array(7).fill({ fingerprint: 'fp', sequenceNumber: 2 }),
      );
      assert.equal((await parties.readEvents(s.id, 0, 10)).length, 2);
    });

    it('[PA11] records expire with the idempotency records: past the TTL a key is new again; the sweep deletes them', async () => {
      const s = await newParty(parties);
      const key: PartyCommandKey = { userId: 'host', mutationId: 'm-old', fingerprint: 'fp' };
      const toggle = (cur: PartyState) => next(cur, 'host', [{ type: 'settings_changed', data: { allowMemberAdds: !cur.allowMemberAdds } }]);
      await parties.update(s.id, 0, toggle, key);
      // The same tables read with a 1 ms TTL (IDEMPOTENCY_TTL_HOURS in the server).
      const short =
        kind === 'sqlite'
          ? new SqlitePartyStore((t.store as SqliteStore).db, { idempotencyTtlMs: 1 })
          : new PostgresPartyStore((t.store as PostgresStore).pool, { idempotencyTtlMs: 1 });
      await waitFor(async () => (await short.command(s.id, 'host', 'm-old')) === null, { what: 'the record of m-old expired' });
      const anew = await short.update(s.id, 0, toggle, { ...key, fingerprint: 'fp-2' });
      assert.deepEqual(
        anew?.events.map((e) => e.sequenceNumber),
        [3],
        'an expired key is a new command',
      );
      assert.deepEqual(await parties.command(s.id, 'host', 'm-old'), { fingerprint: 'fp-2', sequenceNumber: 3 }, 'its record replaced the expired one');
      const swept = await t.store.sweep({ idempotencyBefore: Date.now() + 1000 });
      assert.ok(swept.idempotencyRecords >= 1);
      assert.equal(await parties.command(s.id, 'host', 'm-old'), null, 'swept');
    });
  });
}
