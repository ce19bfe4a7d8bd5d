// A party member's timeline ([PA4][PA7][PA8]): the timelines the party's `playback_sync`
// events and `sync_correction`s set, each from its `at` on the server clock, turned into
// "the position to play now" on this device (the server's own `timelineAt`/`positionAt`,
// src/party/clock.ts), and each `playback_sync` announced when it takes effect here: at its
// `at` plus the follow delay, on this device's estimate of server time.
import { positionAt, timelineAt, type Timeline } from '../../src/party/clock.ts';
import type { PlaybackSync } from './messages.ts';

/** A timeline the session knows, with the sequence number of the event that set it. */
export type KnownTimeline = Timeline & { sequenceNumber: number };

export interface PartyTimelineOptions {
  /** Server time now, as this device estimates it (the clock sync's). */
  serverNow: () => number;
  /** This member plays the timeline this many ms late ([PA8]; 0 unless degraded). */
  followDelayMs: () => number;
  /** A `playback_sync` took effect here, `lateMs` past its instant. */
  due: (p: PlaybackSync, lateMs: number) => void;
}

export class PartyTimeline {
  private timelines: KnownTimeline[];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  private readonly o: PartyTimelineOptions;
  constructor(first: KnownTimeline, o: PartyTimelineOptions) {
    this.timelines = [first];
    this.o = o;
  }

  /** A snapshot's timeline replaces what came before it; later ones still come as events. */
  reset(tl: KnownTimeline): void {
    this.timelines = [tl];
  }

  /** The instant this member is at on the party's clock (the follow delay applied). */
  private here(): number {
    return this.o.serverNow() - this.o.followDelayMs();
  }

  /** The timeline in force for this member now. */
  current(): KnownTimeline | null {
    return timelineAt(this.timelines, this.here());
  }

  /** The position (ms) to play now: the last timeline whose `at` has come, less the follow delay. */
  positionNow(): number {
    const t = this.here();
    const tl = timelineAt(this.timelines, t);
    return tl ? positionAt(tl, t) : 0;
  }

  add(tl: KnownTimeline): void {
    if (this.timelines.some((t) => t.sequenceNumber === tl.sequenceNumber)) return;
    this.timelines.push(tl);
    this.timelines.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    // Keep those that may still be (or become) in force: the last one already started, and all after it.
    const now = this.here();
    let lastStarted = 0;
    for (let i = 0; i < this.timelines.length; i++) if (this.timelines[i]!.at <= now) lastStarted = i;
    if (lastStarted > 0) this.timelines.splice(0, lastStarted);
  }

  /** [PA7] A scheduled command: kept as a timeline now, announced (`due`) when it takes effect here. */
  schedule(p: PlaybackSync): void {
    this.add({ position: p.position, at: p.at, isPlaying: p.isPlaying, rate: p.rate, itemId: p.itemId, sequenceNumber: p.sequenceNumber });
    const wait = () => p.at + this.o.followDelayMs() - this.o.serverNow();
    // Timers may fire a little early for this clock, and the estimate may move while waiting:
    // wait again until the instant has really come here.
    const arm = () => {
      const w = wait();
      if (w <= 0) {
        this.o.due(p, Math.max(0, -w));
        return;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        arm();
      }, Math.ceil(w));
      this.timers.add(t);
    };
    arm();
  }

  /** Drops the announcements not made yet (the session is over). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
