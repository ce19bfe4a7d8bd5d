// A small typed event emitter (browsers have no node:events).
export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  /** The listeners of each event (a prototype-less object: an event may be called `constructor`). */
  private readonly listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = Object.create(null);

  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners[event];
    if (!set) this.listeners[event] = set = new Set();
    set.add(fn);
    return () => this.off(event, fn);
  }

  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(event, ((...args: Events[K]) => {
      off();
      fn(...args);
    }) as Listener<Events[K]>);
    return off;
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    this.listeners[event]?.delete(fn);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const fn of [...(this.listeners[event] ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // A listener's exception must not break the sync machinery; report it asynchronously.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
