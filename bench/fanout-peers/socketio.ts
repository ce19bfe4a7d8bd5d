// The peer for bench:fanout: what a Node user would pick instead of our socket layer.
// Socket.IO with its Redis adapter (REDIS_URL); run two of these on one Redis. A socket
// names its queue in the handshake query and joins that room; a write over HTTP
// (POST /queues/{id}/tracks, DELETE /queues/{id}/items/{itemId}) emits the same event
// envelope as ours to the room, and the adapter carries it to the other instance.
// No store, no validation, no auth: sequence numbers are this instance's own counter.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { eventFor, newQueueId, parseWrite } from './payload.ts';

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new Error('REDIS_URL is required');
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const seqs = new Map<string, number>();

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/queues') {
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ queue: { id: newQueueId(), version: 0 } }));
      return;
    }
    let w: ReturnType<typeof parseWrite>;
    try {
      w = parseWrite(req.method, req.url, body);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!w) {
      res.writeHead(404).end();
      return;
    }
    const seq = (seqs.get(w.queueId) ?? 0) + 1;
    seqs.set(w.queueId, seq);
    const event = eventFor(w.op, w.queueId, seq);
    io.to(`queue:${w.queueId}`).emit('event', event);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ queue: { id: w.queueId, version: seq }, events: [event] }));
  });
});

const io = new Server(server, { serveClient: false, adapter: createAdapter(pub, sub) });
io.on('connection', (socket) => {
  const q = socket.handshake.query.queueId;
  if (typeof q !== 'string') {
    socket.disconnect(true);
    return;
  }
  void socket.join(`queue:${q}`);
  // Tells the client its room is joined, so no event of the run can be missed.
  socket.emit('ready');
});

server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
});
