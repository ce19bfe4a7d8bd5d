// The ceiling for bench:fanout: a bare `ws` server that only broadcasts. Sockets connect
// to /ws/queues/{queueId} (token and since are ignored); a write over HTTP
// (POST /queues/{id}/tracks, DELETE /queues/{id}/items/{itemId}) builds the same event
// envelope as ours, stringifies it once and sends it to every socket of that queue.
// No store, no validation, no auth, no per-socket buffer bound: the same shape of work
// minus everything our server adds.
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventFor, newQueueId, parseWrite } from './payload.ts';

const rooms = new Map<string, Set<WebSocket>>();
const seqs = new Map<string, number>();

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/queues') {
      const id = newQueueId();
      seqs.set(id, 0);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ queue: { id, version: 0 } }));
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
    const payload = JSON.stringify(event);
    for (const ws of rooms.get(w.queueId) ?? []) ws.send(payload);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ queue: { id: w.queueId, version: seq }, events: [event] }));
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  const m = /^\/ws\/queues\/([^/?]+)/.exec(req.url ?? '');
  if (!m) {
    socket.destroy();
    return;
  }
  const queueId = m[1]!;
  wss.handleUpgrade(req, socket, head, (ws) => {
    let set = rooms.get(queueId);
    if (!set) rooms.set(queueId, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.on('error', () => undefined);
  });
});

server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
