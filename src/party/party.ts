// The listening-party aggregate: its events, its state, the pure fold between them, and
// the decisions (who may do what). No I/O; time, ids and the schedule arrive as inputs.
// Rules: docs/SPEC.md, Parties ([PA1]...).
import { AppError, conflict } from '../errors.ts';
import { positionAt } from './clock.ts';

export * from '../model/party.ts';
import type { PartyEvent, PartyEventBody, PartyEventData, PartyPlayback, PartyState, PlaybackAction } from '../model/party.ts';

export const MAX_MEMBERS = 1000;

export function isMember(s: PartyState, userId: string): boolean {
  return s.members.some((m) => m.userId === userId);
}

export function evolve(s: PartyState, e: PartyEvent): PartyState {
  const base = { ...s, version: e.sequenceNumber, updatedAt: e.timestamp };
  switch (e.type) {
    case 'party_created':
      return {
        ...base,
        id: e.partyId,
        queueId: e.data.queueId,
        createdBy: e.userId,
        hostId: e.data.hostId,
        inviteCode: e.data.inviteCode,
        allowMemberAdds: e.data.allowMemberAdds,
        status: 'active',
        createdAt: e.timestamp,
        members: [{ userId: e.data.hostId, joinedAt: e.timestamp, deviceInfo: {} }],
        playback: { ...e.data.playback, sequenceNumber: e.sequenceNumber },
      };
    case 'member_joined':
      return {
        ...base,
        members: [...s.members.filter((m) => m.userId !== e.data.userId), { userId: e.data.userId, joinedAt: e.timestamp, deviceInfo: e.data.deviceInfo }],
      };
    case 'member_left':
      return { ...base, members: s.members.filter((m) => m.userId !== e.data.userId) };
    case 'host_changed':
      return { ...base, hostId: e.data.hostId };
    case 'settings_changed':
      return { ...base, allowMemberAdds: e.data.allowMemberAdds };
    case 'playback_sync': {
      const { action: _a, leadMs: _l, hostId: _h, ...tl } = e.data;
      return { ...base, playback: { ...tl, sequenceNumber: e.sequenceNumber } };
    }
    case 'party_ended':
      return { ...base, status: 'ended', endedAt: e.timestamp };
  }
}

export function initialState(id: string): PartyState {
  return {
    id,
    queueId: '',
    createdBy: '',
    hostId: '',
    inviteCode: '',
    allowMemberAdds: false,
    status: 'active',
    version: 0,
    createdAt: '',
    updatedAt: '',
    endedAt: null,
    members: [],
    playback: { position: 0, at: 0, isPlaying: false, rate: 1, itemId: null, trackId: null, sequenceNumber: 0 },
  };
}

// ---- commands ----

export interface PlaybackRequest {
  action?: PlaybackAction;
  position?: number;
  isPlaying?: boolean;
  rate?: number;
  /** Set by the service after the queue op (next, previous, set_item): the item now current. */
  item?: { itemId: string | null; trackId: string | null };
}

export type PartyCommand =
  | { type: 'join'; inviteCode: string; deviceInfo?: Record<string, unknown> }
  | { type: 'leave' }
  | { type: 'end' }
  | { type: 'hand_over'; to: string }
  | { type: 'settings'; allowMemberAdds: boolean }
  | ({ type: 'playback' } & PlaybackRequest);

export interface DecideContext {
  userId: string;
  /** Server clock, epoch ms. */
  now: number;
  /** How far ahead playback commands are scheduled (from scheduleLead). */
  leadMs: number;
  maxMembers?: number;
}

const forbidden = (code: string, message: string) => new AppError('forbidden', code, message);

function requireActive(s: PartyState): void {
  if (s.status !== 'active') throw conflict('party_ended', 'the party has ended', { partyId: s.id });
}

function requireMember(s: PartyState, userId: string): void {
  if (!isMember(s, userId)) throw forbidden('not_a_member', 'you are not a member of this party');
}

function requireHost(s: PartyState, userId: string): void {
  requireMember(s, userId);
  if (s.hostId !== userId) throw forbidden('not_the_host', 'only the host may do this');
}

/** Constant-time comparison, so the invite code cannot be guessed byte by byte. */
function sameCode(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

/** The event bodies a command produces; [] when it changes nothing (e.g. joining twice). */
export function decide(s: PartyState, cmd: PartyCommand, ctx: DecideContext): PartyEventBody[] {
  switch (cmd.type) {
    case 'join': {
      if (!sameCode(cmd.inviteCode, s.inviteCode)) throw forbidden('invalid_invite_code', "the invite code is not this party's");
      requireActive(s);
      if (isMember(s, ctx.userId)) return [];
      if (s.members.length >= (ctx.maxMembers ?? MAX_MEMBERS))
        throw new AppError('limit', 'party_full', 'the party is full', { maxMembers: ctx.maxMembers ?? MAX_MEMBERS });
      return [{ type: 'member_joined', data: { userId: ctx.userId, deviceInfo: cmd.deviceInfo ?? {} } }];
    }
    case 'leave': {
      requireActive(s);
      requireMember(s, ctx.userId);
      const out: PartyEventBody[] = [{ type: 'member_left', data: { userId: ctx.userId, reason: 'left' } }];
      const rest = s.members.filter((m) => m.userId !== ctx.userId);
      if (rest.length === 0) out.push({ type: 'party_ended', data: { reason: 'empty' } });
      // The host leaving hands over to the member who has been there longest.
      else if (s.hostId === ctx.userId) out.push({ type: 'host_changed', data: { hostId: rest[0]!.userId, previousHostId: ctx.userId, reason: 'host_left' } });
      return out;
    }
    case 'end':
      requireActive(s);
      requireHost(s, ctx.userId);
      return [{ type: 'party_ended', data: { reason: 'ended_by_host' } }];
    case 'hand_over':
      requireActive(s);
      requireHost(s, ctx.userId);
      if (!isMember(s, cmd.to)) throw conflict('not_a_member', 'the new host must be a member of the party', { userId: cmd.to });
      if (cmd.to === s.hostId) return [];
      return [{ type: 'host_changed', data: { hostId: cmd.to, previousHostId: s.hostId, reason: 'handed_over' } }];
    case 'settings':
      requireActive(s);
      requireHost(s, ctx.userId);
      return cmd.allowMemberAdds === s.allowMemberAdds ? [] : [{ type: 'settings_changed', data: { allowMemberAdds: cmd.allowMemberAdds } }];
    case 'playback':
      requireActive(s);
      requireHost(s, ctx.userId);
      return [{ type: 'playback_sync', data: { ...nextTimeline(s.playback, cmd, ctx), hostId: s.hostId } }];
  }
}

/**
 * The timeline a playback command sets ([PA7]): it takes effect at now + lead (never before
 * the timeline in force starts), continuing from where the old timeline will be then.
 */
export function nextTimeline(
  prev: PartyPlayback,
  req: PlaybackRequest,
  ctx: Pick<DecideContext, 'now' | 'leadMs'>,
): Omit<PartyEventData['playback_sync'], 'hostId'> {
  const at = Math.max(Math.round(ctx.now + ctx.leadMs), prev.at);
  const action: PlaybackAction =
    req.action ?? (req.item ? 'set_item' : req.position !== undefined ? 'seek' : req.isPlaying === true ? 'play' : req.isPlaying === false ? 'pause' : 'sync');
  const itemChanged = req.item !== undefined && req.item.itemId !== prev.itemId;
  const item = req.item ?? { itemId: prev.itemId, trackId: prev.trackId };
  let isPlaying = action === 'play' ? true : action === 'pause' ? false : (req.isPlaying ?? prev.isPlaying);
  if (item.itemId === null && req.item !== undefined) isPlaying = false; // end of the queue
  const position = req.position ?? (itemChanged || action === 'next' || action === 'previous' ? 0 : positionAt(prev, at));
  return {
    position: Math.max(0, position),
    at,
    isPlaying,
    rate: req.rate ?? prev.rate,
    itemId: item.itemId,
    trackId: item.trackId,
    action,
    leadMs: at - ctx.now,
  };
}
