// One delayed refill at a time for a stream that holds events behind a gap: the queue
// mirrors and the playback mirror wait a little (the gap is often an ack on its way,
// [RT5]) and then read the missing events from the log.

export class GapTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;

  private readonly refill: () => void;
  constructor(refill: () => void) {
    this.refill = refill;
  }

  /** Events wait behind a gap: refill after `waitMs()` unless a refill is already due. No gap: cancel it. */
  watch(waiting: boolean, waitMs: () => number): void {
    if (!waiting) {
      this.stop();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refill();
    }, waitMs());
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
