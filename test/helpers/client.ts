// Helpers for the SDK's end-to-end tests: compare a mirror with the server's own answer.
import type { QueueMirror, MirrorState } from '@queue-service/client';
import { waitFor } from './wait.ts';

export { sleep } from './wait.ts';

/** Polls until `cond` holds (a loaded machine gets a generous deadline), else throws with `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string), ms = 20_000): Promise<void> {
  await waitFor(cond, { timeoutMs: ms, intervalMs: 25, what });
}

/** The fields a mirror and GET /queues/{id} both have, in the same shape. */
export function comparable(
  s: {
    version: number;
    name: string;
    ownerId: string;
    currentItemId: string | null;
    currentIndex: number | null;
    shuffle: boolean;
    repeat: string;
    history: unknown[];
    metadata: unknown;
    isPublic: boolean;
    settings: unknown;
    collaborators: unknown[];
    items: { itemId: string; trackId: string; addedBy: string; addedAt: string }[];
  },
  itemCount: number,
) {
  return {
    version: s.version,
    name: s.name,
    ownerId: s.ownerId,
    itemCount,
    currentItemId: s.currentItemId,
    currentIndex: s.currentIndex,
    shuffle: s.shuffle,
    repeat: s.repeat,
    history: s.history,
    metadata: s.metadata,
    isPublic: s.isPublic,
    settings: s.settings,
    collaborators: s.collaborators,
    items: s.items.map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy, addedAt: i.addedAt })),
  };
}

export function mirrorView(m: QueueMirror | MirrorState) {
  const s = 'itemCount' in m ? m : m.state;
  return comparable(s, s.itemCount);
}

type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** The server's queue, its first `count` items (in pages of 1,000 by cursor), read at one version. */
export async function serverView(api: Call, queueId: string, count?: number) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await api('GET', `/queues/${queueId}?limit=1000`);
    if (first.status !== 200) throw new Error(`GET queue: ${first.status} ${JSON.stringify(first.body)}`);
    const view = first.body;
    const want = count ?? view.itemCount;
    let cursor = view.window.nextCursor;
    let same = true;
    while (view.items.length < want && cursor) {
      const page = await api('GET', `/queues/${queueId}?limit=1000&cursor=${encodeURIComponent(cursor)}`);
      if (page.body.version !== view.version) {
        same = false;
        break;
      }
      view.items.push(...page.body.items);
      cursor = page.body.window.nextCursor;
    }
    if (!same) continue;
    view.items = view.items.slice(0, want);
    return comparable(view, view.itemCount);
  }
  throw new Error('the queue kept changing while it was read');
}

/** The server's queue with the items at indexes offset .. offset+count (pages of 1,000 by offset), read at one version. */
export async function serverRange(api: Call, queueId: string, offset: number, count: number) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await api('GET', `/queues/${queueId}?offset=${offset}&limit=${Math.min(1000, count)}`);
    if (first.status !== 200) throw new Error(`GET queue: ${first.status} ${JSON.stringify(first.body)}`);
    const view = first.body;
    let same = true;
    while (view.items.length < count && view.window.nextCursor) {
      const page = await api('GET', `/queues/${queueId}?offset=${offset + view.items.length}&limit=${Math.min(1000, count - view.items.length)}`);
      if (page.body.version !== view.version) {
        same = false;
        break;
      }
      view.items.push(...page.body.items);
      if (page.body.items.length === 0) break;
    }
    if (!same) continue;
    return comparable(view, view.itemCount);
  }
  throw new Error('the queue kept changing while it was read');
}
