// The baseline for bench:party: the seed's ListeningPartyService (section 7 of
// ../shared/seed/queue-backend-patterns.md) as written there. Members measure their
// latency with ping/pong and report it; the host's playback_sync is broadcast at once
// with `timestamp: Date.now()` and the party's AVERAGE latency (handleLatencyCompensation),
// which each member adds to the position when the message arrives. No clock sync, no
// scheduling: one room, in memory. Prints "listening on ws://..." when ready.
import { WebSocketServer, type WebSocket } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
const memberLatencies = new Map<WebSocket, number>();

function averageLatency(): number {
  const values = [...memberLatencies.values()];
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

wss.on('connection', (ws) => {
  ws.on('close', () => memberLatencies.delete(ws));
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw));
    if (m.type === 'latency_measurement') {
      ws.send(JSON.stringify({ type: 'latency_measurement', ping: m.ping, pong: Date.now() }));
    } else if (m.type === 'latency_report') {
      memberLatencies.set(ws, m.latency);
    } else if (m.type === 'playback_sync') {
      // syncPartyPlayback: broadcast to the room at once, with the compensation of the average latency.
      const msg = JSON.stringify({
        type: 'playback_sync',
        data: { position: m.position, isPlaying: m.isPlaying },
        timestamp: Date.now(),
        averageLatency: averageLatency(),
      });
      for (const c of wss.clients) c.send(msg);
    }
  });
});

wss.on('listening', () => {
  const addr = wss.address() as { port: number };
  process.stdout.write(`listening on ws://127.0.0.1:${addr.port}\n`);
});
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
