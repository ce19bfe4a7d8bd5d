// A queue's state as JSON, written a slice of items per turn of the event loop (issue 21):
// a 10,000-item state is about a megabyte of JSON, and one JSON.stringify of it held the
// loop (and every answer) for several milliseconds. States are immutable (the fold makes a
// new one per event), so the one being written does not change meanwhile. The text is
// what JSON.stringify(state) gives, the items first.
//
// SQLite takes it as UTF-8 bytes, each slice encoded in its own turn: handing SQLite the
// megabyte as one JS string made the driver flatten and encode it inside the write
// transaction, 8-13 ms of the event loop per snapshot at 9,000 items (issue 21, round 5).
import type { QueueState } from '../model/queue.ts';

/** Items serialised per turn. */
const SLICE = 500;

/** States with at most this many items are small enough to write inline, in one go. */
export const INLINE_SNAPSHOT_ITEMS = 1000;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The JSON of the state's items (no brackets) a slice per turn, each through `each`; then the rest's. */
async function inSlices<T>(state: QueueState, each: (text: string) => T): Promise<{ items: T[]; rest: string }> {
  const { items, ...rest } = state;
  const parts: T[] = [];
  for (let i = 0; i < items.length; i += SLICE) {
    if (i > 0) await turn();
    const slice = JSON.stringify(items.slice(i, i + SLICE));
    parts.push(each(slice.slice(1, -1)));
  }
  const head = JSON.stringify(rest);
  return { items: parts, rest: head === '{}' ? '' : `,${head.slice(1, -1)}` };
}

export async function stateJsonInSlices(state: QueueState): Promise<string> {
  const { items, rest } = await inSlices(state, (text) => text);
  return `{"items":[${items.join(',')}]${rest}}`;
}

const COMMA = Buffer.from(',');

/** The same text as `stateJsonInSlices`, as UTF-8 bytes. */
export async function stateJsonBytesInSlices(state: QueueState): Promise<Buffer> {
  const { items, rest } = await inSlices(state, (text) => Buffer.from(text));
  const parts: Buffer[] = [Buffer.from('{"items":[')];
  items.forEach((b, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(b);
  });
  parts.push(Buffer.from(`]${rest}}`));
  return Buffer.concat(parts);
}
