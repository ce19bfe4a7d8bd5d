// The floor peer for bench:core: the least work a write of our stack can do. A Fastify
// server (no schemas, no auth, no validation) where every write route appends one event
// row and upserts one head row with better-sqlite3 (WAL, synchronous=NORMAL) in one
// transaction and answers small JSON, and every read route answers one small row. It
// keeps no queue state, so its cost does not depend on the queue's length: it is the
// ceiling our service could reach on this machine with this stack, not a real peer.
//
// Usage: node bench/peer-floor.ts [database file]   (default: in memory)
// It prints "listening on http://127.0.0.1:PORT" when ready.
// FLOOR_PAD_BYTES=N: every answer also carries a `pad` string of N bytes, so that the
// floor sends as many bytes as ours does (bench/README: what an answer's size costs).
import Database from 'better-sqlite3';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';

const db = new Database(process.argv[2] ?? ':memory:');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
  CREATE TABLE IF NOT EXISTS events (stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (stream, seq));
  CREATE TABLE IF NOT EXISTS heads (id TEXT PRIMARY KEY, version INTEGER NOT NULL, updated_at INTEGER NOT NULL);
`);
const bump = db.prepare<[string, number], { version: number }>(
  'INSERT INTO heads (id, version, updated_at) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE SET version = version + 1, updated_at = excluded.updated_at RETURNING version',
);
const insertEvent = db.prepare<[string, number, string, string, number]>('INSERT INTO events (stream, seq, type, data, at) VALUES (?, ?, ?, ?, ?)');
const readHead = db.prepare<[string], { id: string; version: number; updated_at: number }>('SELECT id, version, updated_at FROM heads WHERE id = ?');
const readEvent = db.prepare<[string, number], { seq: number; type: string; data: string; at: number }>(
  'SELECT seq, type, data, at FROM events WHERE stream = ? AND seq > ? ORDER BY seq LIMIT 1',
);

/** One transaction: bump the head, append one event row. */
const append = db.transaction((stream: string, type: string, data: string): number => {
  const now = Date.now();
  const { version } = bump.get(stream, now)!;
  insertEvent.run(stream, version, type, data, now);
  return version;
});

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

const PAD = 'x'.repeat(Number(process.env.FLOOR_PAD_BYTES ?? 0));
const padded = <T extends object>(body: T): T => (PAD.length > 0 ? { ...body, pad: PAD } : body);

/**
 * Appends one row for the whole request. `events` is what the answer reports: for adds one
 * item_added per track (with a fresh item id, which the load generator needs for removals),
 * stored together in the one row.
 */
function write(reply: FastifyReply, stream: string, type: string, events: Ev[], status = 200) {
  const version = append(stream, type, JSON.stringify(events.length === 1 ? events[0]!.data : events.map((e) => e.data)));
  reply.header('etag', `"${version}"`);
  return reply.status(status).send(padded({ version, events: events.map((e) => ({ sequenceNumber: version, type: e.type, data: e.data })) }));
}

const added = (tracks: unknown): Ev[] =>
  (Array.isArray(tracks) ? tracks : []).map((trackId) => ({ type: 'item_added', data: { itemId: randomUUID(), trackId } }));

type R = FastifyRequest<{ Params: { id: string; itemId: string }; Body: Record<string, unknown> | undefined; Querystring: { since?: string } }>;

const app = Fastify();
app.post('/queues', async (r: R, reply) => {
  const id = randomUUID();
  const body = r.body ?? {};
  const events: Ev[] = [{ type: 'queue_created', data: { name: body.name ?? '' } }, ...added(body.tracks)];
  const version = append(id, 'queue_created', JSON.stringify(events.map((e) => e.data)));
  return reply.status(201).send({ queue: { id, version }, events: events.map((e) => ({ sequenceNumber: version, type: e.type, data: e.data })) });
});
app.post('/queues/:id/tracks', async (r: R, reply) => write(reply, r.params.id, 'item_added', added(r.body?.tracks)));
app.delete('/queues/:id/items/:itemId', async (r: R, reply) =>
  write(reply, r.params.id, 'item_removed', [{ type: 'item_removed', data: { itemId: r.params.itemId } }]),
);
app.post('/queues/:id/items/:itemId/move', async (r: R, reply) =>
  write(reply, r.params.id, 'item_moved', [{ type: 'item_moved', data: { itemId: r.params.itemId, position: r.body?.position ?? null } }]),
);
app.post('/queues/:id/next', async (r: R, reply) => write(reply, r.params.id, 'current_changed', [{ type: 'current_changed', data: { reason: 'next' } }]));
app.put('/queues/:id/repeat', async (r: R, reply) =>
  write(reply, r.params.id, 'repeat_changed', [{ type: 'repeat_changed', data: { repeat: r.body?.repeat ?? 'off' } }]),
);

// Reads: one row each.
app.get('/queues/:id', async (r: R, reply) => {
  const h = readHead.get(r.params.id);
  if (!h) return reply.status(404).send({ error: 'not_found' });
  reply.header('etag', `"${h.version}"`);
  return padded({ id: h.id, version: h.version, updatedAt: h.updated_at });
});
app.get('/queues/:id/events', async (r: R, reply) => {
  const e = readEvent.get(r.params.id, Number(r.query.since ?? 0) || 0);
  if (!e) return reply.status(200).send({ events: [] });
  return { events: [{ sequenceNumber: e.seq, type: e.type, data: JSON.parse(e.data), at: e.at }] };
});

await app.listen({ host: '127.0.0.1', port: 0 });
const a = app.server.address();
process.stdout.write(`listening on http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
const stop = () =>
  void app.close().finally(() => {
    db.close();
    process.exit(0);
  });
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
