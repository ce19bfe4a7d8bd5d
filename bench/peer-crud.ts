// The peer for bench:core: the same routes done the naive way, a Fastify server that
// keeps each queue as one JSON row in SQLite and rewrites it on every change (no events,
// no versions, no auth, no validation). It shows what our event sourcing, schemas and
// auth cost next to the simplest thing that could work.
// bench:core maps its phases onto these routes: adds, removals (DELETE .../items/:itemId),
// moves, next and repeat for writes; every read is GET /queues/:id (the whole row).
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';

const db = new Database(process.argv[2] ?? ':memory:');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS queues (id TEXT PRIMARY KEY, state TEXT NOT NULL)');
const get = db.prepare<[string], { state: string }>('SELECT state FROM queues WHERE id = ?');
const put = db.prepare('INSERT INTO queues (id, state) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state');

interface Q {
  id: string;
  name: string;
  items: { itemId: string; trackId: string }[];
  current: number;
  repeat: string;
}
const load = (id: string): Q | null => {
  const r = get.get(id);
  return r ? JSON.parse(r.state) : null;
};
const save = (q: Q) => put.run(q.id, JSON.stringify(q));

const app = Fastify();
app.post<{ Body: { name: string; tracks?: string[] } }>('/queues', async (r, reply) => {
  const q: Q = {
    id: randomUUID(),
    name: r.body.name,
    items: (r.body.tracks ?? []).map((t) => ({ itemId: randomUUID(), trackId: t })),
    current: -1,
    repeat: 'off',
  };
  save(q);
  return reply.status(201).send({ queue: q });
});
app.get<{ Params: { id: string } }>('/queues/:id', async (r, reply) => load(r.params.id) ?? reply.status(404).send({}));
app.post<{ Params: { id: string }; Body: { tracks: string[] } }>('/queues/:id/tracks', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  for (const t of r.body.tracks) q.items.push({ itemId: randomUUID(), trackId: t });
  save(q);
  return { queue: q };
});
app.delete<{ Params: { id: string; itemId: string } }>('/queues/:id/items/:itemId', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  const i = q.items.findIndex((x) => x.itemId === r.params.itemId);
  if (i < 0) return reply.status(404).send({});
  q.items.splice(i, 1);
  if (q.current > i) q.current--;
  else if (q.current === i) q.current = Math.min(q.current, q.items.length - 1);
  save(q);
  return { queue: q };
});
app.post<{ Params: { id: string; itemId: string }; Body: { position: number } }>('/queues/:id/items/:itemId/move', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  const i = q.items.findIndex((x) => x.itemId === r.params.itemId);
  if (i < 0) return reply.status(404).send({});
  const cur = q.items[q.current]?.itemId;
  const [item] = q.items.splice(i, 1);
  q.items.splice(Math.max(0, Math.min(r.body.position, q.items.length)), 0, item!);
  if (cur !== undefined) q.current = q.items.findIndex((x) => x.itemId === cur);
  save(q);
  return { queue: q };
});
app.post<{ Params: { id: string } }>('/queues/:id/next', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  q.current = (q.current + 1) % Math.max(1, q.items.length);
  save(q);
  return { queue: q };
});
app.put<{ Params: { id: string }; Body: { repeat: string } }>('/queues/:id/repeat', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  q.repeat = r.body.repeat;
  save(q);
  return { queue: q };
});
app.post<{ Params: { id: string }; Body: { upcomingOnly?: boolean } }>('/queues/:id/clear', async (r, reply) => {
  const q = load(r.params.id);
  if (!q) return reply.status(404).send({});
  q.items = r.body.upcomingOnly ? q.items.slice(0, q.current + 1) : [];
  save(q);
  return { queue: q };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const a = app.server.address();
process.stdout.write(`listening on http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
