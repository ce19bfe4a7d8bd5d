// src/radio/answer-json.ts writes the radio and recommendation queue answers' JSON itself
// (issue 24): here its text is held, byte for byte, against what Fastify's serialiser
// writes from the response schemas for the same objects: a radio queue made by the real
// decider, its add and metadata events, reasons with non-ASCII text, an empty batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueCommand } from '../../src/queues/decide.ts';
import { toView } from '../../src/queues/queue.ts';
import { batchJson, radioJson, recoQueueJson } from '../../src/radio/answer-json.ts';
import { BatchResponse, RadioResponse, RecoQueueResponse } from '../../src/radio/schemas.ts';
import { fastifyText } from '../helpers/serialiser.ts';
import { scenario } from '../helpers/domain.ts';

/** A radio queue as RadioService makes it: created with 20 tracks, then a batch added and its reasons written. */
function radioBatches() {
  const s = scenario({ userId: 'listener-1' });
  const tracks = (from: number, n: number) => Array.from({ length: n }, (_, i) => `spotify:track:${from + i}${i % 7 === 0 ? 'é🎧' : ''}`);
  const reason = (i: number) => ({ kind: i % 2 ? 'similar' : 'listeners', text: i % 3 ? `similar to Fête «${i}» by Ça — "x" \\ \u2028` : 'popular right now' });
  const reasons = (ts: string[]) => Object.fromEntries(ts.map((t, i) => [t, reason(i)]));
  const first = tracks(0, 20);
  s.when({
    type: 'create_queue',
    name: 'Fête radio',
    queueType: 'radio',
    tracks: first,
    metadata: { radio: { stationId: 'track:x', label: 'Fête', userId: 'listener-1', preferences: { familiarity: 0.5 }, batches: 1, reasons: reasons(first) } },
  } as QueueCommand);
  const created = { state: s.state, events: [...s.events] };
  const more = tracks(100, 50);
  const before = s.events.length;
  s.when({ type: 'add_tracks', tracks: more });
  s.when({
    type: 'update_queue',
    metadata: { radio: { stationId: 'track:x', label: 'Fête', userId: 'listener-1', preferences: {}, batches: 2, reasons: reasons([...first, ...more]) } },
  });
  const extended = { state: s.state, events: s.events.slice(before) };
  const items = (events: typeof s.events) =>
    events.flatMap((e, i) =>
      e.type === 'item_added' ? [{ itemId: e.data.itemId, trackId: e.data.trackId, reason: { ...reason(i), extra: 'not in the schema' } }] : [],
    );
  return { created, extended, items };
}

describe('radio answer JSON (answer-json.ts)', () => {
  it('writes what BatchResponse, RadioResponse and RecoQueueResponse write, byte for byte', async () => {
    const { created, extended, items } = radioBatches();
    const batches = [
      { queue: toView(created.state), events: created.events, items: items(created.events) },
      { queue: toView(extended.state), events: extended.events, items: items(extended.events) },
      { queue: toView(extended.state, { limit: 5 }), events: [], items: [] },
    ];
    assert.ok(batches[1]!.events.some((e) => e.type === 'queue_updated') && batches[1]!.items.length === 50);
    const extra = { version: 3, replayed: false };
    const theirs = await fastifyText(
      batches.map((b) => ({ ...b, ...extra })),
      BatchResponse,
    );
    for (const [i, b] of batches.entries()) assert.equal(batchJson(b), theirs[i], `batch ${i}`);

    const radios = batches.map((b) => ({ ...b, ...extra, station: { id: 'track:x', kind: 'track', label: 'Fête «x» 🎧', more: 1 } }));
    const theirRadios = await fastifyText(radios, RadioResponse);
    for (const [i, b] of radios.entries()) assert.equal(radioJson(b), theirRadios[i], `radio ${i}`);

    const mixes = batches.map((b, n) => ({
      ...b,
      ...extra,
      mixes: Array.from({ length: n + 1 }, (_, k) => ({ queueId: `q${k}`, name: `Daily Mix ${k + 1}`, label: `ça ${k}`, more: true })),
    }));
    const theirMixes = await fastifyText(mixes, RecoQueueResponse);
    for (const [i, b] of mixes.entries()) assert.equal(recoQueueJson(b), theirMixes[i], `mix ${i}`);
  });
});
