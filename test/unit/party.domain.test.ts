// The party aggregate (src/party/party.ts): decisions and fold, without I/O. [PA1]-[PA7]
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppError } from '../../src/errors.ts';
import { decide, evolve, initialState, nextTimeline, type PartyCommand, type PartyEvent, type PartyState } from '../../src/party/party.ts';

let seq = 0;
function apply(s: PartyState, cmd: PartyCommand, userId: string, now = 1000, leadMs = 100): PartyState {
  const bodies = decide(s, cmd, { userId, now, leadMs });
  return bodies
    .map((b) => ({ ...b, partyId: s.id, sequenceNumber: ++seq, userId, deviceId: null, timestamp: new Date(now).toISOString() }) as PartyEvent)
    .reduce(evolve, s);
}

function created(): PartyState {
  seq = 0;
  const e: PartyEvent = {
    type: 'party_created',
    data: {
      queueId: 'q',
      hostId: 'h',
      inviteCode: 'CODE123',
      allowMemberAdds: false,
      playback: { position: 0, at: 0, isPlaying: false, rate: 1, itemId: 'i1', trackId: 't1' },
    },
    partyId: 'p',
    sequenceNumber: ++seq,
    userId: 'h',
    deviceId: null,
    timestamp: new Date(0).toISOString(),
  };
  return evolve(initialState('p'), e);
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as AppError).code;
  }
  return null;
};

describe('party decisions', () => {
  it('[PA1] joining needs the invite code; joining twice changes nothing', () => {
    let s = created();
    assert.equal(
      code(() => apply(s, { type: 'join', inviteCode: 'WRONG00' }, 'a')),
      'invalid_invite_code',
    );
    s = apply(s, { type: 'join', inviteCode: 'CODE123' }, 'a');
    assert.deepEqual(
      s.members.map((m) => m.userId),
      ['h', 'a'],
    );
    assert.deepEqual(decide(s, { type: 'join', inviteCode: 'CODE123' }, { userId: 'a', now: 0, leadMs: 0 }), []);
  });

  it('[PA3] hand-over, host leaving, last one out, end', () => {
    let s = created();
    s = apply(s, { type: 'join', inviteCode: 'CODE123' }, 'a');
    s = apply(s, { type: 'join', inviteCode: 'CODE123' }, 'b');
    assert.equal(
      code(() => apply(s, { type: 'hand_over', to: 'b' }, 'a')),
      'not_the_host',
    );
    assert.equal(
      code(() => apply(s, { type: 'hand_over', to: 'stranger' }, 'h')),
      'not_a_member',
    );
    s = apply(s, { type: 'hand_over', to: 'b' }, 'h');
    assert.equal(s.hostId, 'b');
    assert.equal(
      code(() => apply(s, { type: 'playback', action: 'play' }, 'h')),
      'not_the_host',
    );
    // The host leaves: the longest-standing member hosts.
    s = apply(s, { type: 'leave' }, 'b');
    assert.equal(s.hostId, 'h');
    s = apply(s, { type: 'leave' }, 'h');
    assert.equal(s.hostId, 'a');
    assert.equal(s.status, 'active');
    s = apply(s, { type: 'leave' }, 'a');
    assert.equal(s.status, 'ended');
    assert.equal(
      code(() => apply(s, { type: 'join', inviteCode: 'CODE123' }, 'z')),
      'party_ended',
    );
    let t = created();
    assert.equal(
      code(() => apply(t, { type: 'end' }, 'x')),
      'not_a_member',
    );
    t = apply(t, { type: 'end' }, 'h');
    assert.equal(t.status, 'ended');
  });

  it('[PA7] a command is scheduled at now + lead and continues the timeline from there', () => {
    let s = created();
    s = apply(s, { type: 'playback', action: 'play' }, 'h', 10_000, 150);
    assert.deepEqual({ at: s.playback.at, position: s.playback.position, isPlaying: s.playback.isPlaying }, { at: 10_150, position: 0, isPlaying: true });
    // Pause 2 s later: the position where the timeline will be when the pause takes effect.
    s = apply(s, { type: 'playback', action: 'pause' }, 'h', 12_000, 200);
    assert.equal(s.playback.at, 12_200);
    assert.equal(s.playback.position, 2050);
    assert.equal(s.playback.isPlaying, false);
    // Never before the timeline in force starts.
    const tl = nextTimeline({ ...s.playback, at: 20_000 }, { action: 'seek', position: 5 }, { now: 19_000, leadMs: 100 });
    assert.equal(tl.at, 20_000);
    // Another item starts at 0.
    s = apply(s, { type: 'playback', item: { itemId: 'i2', trackId: 't2' }, isPlaying: true }, 'h', 13_000, 100);
    assert.deepEqual([s.playback.itemId, s.playback.position, s.playback.isPlaying], ['i2', 0, true]);
  });

  it("[PA5] settings are the host's", () => {
    let s = apply(apply(created(), { type: 'join', inviteCode: 'CODE123' }, 'a'), { type: 'settings', allowMemberAdds: true }, 'h');
    assert.equal(s.allowMemberAdds, true);
    assert.equal(
      code(() => apply(s, { type: 'settings', allowMemberAdds: false }, 'a')),
      'not_the_host',
    );
    s = apply(s, { type: 'settings', allowMemberAdds: true }, 'h');
    assert.equal(s.version, 3, 'no event when nothing changes');
  });
});
