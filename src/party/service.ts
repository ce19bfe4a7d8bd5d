// The party service: load, authorize, decide under the party's lock, append, then tell the
// listeners (src/services.ts hooks the bus, stream 'party', so every instance's sockets hear of it). Queue changes go
// through QueueService on the party's queue, as the user who created the party.
import { randomBytes } from 'node:crypto';
import { AppError, notFound } from '../errors.ts';
import type { QueueCommand } from '../queues/decide.ts';
import { can, roleOf } from '../queues/permissions.ts';
import { findItemById, type QueueView } from '../queues/queue.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService, WriteResult } from '../queues/service.ts';
import { CommitListeners, CommitPath, fingerprint, IdempotencyConflict, recall } from '../util/commit.ts';
import {
  DEFAULT_CORRECTION,
  DEFAULT_ESTIMATOR,
  DEFAULT_SCHEDULE,
  positionAt,
  scheduleLead,
  type CorrectionOptions,
  type EstimatorOptions,
  type ScheduleOptions,
} from './clock.ts';
import { decide, evolve, initialState, isMember, MAX_MEMBERS, type PartyCommand, type PartyEvent, type PartyState, type PlaybackRequest } from './party.ts';
import type { PartyDeviceView, PartyView } from './protocol.ts';
import type { LinkRecord, PartyCommandKey, PartyStore } from './store.ts';

export type { PartyDeviceView, PartyView };

export interface PartyOptions {
  schedule: ScheduleOptions;
  correction: CorrectionOptions;
  estimator: EstimatorOptions;
  /** A link row not refreshed for this long belongs to a socket that is gone (a crashed instance). */
  linkTtlMs: number;
  /** How often an instance refreshes its sockets' link rows. */
  linkRefreshMs: number;
  maxMembers: number;
}

export const DEFAULT_PARTY_OPTIONS: PartyOptions = {
  schedule: DEFAULT_SCHEDULE,
  correction: DEFAULT_CORRECTION,
  estimator: DEFAULT_ESTIMATOR,
  linkTtlMs: 65_000,
  linkRefreshMs: 20_000,
  maxMembers: MAX_MEMBERS,
};

export interface PartyServiceDeps {
  store: PartyStore;
  queues: QueueService;
  now: () => number;
  newId: () => string;
  options: PartyOptions;
  /** A listener threw after a commit (the command stands; the others still ran). */
  onListenerError?: (err: unknown) => void;
}

/** Told after each commit on a party's stream, in sequence order (src/services.ts hooks the bus to it). */
export type PartyCommittedListener = (partyId: string, events: PartyEvent[]) => void;

/** What one party commit did: the events appended (a replay: the one its key's first command appended) and the state after them. */
interface PartyCommit {
  events: PartyEvent[];
  state?: PartyState;
}

export function toPartyView(s: PartyState, links: LinkRecord[], now: number): PartyView {
  return {
    id: s.id,
    queueId: s.queueId,
    hostId: s.hostId,
    createdBy: s.createdBy,
    inviteCode: s.inviteCode,
    allowMemberAdds: s.allowMemberAdds,
    status: s.status,
    sequenceNumber: s.version,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    endedAt: s.endedAt,
    playback: { ...s.playback, serverTime: now, positionNow: positionAt(s.playback, now) },
    members: s.members.map((m) => {
      const devices = links
        .filter((l) => l.userId === m.userId)
        .map((l) => ({
          deviceId: l.deviceId,
          connectionId: l.connectionId,
          offsetMs: l.offsetMs,
          rttMs: l.rttMs,
          oneWayMs: l.oneWayMs,
          degraded: l.degraded,
          followDelayMs: l.followDelayMs,
          samples: l.samples,
          positionErrorMs: l.positionErrorMs,
          positionErrorAt: l.positionErrorAt,
        }));
      return { userId: m.userId, joinedAt: m.joinedAt, isHost: m.userId === s.hostId, online: devices.length > 0, deviceInfo: m.deviceInfo, devices };
    }),
  };
}

const INVITE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I

function inviteCode(): string {
  const bytes = randomBytes(10);
  return Array.from(bytes, (b) => INVITE_ALPHABET[b % INVITE_ALPHABET.length]).join('');
}

/** The current item of a view whose window holds it (e.g. `around: 'current'`). */
const currentItem = (q: QueueView) => {
  const it = q.currentItemId === null ? undefined : q.items.find((i) => i.itemId === q.currentItemId);
  return { itemId: it?.itemId ?? null, trackId: it?.trackId ?? null };
};

export class PartyService {
  private readonly commits = new CommitPath();
  private readonly listeners: CommitListeners<Parameters<PartyCommittedListener>>;

  private readonly deps: PartyServiceDeps;
  constructor(deps: PartyServiceDeps) {
    this.deps = deps;
    this.listeners = new CommitListeners(deps.onListenerError);
  }

  onCommitted(listener: PartyCommittedListener): void {
    this.listeners.add(listener);
  }

  get options(): PartyOptions {
    return this.deps.options;
  }

  /** Queue edits made for the party run as its creator, on the party's device id (the host's queue, [PA5]). */
  private queueActor(s: PartyState, userId: string): Actor {
    return { userId: s.createdBy, deviceId: `party:${s.id}:${userId}` };
  }

  private linksSince(): number {
    return this.deps.now() - this.deps.options.linkTtlMs;
  }

  /** [PA1] Create a party on a queue the caller may control and edit; the caller hosts it. */
  async create(actor: Actor, input: { queueId: string; allowMemberAdds?: boolean }): Promise<PartyView> {
    const q = await this.deps.queues.get(actor, input.queueId);
    const role = roleOf(q, actor.userId);
    if (!can(role, 'control') || !can(role, 'add')) throw new AppError('forbidden', 'forbidden', 'a party needs a queue you may control and add to');
    const id = this.deps.newId();
    const now = this.deps.now();
    const cur = q.currentItemId === null ? undefined : findItemById(q, q.currentItemId);
    const event: PartyEvent = {
      type: 'party_created',
      data: {
        queueId: q.id,
        hostId: actor.userId,
        inviteCode: inviteCode(),
        allowMemberAdds: input.allowMemberAdds ?? false,
        playback: { position: 0, at: now, isPlaying: false, rate: 1, itemId: cur?.itemId ?? null, trackId: cur?.trackId ?? null },
      },
      partyId: id,
      sequenceNumber: 1,
      userId: actor.userId,
      deviceId: actor.deviceId,
      timestamp: new Date(now).toISOString(),
    };
    const state = evolve(initialState(id), event);
    // The one commit path, as every party command: appended, then told in sequence order.
    await this.commits.run(`party:${id}`, {
      committed: (r) => this.told(id, r),
      once: async (): Promise<PartyCommit> => {
        await this.deps.store.create(event, state);
        return { events: [event], state };
      },
    });
    return toPartyView(state, [], now);
  }

  /** The party, for its members only: 404 when unknown, 403 for anyone else ([PA2]). */
  async memberState(userId: string, partyId: string): Promise<PartyState> {
    const s = await this.deps.store.load(partyId);
    if (!s) throw notFound('party_not_found', 'party not found', { partyId });
    if (!isMember(s, userId)) throw new AppError('forbidden', 'not_a_member', 'you are not a member of this party; join with its invite code');
    return s;
  }

  async view(actor: Actor, partyId: string): Promise<PartyView> {
    const s = await this.memberState(actor.userId, partyId);
    return toPartyView(s, s.status === 'active' ? await this.deps.store.links(partyId, this.linksSince()) : [], this.deps.now());
  }

  async load(partyId: string): Promise<PartyState | null> {
    return this.deps.store.load(partyId);
  }

  /** [PA10] The measured link of a socket this instance holds, for whichever instance schedules a command. */
  putLink(link: LinkRecord): Promise<void> {
    return this.deps.store.putLink(link);
  }

  deleteLink(connectionId: string): Promise<void> {
    return this.deps.store.deleteLink(connectionId);
  }

  /** Link rows not refreshed within linkTtlMs belong to sockets of an instance that died. */
  pruneLinks(): Promise<void> {
    return this.deps.store.pruneLinks(this.deps.now() - this.deps.options.linkTtlMs);
  }

  async snapshot(partyId: string): Promise<{ sequenceNumber: number; data: PartyView }> {
    const s = await this.deps.store.load(partyId);
    if (!s) throw notFound('party_not_found', 'party not found', { partyId });
    const links = s.status === 'active' ? await this.deps.store.links(partyId, this.linksSince()) : [];
    return { sequenceNumber: s.version, data: toPartyView(s, links, this.deps.now()) };
  }

  readEvents(partyId: string, after: number, limit: number): Promise<PartyEvent[]> {
    return this.deps.store.readEvents(partyId, after, limit);
  }

  async join(actor: Actor, partyId: string, code: string, deviceInfo?: Record<string, unknown>): Promise<PartyView> {
    const { state } = await this.apply(actor, partyId, { type: 'join', inviteCode: code, deviceInfo });
    return toPartyView(state, await this.deps.store.links(partyId, this.linksSince()), this.deps.now());
  }

  async leave(actor: Actor, partyId: string): Promise<void> {
    await this.apply(actor, partyId, { type: 'leave' });
  }

  async end(actor: Actor, partyId: string): Promise<PartyView> {
    const { state } = await this.apply(actor, partyId, { type: 'end' });
    return toPartyView(state, [], this.deps.now());
  }

  async handOver(actor: Actor, partyId: string, to: string): Promise<PartyView> {
    const { state } = await this.apply(actor, partyId, { type: 'hand_over', to });
    return toPartyView(state, await this.deps.store.links(partyId, this.linksSince()), this.deps.now());
  }

  async settings(actor: Actor, partyId: string, allowMemberAdds: boolean): Promise<PartyView> {
    const { state } = await this.apply(actor, partyId, { type: 'settings', allowMemberAdds });
    return toPartyView(state, await this.deps.store.links(partyId, this.linksSince()), this.deps.now());
  }

  /**
   * [PA7] A host's playback command: queue moves (next, previous, another item) go through
   * QueueService first; then the timeline is scheduled far enough ahead for the slowest
   * member and appended as a playback_sync event.
   *
   * [PA11] With a mutationId the command is applied at most once per member: a repeat
   * (after a lost ack, a reconnect, on another instance) answers the event the first one
   * appended (`replayed`). Safe at every step: the queue move carries an idempotency key
   * made from the mutationId (a repeat after the move but before the append moves nothing
   * again), and the key is recorded with the party event, in its transaction, under the
   * party's lock.
   */
  async playback(
    actor: Actor,
    partyId: string,
    req: PlaybackRequest & { itemId?: string },
    mutationId?: string,
  ): Promise<{ event: PartyEvent; replayed: boolean }> {
    const s = await this.memberState(actor.userId, partyId);
    const key: PartyCommandKey | undefined = mutationId
      ? { userId: actor.userId, mutationId, fingerprint: fingerprint('party_playback', partyId, req) }
      : undefined;
    // The key is checked once, by the commit path: its replay before anything runs, and again
    // when the same key committed first under the lock (a concurrent repeat, maybe on another instance).
    const { result, replayed } = await this.commits.run(`party:${partyId}`, {
      replay: key ? () => this.replay(partyId, key) : undefined,
      committed: (r) => this.told(partyId, r),
      once: async () => {
        // Fail before touching the queue; decide checks again under the lock.
        decide(s, { type: 'playback', ...req }, { userId: actor.userId, now: 0, leadMs: 0 });
        let item: PlaybackRequest['item'];
        let queueCmd: QueueCommand | null = null;
        if (req.action === 'next' || req.action === 'previous') queueCmd = { type: req.action };
        else if (req.itemId !== undefined && req.itemId !== s.playback.itemId) queueCmd = { type: 'set_current', itemId: req.itemId };
        // Play with nothing current starts the queue from its first item.
        else if (req.action === 'play' && req.itemId === undefined && s.playback.itemId === null) queueCmd = { type: 'next' };
        if (queueCmd) {
          // The answer's window is the current item alone: it may be anywhere in a long queue.
          const res = await this.deps.queues.execute(this.queueActor(s, actor.userId), s.queueId, queueCmd, {
            window: { around: 'current', limit: 1 },
            // Queue keys are scoped per user and these moves all run as the creator: scope them per member.
            ...(key ? { idempotencyKey: `party_playback:${partyId}:${actor.userId}:${key.mutationId}`, fingerprint: key.fingerprint } : {}),
          });
          item = currentItem(res.body.queue!);
        }
        const { itemId: _i, ...rest } = req;
        return this.update(actor, partyId, { type: 'playback', ...rest, item }, key);
      },
    });
    return { event: result.events[0]!, replayed };
  }

  /** [PA11] The answer to a repeated key: the event its first command appended; 422 when the key named another command. */
  private async replay(partyId: string, key: PartyCommandKey): Promise<PartyCommit | null> {
    const rec = recall(await this.deps.store.command(partyId, key.userId, key.mutationId), key.fingerprint, {
      code: 'idempotency_key_reused',
      message: 'this mutationId was used for a different command',
      details: { mutationId: key.mutationId },
    });
    if (!rec) return null;
    const [event] = await this.deps.store.readEvents(partyId, rec.sequenceNumber - 1, 1);
    if (!event || event.sequenceNumber !== rec.sequenceNumber)
      throw notFound('party_event_not_found', 'the event this command appended is gone', { sequenceNumber: rec.sequenceNumber });
    return { events: [event] };
  }

  /** [PA5] Add tracks to the party queue: the host always, members when the host allows it. */
  async addTracks(
    actor: Actor,
    partyId: string,
    body: { tracks: string[]; position?: number; afterItemId?: string; beforeItemId?: string },
    idempotencyKey?: string,
  ): Promise<WriteResult> {
    const s = await this.memberState(actor.userId, partyId);
    if (s.status !== 'active') throw new AppError('conflict', 'party_ended', 'the party has ended', { partyId });
    if (s.hostId !== actor.userId && !s.allowMemberAdds) throw new AppError('forbidden', 'member_adds_not_allowed', 'the host does not let members add tracks');
    return this.deps.queues.execute(
      this.queueActor(s, actor.userId),
      s.queueId,
      {
        type: 'add_tracks',
        tracks: body.tracks,
        position: body.position,
        afterItemId: body.afterItemId,
        beforeItemId: body.beforeItemId,
      },
      idempotencyKey
        ? // Keys are scoped per user, and these writes all run as the creator: scope them per member.
          { idempotencyKey: `party:${partyId}:${actor.userId}:${idempotencyKey}`, fingerprint: fingerprint('party_add', partyId, body) }
        : {},
    );
  }

  /** Runs a command under the party's lock, appends its events and tells them, through the one commit path. */
  private async apply(actor: Actor, partyId: string, cmd: PartyCommand): Promise<PartyCommit & { state: PartyState }> {
    // One command per party at a time in this process, told in sequence order (the party
    // store's lock serialises the appends themselves).
    const { result } = await this.commits.run(`party:${partyId}`, {
      committed: (r) => this.told(partyId, r),
      once: () => this.update(actor, partyId, cmd),
    });
    return result;
  }

  /** Decides and appends one command under the party's lock (the store's); with a key recorded meanwhile, IdempotencyConflict. */
  private async update(actor: Actor, partyId: string, cmd: PartyCommand, key?: PartyCommandKey): Promise<PartyCommit & { state: PartyState }> {
    const { options, now } = this.deps;
    const out = await this.deps.store.update(
      partyId,
      this.linksSince(),
      (state, links) => {
        const t = now();
        const leadMs =
          cmd.type === 'playback'
            ? scheduleLead(
                links.filter((l) => isMember(state, l.userId)).map((l) => ({ id: l.connectionId, oneWayMs: l.oneWayMs, degraded: l.degraded })),
                options.schedule,
              ).leadMs
            : 0;
        const bodies = decide(state, cmd, { userId: actor.userId, now: t, leadMs, maxMembers: options.maxMembers });
        const timestamp = new Date(t).toISOString();
        const events = bodies.map(
          (b, i) => ({ ...b, partyId, sequenceNumber: state.version + i + 1, userId: actor.userId, deviceId: actor.deviceId, timestamp }) as PartyEvent,
        );
        return { events, state: events.reduce(evolve, state) };
      },
      key,
    );
    if (!out) throw notFound('party_not_found', 'party not found', { partyId });
    // The same key committed first under the lock: the commit path answers from its replay.
    if (key && out.recorded) throw new IdempotencyConflict(key.userId, key.mutationId);
    return out;
  }

  private told(partyId: string, r: PartyCommit): void {
    if (r.events.length > 0) this.listeners.tell(partyId, r.events);
  }
}
