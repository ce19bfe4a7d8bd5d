// The peer for bench:collab: a y-websocket server (@y/websocket-server, the reference
// server of y-websocket) relaying one shared Y.Doc, in memory, no auth, no persistence.
// Prints `listening on ws://...` with the port it got.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { setupWSConnection } from '@y/websocket-server/utils';

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws, req) => setupWSConnection(ws, req, { gc: true }));
const server = http.createServer((_req, res) => res.end('okay'));
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening on ws://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
