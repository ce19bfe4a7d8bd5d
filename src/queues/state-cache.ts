// The hot queue states of this process, least recently used first out, bounded by the
// number of queues and by the items they hold together (a 10,000-item queue weighs what
// 500 queues of 20 do). States are immutable: a reader holding one is never disturbed.
import type { QueueState } from './queue.ts';

export class StateCache {
  private readonly map = new Map<string, QueueState>();
  private items = 0;

  private readonly maxQueues: number;
  private readonly maxItems: number;
  constructor(maxQueues: number, maxItems: number) {
    this.maxQueues = maxQueues;
    this.maxItems = maxItems;
  }

  get(queueId: string): QueueState | undefined {
    const s = this.map.get(queueId);
    if (s !== undefined) {
      this.map.delete(queueId);
      this.map.set(queueId, s);
    }
    return s;
  }

  /** Keeps `state` unless a newer one of the queue is here already. */
  set(queueId: string, state: QueueState): void {
    const old = this.map.get(queueId);
    if (old !== undefined) {
      if (old.version > state.version) return;
      this.items -= old.items.length;
      this.map.delete(queueId);
    }
    if (state.items.length > this.maxItems) return;
    this.map.set(queueId, state);
    this.items += state.items.length;
    while (this.map.size > this.maxQueues || this.items > this.maxItems) {
      const [id, s] = this.map.entries().next().value!;
      this.map.delete(id);
      this.items -= s.items.length;
    }
  }

  delete(queueId: string): void {
    const old = this.map.get(queueId);
    if (old === undefined) return;
    this.items -= old.items.length;
    this.map.delete(queueId);
  }

  clear(): void {
    this.map.clear();
    this.items = 0;
  }
}
