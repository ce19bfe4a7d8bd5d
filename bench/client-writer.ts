// bench:client's writer process (forked by bench/client.ts, IPC): changes one queue over
// REST at a steady rate, alternately adding a track and removing the oldest one it added,
// so the queue keeps its length. Keeps going through a server restart (failed requests are
// counted and the schedule goes on) until told to stop.
//
// In:  {cmd: 'start', baseUrl, token, queueId, rate}   {cmd: 'stop'}
// Out: {type: 'stopped', ok, failed, lastVersion}
import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
let stop = false;
let ok = 0;
let failed = 0;
let lastVersion = 0;

function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const u = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method,
        agent,
        timeout: 5000,
        headers: {
          authorization: `Bearer ${token}`,
          prefer: 'return=minimal',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

process.on('message', async (msg: any) => {
  if (msg.cmd === 'stop') {
    stop = true;
    return;
  }
  if (msg.cmd !== 'start') return;
  const { baseUrl, token, queueId, rate } = msg as { baseUrl: string; token: string; queueId: string; rate: number };
  const added: string[] = [];
  let n = 0;
  let inflight = 0;
  const interval = 1000 / rate;
  let next = performance.now();
  while (!stop) {
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inflight >= 4) continue; // the server is slow or down: skip this slot rather than pile up
    inflight++;
    const i = n++;
    const remove = i % 2 === 1 && added.length > 0 ? added.shift()! : null;
    const p = remove
      ? call(baseUrl, token, 'DELETE', `/queues/${queueId}/items/${remove}`)
      : call(baseUrl, token, 'POST', `/queues/${queueId}/tracks`, { tracks: [`w-${i}`] });
    p.then(
      (r) => {
        if (r.status >= 200 && r.status < 300) {
          ok++;
          lastVersion = Math.max(lastVersion, r.body?.version ?? 0);
          for (const e of r.body?.events ?? []) if (e.type === 'item_added') added.push(e.data.itemId);
        } else {
          failed++;
          if (remove && r.status !== 404) added.unshift(remove);
        }
      },
      () => {
        failed++;
        if (remove) added.unshift(remove);
      },
    ).finally(() => inflight--);
  }
  while (inflight > 0) await new Promise((r) => setTimeout(r, 10));
  process.send!({ type: 'stopped', ok, failed, lastVersion });
  setTimeout(() => process.exit(0), 50);
});
process.on('disconnect', () => process.exit(0));
