// A queue's state as JSON, written a slice of items per turn of the event loop (issue 21):
// a 10,000-item state is about a megabyte of JSON, and one JSON.stringify of it held the
// loop (and every answer) for several milliseconds. States are immutable (the fold makes a
// new one per event), so the one being written does not change meanwhile. The text is
// what JSON.stringify(state) gives, the items first.
import type { QueueState } from '../model/queue.ts';

/** Items serialised per turn. */
const SLICE = 500;

/** States with at most this many items are small enough to write inline, in one go. */
export const INLINE_SNAPSHOT_ITEMS = 1000;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function stateJsonInSlices(state: QueueState): Promise<string> {
  const { items, ...rest } = state;
  const parts: string[] = [];
  for (let i = 0; i < items.length; i += SLICE) {
    if (i > 0) await turn();
    const slice = JSON.stringify(items.slice(i, i + SLICE));
    parts.push(slice.slice(1, -1));
  }
  const head = JSON.stringify(rest);
  return `{"items":[${parts.filter((p) => p.length > 0).join(',')}]${head === '{}' ? '' : `,${head.slice(1, -1)}`}}`;
}
