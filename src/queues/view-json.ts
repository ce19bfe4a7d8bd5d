// The JSON text of a queue view and of a write's answer, for the REST routes (issue 21).
// A view carries the queue's `history` (up to 100 entries, ~10 KB): serialising it was
// the largest cost of a default write answer and of a read. States are immutable and a
// history array is shared by every state until a play changes it, so its text is written
// once per array; a read's whole answer is written once per state and window. These
// caches are keyed weakly by what they describe and hold nothing older: a state's texts go
// when the state does (test: an old state is collected). Items' texts are not cached: a
// radio queue's items are many and each is written in few answers (issue 24's memory).
//
// The text holds exactly the fields of the response schemas (QueueSchema, EventSchema,
// WriteResponse, EventsResponse in schemas.ts), in the order Fastify's serialiser writes them: test/unit/queues.view-json.test.ts holds
// it against Fastify's serialiser of those schemas.
import type { FastifyReply } from 'fastify';
import type { QueueEvent } from '../model/queue.ts';
import { type QueueState, type QueueView, toView, type WindowQuery } from './queue.ts';

/** Sends JSON as the answer: with its content type set, Fastify sends a string or a buffer as it is. */
export function sendJson(reply: FastifyReply, json: string | Buffer): void {
  reply.type('application/json; charset=utf-8').send(json);
}

const historyText = new WeakMap<QueueView['history'], string>();
/** An entry is shared by every history array from the play that made it to the one that drops it: written once. */
const entryText = new WeakMap<QueueView['history'][number], string>();

function entryJson(e: QueueView['history'][number]): string {
  let text = entryText.get(e);
  if (text === undefined) {
    text = JSON.stringify({ itemId: e.itemId, trackId: e.trackId, playedAt: e.playedAt });
    entryText.set(e, text);
  }
  return text;
}

function historyJson(history: QueueView['history']): string {
  let text = historyText.get(history);
  if (text === undefined) {
    text = `[${history.map(entryJson).join(',')}]`;
    historyText.set(history, text);
  }
  return text;
}

/** The JSON of a view, as the `Queue` schema writes it. */
export function viewJson(v: QueueView): string {
  const head = JSON.stringify({
    id: v.id,
    name: v.name,
    type: v.type,
    ownerId: v.ownerId,
    version: v.version,
    itemCount: v.itemCount,
    items: v.items.map((i) => ({ itemId: i.itemId, trackId: i.trackId, addedBy: i.addedBy, addedAt: i.addedAt })),
    window: { offset: v.window.offset, limit: v.window.limit, nextCursor: v.window.nextCursor },
    currentItemId: v.currentItemId,
    currentIndex: v.currentIndex,
    shuffle: v.shuffle,
    repeat: v.repeat,
  });
  const tail = JSON.stringify({
    metadata: v.metadata,
    isPublic: v.isPublic,
    settings: { fairOrder: v.settings.fairOrder, voteOrder: v.settings.voteOrder },
    collaborators: v.collaborators.map((c) => ({ userId: c.userId, role: c.role, via: c.via, joinedAt: c.joinedAt })),
    votes: v.votes.map((x) => ({ itemId: x.itemId, score: x.score, votes: x.votes.map((y) => ({ userId: y.userId, vote: y.vote })) })),
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  });
  return `${head.slice(0, -1)},"history":${historyJson(v.history)},${tail.slice(1)}`;
}

/** The JSON of events, as the `QueueEvent` schema writes them. */
export function eventsJson(events: readonly QueueEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({
      sequenceNumber: e.sequenceNumber,
      type: e.type,
      queueId: e.queueId,
      userId: e.userId,
      deviceId: e.deviceId,
      timestamp: e.timestamp,
      data: e.data,
    })),
  );
}

/** The JSON of a page of the event log, as the `EventsResponse` schema writes it. */
export function eventsPageJson(p: { events: readonly QueueEvent[]; version: number; nextSince: number; hasMore: boolean; logStart: number }): string {
  return `{"events":${eventsJson(p.events)},"version":${p.version},"nextSince":${p.nextSince},"hasMore":${p.hasMore},"logStart":${p.logStart}}`;
}

/** The JSON of a write's answer, as the `WriteResponse` schema writes it. */
export function writeBodyJson(body: { queue?: QueueView; events: readonly QueueEvent[]; version: number }): string {
  // Fastify's serialiser writes the required fields first, then the optional `queue`.
  const head = `{"events":${eventsJson(body.events)},"version":${body.version}`;
  return body.queue === undefined ? `${head}}` : `${head},"queue":${viewJson(body.queue)}}`;
}

/** Windows remembered per state: enough for the default one and a few pages or centres. */
const WINDOWS_PER_STATE = 4;
const readText = new WeakMap<QueueState, Map<string, Buffer>>();

/**
 * The JSON of `toView(state, window)` as UTF-8 bytes, written and encoded once per state and
 * window: a repeated read is sent as it is (a string would be measured and encoded again
 * for every answer). A write's answer stays a string: each is sent once, and building it as
 * bytes cost more than Node's encoding of the whole text (bench/README, issue 21 round 8).
 */
export function readJson(state: QueueState, window: WindowQuery): Buffer {
  const key = `${window.limit ?? ''}|${window.offset ?? ''}|${window.after ?? ''}|${window.around ?? ''}|${window.cursor ?? ''}`;
  let texts = readText.get(state);
  let text = texts?.get(key);
  if (text !== undefined) return text;
  // Its own memory, not a slice of Node's shared 8 KB pool: a small cached answer would keep
  // the whole pool slab alive for as long as its state is cached.
  const json = viewJson(toView(state, window));
  text = Buffer.allocUnsafeSlow(Buffer.byteLength(json));
  text.write(json);
  if (texts === undefined) {
    texts = new Map();
    readText.set(state, texts);
  } else if (texts.size >= WINDOWS_PER_STATE) texts.delete(texts.keys().next().value!);
  texts.set(key, text);
  return text;
}
