// This user's playback state across devices: the user stream of the sync socket
// (playback_sync, playback_transferred), the device list with presence, and the
// position extrapolated to now with the server clock offset.
import { extrapolate, type PlaybackState } from '../../src/playback/playback.ts';
import type { Api, Device, PlaybackStateAnswer, UserSyncEvent } from './api.ts';
import { Emitter } from './emitter.ts';
import { GapTimer } from './gap-timer.ts';
import type { ClientContext } from './context.ts';
import { QueueServiceError } from './errors.ts';

export interface PlaybackMirrorState extends PlaybackState {
  /** Server time (epoch ms) at which `position` was true. */
  serverTs: number;
  activeDeviceId: string | null;
  sequenceNumber: number;
}

export type PlaybackEvents = {
  change: [PlaybackMirrorState | null, UserSyncEvent[]];
  devices: [Device[]];
  error: [QueueServiceError];
};

export interface PlaybackUpdate {
  trackId?: string | null;
  itemId?: string | null;
  queueId?: string | null;
  position: number;
  isPlaying: boolean;
  rate?: number;
  volume?: number | null;
}

/** What the playback mirror needs from its QueueClient for offline writes. */
export interface PlaybackHost {
  online(): boolean;
  /** Keeps a set_playback change in the outbox for the next POST /sync/offline; resolves when the server decided it. */
  queue(body: Record<string, unknown>): Promise<void>;
}

export class PlaybackMirror extends Emitter<PlaybackEvents> {
  /** The server's playback state, as this mirror knows it. */
  confirmed: PlaybackMirrorState | null = null;
  /** This device's own state reported while offline, until the server decided it. */
  private local: PlaybackMirrorState | null = null;
  host: PlaybackHost | null = null;
  devices: Device[] = [];
  /** The user stream's last sequence number folded in. */
  sequence = 0;
  private readonly buffer = new Map<number, UserSyncEvent>();
  private readonly gap = new GapTimer(() => void this.refill());
  /** The newest sequence number a REST answer showed to exist (held or not yet). */
  private known = 0;
  /** Server clock minus this device's clock (ms), from the fastest exchange seen. */
  offsetMs = 0;
  private bestRtt = Infinity;
  private writes = 0;

  private readonly ctx: ClientContext;
  private readonly api: Api;
  constructor(ctx: ClientContext, api: Api) {
    super();
    this.ctx = ctx;
    this.api = api;
  }

  /** The playback state: the server's, or this device's own one reported while offline (until it is synced). */
  get state(): PlaybackMirrorState | null {
    return this.local ?? this.confirmed;
  }

  private set state(s: PlaybackMirrorState | null) {
    this.confirmed = s;
  }

  /** Where playback is now (seconds), on the server's clock. */
  positionNow(): number | null {
    if (!this.state) return null;
    return extrapolate(this.state, this.state.serverTs, this.ctx.now() + this.offsetMs);
  }

  /** Reports this device's playback (PUT /users/me/playback-state). */
  async update(u: PlaybackUpdate): Promise<PlaybackMirrorState> {
    const t0 = this.ctx.now();
    const body = {
      position: u.position,
      isPlaying: u.isPlaying,
      deviceId: this.ctx.deviceId,
      timestamp: t0,
      ...(u.trackId !== undefined ? { currentTrackId: u.trackId } : {}),
      ...(u.itemId !== undefined ? { itemId: u.itemId } : {}),
      ...(u.queueId !== undefined ? { queueId: u.queueId } : {}),
      ...(u.rate !== undefined ? { rate: u.rate } : {}),
      ...(u.volume !== undefined ? { volume: u.volume } : {}),
    };
    const key = `pb:${this.ctx.deviceId}:${t0}:${this.writes++}`;
    if (this.host && !this.host.online()) return this.offline(body, t0);
    let answer: PlaybackStateAnswer;
    try {
      answer = await this.api.putPlaybackState(body, { idempotencyKey: key });
    } catch (err) {
      // The network is gone: kept for the offline sync instead ([OF10]: the newest state wins there).
      if (this.host && err instanceof QueueServiceError && err.status === -1) return this.offline(body, t0);
      throw err;
    }
    return this.answered(answer, t0);
  }

  /** Offline: shown at once as this device's state, sent with the next POST /sync/offline. */
  private async offline(body: Record<string, unknown>, t0: number): Promise<PlaybackMirrorState> {
    const mine: PlaybackMirrorState = {
      queueId: (body.queueId as string | null | undefined) ?? null,
      currentTrackId: (body.currentTrackId as string | null | undefined) ?? null,
      itemId: (body.itemId as string | null | undefined) ?? null,
      position: body.position as number,
      isPlaying: body.isPlaying as boolean,
      volume: (body.volume as number | null | undefined) ?? null,
      rate: (body.rate as number | undefined) ?? 1,
      deviceId: this.ctx.deviceId,
      timestamp: new Date(t0).toISOString(),
      serverTs: t0 + this.offsetMs,
      activeDeviceId: this.ctx.deviceId,
      sequenceNumber: this.sequence,
    };
    this.local = mine;
    this.emit('change', this.state, []);
    try {
      await this.host!.queue(body);
    } finally {
      if (this.local === mine) {
        this.local = null;
        this.emit('change', this.state, []);
      }
    }
    return this.state ?? mine;
  }

  /** Moves playback to another device of this user (POST /users/me/playback/transfer). */
  async transferTo(deviceId: string, play?: boolean): Promise<PlaybackMirrorState> {
    const t0 = this.ctx.now();
    const answer = await this.api.transferPlayback(deviceId, play, { idempotencyKey: `pbt:${this.ctx.deviceId}:${t0}:${this.writes++}` });
    return this.answered(answer, t0);
  }

  // ---- fed by the client ----

  clock(serverTime: number, sentAt: number, receivedAt: number): void {
    const rtt = receivedAt - sentAt;
    if (rtt <= this.bestRtt) {
      this.bestRtt = rtt;
      this.offsetMs = serverTime - (sentAt + receivedAt) / 2;
    }
  }

  snapshot(seq: number, data: { playback?: (PlaybackStateAnswer & { updatedAt: string }) | null; devices?: Device[] }): void {
    this.sequence = seq;
    for (const k of [...this.buffer.keys()]) if (k <= seq) this.buffer.delete(k);
    const p = data.playback;
    this.state = p ? this.fromView(p) : null;
    this.devices = data.devices ?? [];
    this.emit('change', this.state, []);
    this.emit('devices', this.devices);
    this.drain();
  }

  ingest(events: readonly UserSyncEvent[]): void {
    for (const e of events) if (e.sequenceNumber > this.sequence) this.buffer.set(e.sequenceNumber, e);
    this.drain();
  }

  presence(deviceId: string, online: boolean): void {
    const d = this.devices.find((x) => x.deviceId === deviceId);
    if (d) d.online = online;
    else
      this.devices.push({ deviceId, name: null, type: null, online, lastSeen: new Date().toISOString(), firstSeen: new Date().toISOString(), isActive: false });
    this.emit('devices', this.devices);
  }

  private answered(a: PlaybackStateAnswer, t0: number): PlaybackMirrorState {
    this.clock(Date.parse(a.serverTime), t0, this.ctx.now());
    const s = this.fromView(a);
    if (a.sequenceNumber === this.sequence + 1) {
      this.sequence = a.sequenceNumber;
      this.state = s;
      this.emit('change', this.state, []);
      this.drain();
    } else if (a.sequenceNumber > this.sequence) {
      // Events before this answer are still on their way, and this write's own event will
      // not come back on the socket ([RT5]): read the log unless the socket fills the gap.
      this.known = Math.max(this.known, a.sequenceNumber);
      this.watchGap();
    }
    return s;
  }

  private fromView(p: PlaybackStateAnswer): PlaybackMirrorState {
    const { serverTime, updatedAt, activeDeviceId, sequenceNumber, ...rest } = p;
    // `position` is as of serverTime (extrapolated there); keep that instant as its time.
    return { ...(rest as PlaybackState), serverTs: Date.parse(serverTime), activeDeviceId, sequenceNumber };
  }

  private drain(): void {
    const applied: UserSyncEvent[] = [];
    for (;;) {
      const e = this.buffer.get(this.sequence + 1);
      if (!e) break;
      this.buffer.delete(e.sequenceNumber);
      this.sequence = e.sequenceNumber;
      applied.push(e);
      const d = e.data as { state?: PlaybackState; toDeviceId?: string };
      if ((e.type === 'playback_sync' || e.type === 'playback_transferred') && d.state) {
        const ts = typeof e.timestamp === 'number' ? e.timestamp : Date.parse(e.timestamp);
        this.state = { ...d.state, serverTs: ts, activeDeviceId: d.state.deviceId, sequenceNumber: e.sequenceNumber };
      }
    }
    if (applied.length) this.emit('change', this.state, applied);
    this.watchGap();
  }

  private watchGap(): void {
    this.gap.watch(this.buffer.size > 0 || this.known > this.sequence, () => 150);
  }

  /** Reads the user stream after `sequence` (own writes are not sent back on the socket, [RT5]). */
  async refill(): Promise<void> {
    try {
      for (;;) {
        const r = await this.api.syncEvents(this.sequence, 500);
        this.ingest(r.events);
        if (!r.hasMore) break;
      }
    } catch (err) {
      if (err instanceof QueueServiceError) this.emit('error', err);
    }
  }

  stop(): void {
    this.gap.stop();
  }
}
