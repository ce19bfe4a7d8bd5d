// What Fastify's own serialiser writes for a response schema: the reference the hand-written
// JSON of the queue views (src/queues/view-json.ts) and the radio answers
// (src/radio/answer-json.ts) is held against, byte for byte.
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { CollaboratorSchema, EventSchema, QueueSchema, QueueWindowSchema } from '../../src/queues/schemas.ts';

/** Fastify's serialisation of each body under `schema` (what the routes answered before they wrote JSON text). */
export async function fastifyText(bodies: unknown[], schema: object): Promise<string[]> {
  const app = Fastify();
  for (const s of [CollaboratorSchema, QueueWindowSchema, QueueSchema, EventSchema]) app.addSchema(s);
  let next: unknown;
  app.post('/w', { schema: { response: { 200: schema } } }, async () => next);
  await app.ready();
  const out: string[] = [];
  for (const b of bodies) {
    next = b;
    const res = await app.inject({ method: 'POST', url: '/w' });
    assert.equal(res.statusCode, 200, res.body);
    out.push(res.body);
  }
  await app.close();
  return out;
}
