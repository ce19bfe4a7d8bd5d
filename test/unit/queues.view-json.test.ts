// src/queues/view-json.ts writes a view's and a write answer's JSON itself (issue 21): here
// its text is held, byte for byte, against what Fastify's serialiser writes from the response
// schemas for the same objects, over states built by the real decider: items, history at
// its bound, votes, collaborators, metadata with non-ASCII text, shuffle, every window kind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { QueueCommand } from '../../src/queues/decide.ts';
import { HISTORY_LIMIT, type QueueState, type QueueView, toView, type WindowQuery } from '../../src/queues/queue.ts';
import { EventsResponse, QueueSchema, WriteResponse } from '../../src/queues/schemas.ts';
import { eventsPageJson, readJson, viewJson, writeBodyJson } from '../../src/queues/view-json.ts';
import { fastifyText } from '../helpers/serialiser.ts';
import { scenario, type Scenario } from '../helpers/domain.ts';

function busyQueue(): Scenario {
  const s = scenario({ userId: 'owner-1' });
  s.when({
    type: 'create_queue',
    name: 'Fête — «party» 🎉 "quoted" \\ back',
    queueType: 'party',
    metadata: { mood: 'ça va', nested: { list: [1, 'two', null], emoji: '🎧' }, 'key with "quotes"': true },
    tracks: Array.from({ length: 30 }, (_, i) => `spotify:track:${i}\u2028${i % 3 === 0 ? 'é' : ''}`),
  } as QueueCommand);
  s.when({ type: 'add_collaborator', userId: 'guest-1', role: 'contributor' });
  s.when({ type: 'add_collaborator', userId: 'guest-2', role: 'admin' });
  s.when({ type: 'update_settings', voteOrder: false, fairOrder: true });
  // More plays than the history keeps: the history is at its bound.
  for (let i = 0; i < HISTORY_LIMIT + 5; i++) s.when({ type: 'next' });
  s.when({ type: 'add_tracks', tracks: ['late-1', 'late-2'] }, { userId: 'guest-1' });
  const ids = s.itemIds;
  s.when({ type: 'vote_item', itemId: ids[ids.length - 1]!, vote: 1 }, { userId: 'guest-2' });
  s.when({ type: 'vote_item', itemId: ids[ids.length - 2]!, vote: -1 }, { userId: 'guest-2' });
  return s;
}

describe('queue view JSON (view-json.ts)', () => {
  it('writes what the response schemas write, byte for byte, for every window kind, shuffled or not, minimal or not', async () => {
    const states: { state: QueueState; events: Scenario['events'] }[] = [];
    const fresh = scenario();
    fresh.when({ type: 'create_queue', name: 'empty', queueType: 'user' });
    states.push({ state: fresh.state, events: fresh.events });
    const busy = busyQueue();
    states.push({ state: busy.state, events: busy.events.slice(-3) });
    busy.when({ type: 'set_shuffle', shuffle: true });
    busy.when({ type: 'set_repeat', repeat: 'all' });
    states.push({ state: busy.state, events: busy.events.slice(-2) });
    assert.equal(busy.state.history.length, HISTORY_LIMIT);
    assert.ok(busy.state.collaborators.length === 2 && busy.state.items.some((i) => (i.votes?.length ?? 0) > 0));

    const windows: WindowQuery[] = [{}, { limit: 5 }, { limit: 0 }, { offset: 7, limit: 3 }, { around: 'current', limit: 4 }, { offset: 10_000 }];
    const bodies: unknown[] = [];
    const ours: string[] = [];
    for (const { state, events } of states) {
      const second = state.items.at(1)?.itemId;
      for (const w of [...windows, ...(second ? [{ after: second, limit: 6 }] : [])]) {
        const view = toView(state, w);
        const cursor = view.window.nextCursor;
        for (const win of cursor ? [w, { cursor, limit: 2 }] : [w]) {
          const v = toView(state, win);
          bodies.push({ queue: v, events, version: state.version });
          ours.push(writeBodyJson({ queue: v, events, version: state.version }));
        }
      }
      bodies.push({ events, version: state.version });
      ours.push(writeBodyJson({ events, version: state.version }));
    }
    const theirs = await fastifyText(bodies, WriteResponse);
    assert.ok(bodies.length > 20);
    for (let i = 0; i < bodies.length; i++) assert.equal(ours[i], theirs[i], `body ${i}`);
  });

  it('writes a page of the event log as the EventsResponse schema does, for every event type the scenario made', async () => {
    const s = busyQueue();
    s.when({ type: 'set_shuffle', shuffle: true });
    s.when({ type: 'move_item', itemId: s.itemIds[3]!, position: 0 });
    s.when({ type: 'remove_items', itemIds: [s.itemIds[4]!] });
    s.when({ type: 'update_queue', name: 'renamed', metadata: { a: '\u0000\u001f ✓' } });
    s.when({ type: 'set_visibility', isPublic: true });
    s.when({ type: 'delete_queue' });
    const types = new Set(s.events.map((e) => e.type));
    assert.ok(types.size >= 10, `event types: ${[...types].join(', ')}`);
    const pages = [
      { events: s.events, version: s.state.version, nextSince: s.state.version, hasMore: false, logStart: 1 },
      { events: [], version: 3, nextSince: 3, hasMore: false, logStart: 2 },
      { events: s.events.slice(0, 5), version: s.state.version, nextSince: 5, hasMore: true, logStart: 1 },
    ];
    const theirs = await fastifyText(pages, EventsResponse);
    for (let i = 0; i < pages.length; i++) assert.equal(eventsPageJson(pages[i]!), theirs[i], `page ${i}`);
  });

  it('leaves out fields the schemas do not have (order keys, internal state)', () => {
    const s = busyQueue();
    const text = viewJson(toView(s.state));
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), Object.keys(QueueSchema.properties));
    assert.ok(!text.includes('"key"') && !text.includes('goneItemIds') && !text.includes('"deleted"'));
  });

  it("remembers a read's text per state and window, and a new state gets new text", () => {
    const s = busyQueue();
    const before = s.state;
    const a = readJson(before, {});
    assert.equal(readJson(before, {}), a, 'the same state and window: the same bytes, not written again');
    assert.notEqual(readJson(before, { limit: 3 }).toString(), a.toString());
    assert.equal(a.toString(), viewJson(toView(before, {})));
    // Not a slice of Node's shared buffer pool, which it would keep alive while cached.
    const fresh = scenario();
    fresh.when({ type: 'create_queue', name: 'small', queueType: 'user' });
    const small = readJson(fresh.state, {});
    assert.ok(small.length < 4096 && small.buffer.byteLength === small.length, `${small.length} bytes in ${small.buffer.byteLength}`);
    s.when({ type: 'next' });
    const b = readJson(s.state, {});
    assert.notEqual(b.toString(), a.toString());
    assert.equal(b.toString(), viewJson(toView(s.state, {})));
    assert.equal(JSON.parse(b.toString()).version, before.version + 1);
  });

  it('writes each step of a growing, then full, history and of a changing window as the serialiser does', async () => {
    // Texts carried from state to state (an entry's and an item's text from earlier views):
    // every step is held against the serialiser.
    const s = scenario({ userId: 'owner-1' });
    s.when({ type: 'create_queue', name: 'steps', queueType: 'user', tracks: Array.from({ length: 12 }, (_, i) => `t${i}`) } as QueueCommand);
    s.when({ type: 'set_repeat', repeat: 'all' });
    const views: QueueView[] = [];
    for (let i = 0; i < HISTORY_LIMIT + 40; i++) {
      s.when(i % 7 === 3 ? { type: 'previous' } : { type: 'next' });
      if (i % 5 === 0) s.when({ type: 'add_tracks', tracks: [`more-${i}`] });
      if (i % 11 === 0) s.when({ type: 'move_item', itemId: s.state.items.at(0)!.itemId, position: 3 });
      if (i % 13 === 0) s.when({ type: 'remove_items', itemIds: [s.state.items.at(2)!.itemId] });
      views.push(toView(s.state));
    }
    assert.equal(s.state.history.length, HISTORY_LIMIT);
    // Written in order, as a server answers them; then an older one again, and histories that
    // no play made.
    const ours = views.map(viewJson);
    const last = views.at(-1)!;
    const odd = { ...last, history: last.history.slice(3) };
    const swapped = { ...last, history: [{ itemId: 'other', trackId: 'other-track', playedAt: last.updatedAt }, ...last.history.slice(1)] };
    ours.push(viewJson(views[40]!), viewJson(odd), viewJson(swapped));
    const theirs = await fastifyText([...views, views[40], odd, swapped], QueueSchema);
    for (let i = 0; i < ours.length; i++) assert.equal(ours[i], theirs[i], `view ${i}`);
  });

  it('keeps nothing of a state once the state is gone: its items, history and texts are collected', async () => {
    // The texts are cached per item, entry and history array, weakly: an old state must not be
    // held by them (an earlier version kept every history array ever written, ~20 MB a second
    // under bench:core's writes).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const s = scenario({ userId: 'owner-1' });
    s.when({ type: 'create_queue', name: 'gc', queueType: 'user', tracks: Array.from({ length: 30 }, (_, i) => `t${i}`) } as QueueCommand);
    s.when({ type: 'set_repeat', repeat: 'all' });
    for (let i = 0; i < 5; i++) {
      s.when({ type: 'next' });
      viewJson(toView(s.state));
    }
    assert.ok(s.state.history.length >= 3);
    const first = new WeakRef(s.state.history);
    const firstItem = new WeakRef(s.state.items.at(0)!);
    for (let i = 0; i < 3 * HISTORY_LIMIT; i++) {
      s.when({ type: 'next' });
      if (i % 10 === 0) s.when({ type: 'move_item', itemId: s.state.items.at(0)!.itemId, position: 5 });
      viewJson(toView(s.state));
    }
    s.events.length = 0;
    for (let i = 0; i < 5 && (first.deref() || firstItem.deref()); i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    assert.equal(first.deref(), undefined, 'the first history array is still held');
    assert.equal(firstItem.deref(), undefined, "the first state's moved item is still held");
  });
});
