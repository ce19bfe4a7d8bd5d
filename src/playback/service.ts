// The playback service: validate what the decider cannot (queue access, known devices),
// run the pure decider inside the store's transaction on the user's stream, then tell
// the committed event to the listeners (the bus among them). REST handlers and the WebSocket layer both call this.
import { notFound } from '../errors.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService } from '../queues/service.ts';
import type { Presence } from '../realtime/presence.ts';
import type { DeviceRecord, IdempotencyRecords, UserStreams, UserAppended, UserEvent } from '../store/port.ts';
import {
  activeRecord,
  decideTransfer,
  decideWrite,
  latestRecord,
  parseClientTime,
  toView,
  type PlaybackDecision,
  type PlaybackRecord,
  type PlaybackView,
} from './playback.ts';
import { CommitListeners, CommitPath, keyReused, recall, type StreamNote } from '../util/commit.ts';

export interface PlaybackDeps {
  store: UserStreams & IdempotencyRecords;
  /** Checks that a queue named in a state is one the caller may read. */
  queues: Pick<QueueService, 'get'>;
  presence: Presence;
  now: () => number;
  /** A listener threw after a commit (the write stands; the others still ran). */
  onListenerError?: (err: unknown) => void;
}

/** Told after each commit on a user's stream, in sequence order (src/services.ts hooks the bus to it). */
export type UserCommittedListener = (userId: string, events: UserEvent[]) => void;

/** A state as a device sends it (PUT /users/{userId}/playback-state). */
export interface PlaybackWrite {
  queueId?: string | null;
  currentTrackId?: string | null;
  itemId?: string | null;
  position: number;
  isPlaying: boolean;
  deviceId: string;
  timestamp: string | number;
  volume?: number | null;
  rate?: number;
}

export interface IdempotencyOptions {
  /** Idempotency-Key / mutationId: a retry returns the first answer and appends nothing. */
  idempotencyKey?: string;
  /** What the request was, so a key reused for another request is refused. */
  fingerprint?: string;
}

export interface PlaybackResult {
  body: PlaybackView;
  /** True when this answer is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

export interface DeviceView {
  deviceId: string;
  name: string | null;
  type: string | null;
  online: boolean;
  lastSeen: string;
  firstSeen: string;
  isActive: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class PlaybackService {
  private readonly commits = new CommitPath();
  private readonly listeners: CommitListeners<Parameters<UserCommittedListener>>;

  private readonly deps: PlaybackDeps;
  constructor(deps: PlaybackDeps) {
    this.deps = deps;
    this.listeners = new CommitListeners(deps.onListenerError);
  }

  onCommitted(listener: UserCommittedListener): void {
    this.listeners.add(listener);
  }

  /** Hears the user streams' notes (presence of the user's devices, [RT8]); src/services.ts hooks the bus to it. */
  onNote(listener: (userId: string, note: StreamNote) => void): void {
    this.listeners.addNote(listener);
  }

  /** [RT8] A device of the user came online or went offline: a presence note on the user's stream. */
  notePresence(userId: string, deviceId: string, online: boolean): void {
    this.listeners.note(userId, { type: 'presence', queueId: null, userId, deviceId, online, timestamp: this.deps.now() });
  }

  /** Whole milliseconds: the stores keep integer epoch ms. */
  private now(): number {
    return Math.floor(this.deps.now());
  }

  /** Store a device's state; 409 stale_playback_state when the device already sent a newer one. */
  async write(actor: Actor, input: PlaybackWrite, opts: IdempotencyOptions = {}): Promise<PlaybackResult> {
    // The writing device caused the event, and writing state is a sign of life: it is
    // recorded (or refreshed) as a device of the user in the same transaction.
    return this.append(actor, opts, { deviceId: input.deviceId, touch: true }, async () => {
      const clientTs = parseClientTime(input.timestamp);
      const queueId = input.queueId ?? null;
      if (queueId !== null) await this.deps.queues.get(actor, queueId);
      const state = {
        queueId,
        currentTrackId: input.currentTrackId ?? null,
        itemId: input.itemId ?? null,
        position: input.position,
        isPlaying: input.isPlaying,
        volume: input.volume ?? null,
        rate: input.rate ?? 1,
        deviceId: input.deviceId,
        timestamp: iso(clientTs),
      };
      return (records, now) => decideWrite(records, state, clientTs, now);
    });
  }

  /** Move playback to another known device of the user, position carried to now. */
  async transfer(actor: Actor, input: { deviceId: string; play?: boolean }, opts: IdempotencyOptions = {}): Promise<PlaybackResult> {
    // The event names the requesting device (X-Device-Id), not the target: sockets skip echoes
    // of a device's own events, and the target must hear about the transfer.
    return this.append(actor, opts, { deviceId: actor.deviceId, touch: false }, async () => {
      // Devices are never removed, so a target known now is still known inside the transaction.
      const devices = await this.deps.store.listDevices(actor.userId);
      if (!devices.some((d) => d.deviceId === input.deviceId)) {
        throw notFound('device_not_found', 'no such device for this user', { deviceId: input.deviceId });
      }
      return (records, now) => decideTransfer(records, input.deviceId, input.play, now);
    });
  }

  /** The newest state among the user's devices except `excludeDeviceId`, position at now. */
  async get(userId: string, excludeDeviceId?: string): Promise<PlaybackView> {
    const records = await this.deps.store.listPlayback(userId);
    const latest = latestRecord(records, excludeDeviceId);
    if (!latest) throw notFound('no_playback_state', 'no playback state', excludeDeviceId ? { excludeDevice: excludeDeviceId } : {});
    return toView(latest, activeRecord(records)?.deviceId ?? null, this.now());
  }

  /** Register or rename a device (the WebSocket layer calls this on connect); also marks it seen now. */
  async registerDevice(userId: string, deviceId: string, info: { name?: string; type?: string } = {}): Promise<DeviceView> {
    const d = await this.deps.store.upsertDevice(userId, deviceId, info, this.now());
    const [online, records] = await Promise.all([this.deps.presence.onlineDevices(userId), this.deps.store.listPlayback(userId)]);
    return deviceView(d, online, activeRecord(records)?.deviceId ?? null);
  }

  /** Mark a device seen now (heartbeats, messages). */
  async touchDevice(userId: string, deviceId: string): Promise<void> {
    await this.deps.store.upsertDevice(userId, deviceId, {}, this.now());
  }

  async listDevices(userId: string): Promise<DeviceView[]> {
    const [devices, online, records] = await Promise.all([
      this.deps.store.listDevices(userId),
      this.deps.presence.onlineDevices(userId),
      this.deps.store.listPlayback(userId),
    ]);
    const active = activeRecord(records)?.deviceId ?? null;
    return devices.map((d) => deviceView(d, online, active));
  }

  /** The user's sync events after `afterSequence` (socket resume and GET sync-events). */
  readEvents(userId: string, afterSequence: number, limit: number): Promise<UserEvent[]> {
    return this.deps.store.readUserEvents(userId, afterSequence, limit);
  }

  version(userId: string): Promise<number> {
    return this.deps.store.userVersion(userId);
  }

  /**
   * The user stream's state for a socket's hello: the version first, then the state, so the
   * state is at least as new as the version and replaying events after it loses nothing.
   */
  async snapshot(userId: string): Promise<{ sequenceNumber: number; data: { playback: PlaybackView | null; devices: DeviceView[] } }> {
    const sequenceNumber = await this.version(userId);
    const [records, devices] = await Promise.all([this.deps.store.listPlayback(userId), this.listDevices(userId)]);
    const latest = latestRecord(records);
    const playback = latest ? toView(latest, activeRecord(records)!.deviceId, this.now()) : null;
    return { sequenceNumber, data: { playback, devices } };
  }

  /**
   * One append on the user's stream. A retry is answered from its idempotency record first;
   * otherwise `prepare` checks the request and gives the decider, which runs inside the
   * store's transaction with the server time taken there too, so the stale check and the
   * sequence number cannot race.
   */
  private async append(
    actor: Actor,
    opts: IdempotencyOptions,
    source: { deviceId: string | null; touch: boolean },
    prepare: () => Promise<(records: readonly PlaybackRecord[], now: number) => PlaybackDecision>,
  ): Promise<PlaybackResult> {
    const { userId } = actor;
    // The one commit path: one append per user at a time in this process, publishing before
    // the next starts, so local subscribers get the user's events in sequence order (the
    // lock in the store already serialises the appends; this orders the publishing).
    const { result, replayed } = await this.commits.run<{ body: PlaybackView; appended?: UserAppended }>(`user:${userId}`, {
      replay: opts.idempotencyKey ? () => this.replay(userId, opts) : undefined,
      committed: (r) => {
        // The bus is not the source of truth: subscribers that miss an event see the gap
        // in sequence numbers and read it back from the store.
        if (r.appended) this.listeners.tell(userId, [r.appended.event]);
      },
      once: async () => {
        const decide = await prepare();
        const appended = await this.deps.store.appendUserEvent({
          userId,
          decide: (current) => {
            const now = this.now();
            const d = decide(current.playback, now);
            return {
              event: { type: d.type, deviceId: source.deviceId, timestamp: iso(now), data: d.data },
              playback: d.record,
              ...(source.touch && source.deviceId !== null ? { touch: { deviceId: source.deviceId, at: now } } : {}),
            };
          },
          idempotency: opts.idempotencyKey
            ? { key: opts.idempotencyKey, fingerprint: opts.fingerprint ?? '', response: (a) => ({ status: 200, body: writtenView(a) }) }
            : undefined,
        });
        return { body: writtenView(appended), appended };
      },
    });
    return { body: result.body, replayed };
  }

  private async replay(userId: string, opts: IdempotencyOptions): Promise<{ body: PlaybackView } | null> {
    const key = opts.idempotencyKey;
    if (!key) return null;
    const rec = recall(await this.deps.store.getIdempotency(userId, key), opts.fingerprint ?? '', keyReused(key));
    return rec && { body: rec.body as PlaybackView };
  }
}

/** The answer to a write: the stored state as of its write, its device now the active one. */
function writtenView(a: UserAppended): PlaybackView {
  const r = a.playback!;
  return toView(r, r.deviceId, r.serverTs);
}

function deviceView(d: DeviceRecord, online: Set<string>, activeDeviceId: string | null): DeviceView {
  return {
    deviceId: d.deviceId,
    name: d.name,
    type: d.type,
    online: online.has(d.deviceId),
    lastSeen: iso(d.lastSeen),
    firstSeen: iso(d.firstSeen),
    isActive: d.deviceId === activeDeviceId,
  };
}
