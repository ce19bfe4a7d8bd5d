// The JSON text of the radio and recommendation queue answers (issue 24): a batch answer
// carries a queue view (up to 200 reasons in its metadata) and up to 50 events, and
// Fastify's serialiser of these schemas picked each event's branch of the QueueEvent
// union by validating it (~8% of the server's CPU under bench:reco's 8 listeners). The
// queue and its events are written by src/queues/view-json.ts, as the queue routes do.
//
// The text holds exactly the fields of BatchResponse, RadioResponse and RecoQueueResponse
// (schemas.ts), in the order Fastify's serialiser writes them:
// test/unit/radio.answer-json.test.ts holds it against Fastify's serialiser of those schemas.
import type { QueueEvent } from '../model/queue.ts';
import type { QueueView } from '../queues/queue.ts';
import { eventsJson, viewJson } from '../queues/view-json.ts';
import type { Reason } from '../reco/stations.ts';

export interface BatchAnswer {
  queue: QueueView;
  events: readonly QueueEvent[];
  items: readonly { itemId: string; trackId: string; reason: Reason }[];
}

function itemsJson(items: BatchAnswer['items']): string {
  return JSON.stringify(items.map((i) => ({ itemId: i.itemId, trackId: i.trackId, reason: { kind: i.reason.kind, text: i.reason.text } })));
}

/** BatchResponse (extend). */
export function batchJson(b: BatchAnswer): string {
  return `{"queue":${viewJson(b.queue)},"events":${eventsJson(b.events)},"items":${itemsJson(b.items)}}`;
}

/** RadioResponse (POST /radio/{stationId}/queue). */
export function radioJson(b: BatchAnswer & { station: { id: string; kind: string; label: string } }): string {
  const station = JSON.stringify({ id: b.station.id, kind: b.station.kind, label: b.station.label });
  return `${batchJson(b).slice(0, -1)},"station":${station}}`;
}

/** RecoQueueResponse (POST /recommendations/queue). */
export function recoQueueJson(b: BatchAnswer & { mixes: readonly { queueId: string; name: string; label: string }[] }): string {
  const mixes = JSON.stringify(b.mixes.map((m) => ({ queueId: m.queueId, name: m.name, label: m.label })));
  return `${batchJson(b).slice(0, -1)},"mixes":${mixes}}`;
}
