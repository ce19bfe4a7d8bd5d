// Admission control (issue 16): a flood past the in-flight bound is refused with quick
// 503s in our error shape while the server keeps serving and answering its probes. The
// throughput figures are bench:overload's (by hand); this checks the mechanism.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { client, mintToken, startServerOn, type RunningServer } from '../helpers/server.ts';
import { connect } from '../helpers/ws.ts';

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | undefined;
  body: any;
}

/** Sends all at once over fresh keep-alive connections; resolves with every answer and its latency. */
function flood(base: string, token: string, reqs: { method: string; path: string; body?: unknown }[]): Promise<Answer[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: reqs.length });
  return Promise.all(reqs.map((r) => new Promise<Answer>((resolve, reject) => {
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    const t0 = performance.now();
    const req = request(base + r.path, {
      method: r.method, agent,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, retryAfter: res.headers['retry-after'] as string | undefined, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(payload);
  }))).finally(() => agent.destroy());
}

/**
 * Calls until the answer is not a 503: right after a flood the sampled bounds (event-loop
 * delay, read every 250 ms) may still say "overloaded" for a moment, as Retry-After allows.
 */
async function whenServed<T extends { status: number }>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    const r = await call();
    if (r.status !== 503 || i >= 30) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('overload: a flood past the in-flight bound', () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let token: string;

  before(async () => {
    server = await startServerOn('sqlite', { env: { OVERLOAD_MAX_IN_FLIGHT: '4', OVERLOAD_MAX_WRITES_PER_QUEUE: '3', OVERLOAD_RETRY_AFTER_SECONDS: '2' } });
    token = await mintToken(server, 'flood');
  });
  after(async () => {
    await server?.cleanup();
  });

  it('gets quick 503s with Retry-After in our error shape; what is admitted is served; probes and later writes are answered', async () => {
    const api = client(server.url, token);
    const queues: string[] = [];
    for (let i = 0; i < 10; i++) queues.push((await api('POST', '/queues', { name: `q${i}`, tracks: ['a', 'b'] })).body.queue.id);
    const reqs = Array.from({ length: 300 }, (_, i) => ({ method: 'POST', path: `/queues/${queues[i % queues.length]}/tracks`, body: { tracks: [`t${i}`] } }));
    const [answers, health] = await Promise.all([
      flood(server.url, token, reqs),
      // The probe, sent while the flood is being refused, is never refused.
      new Promise((r) => setTimeout(r, 5)).then(() => fetch(`${server.url}/healthz`)),
    ]);
    assert.equal(health.status, 200);

    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(served.length + refused.length, answers.length, `only 200 or 503: ${[...new Set(answers.map((a) => a.status))]}`);
    assert.ok(served.length >= 4, `some were admitted: ${served.length}`);
    assert.ok(refused.length >= 150, `most of the flood was refused: ${refused.length} of ${answers.length}`);
    for (const r of refused) {
      assert.equal(r.retryAfter, '2');
      assert.equal(r.body.error.code, 'overloaded');
      assert.ok(['in_flight', 'wait_time', 'queue_busy', 'event_loop_delay'].includes(r.body.error.details.reason), r.body.error.details.reason);
      assert.equal(typeof r.body.error.message, 'string');
    }
    // Refusals cost no work: they come back well before the admitted writes do.
    assert.ok(median(refused.map((r) => r.ms)) < median(served.map((r) => r.ms)), `refused median ${median(refused.map((r) => r.ms)).toFixed(1)} ms, served ${median(served.map((r) => r.ms)).toFixed(1)} ms`);

    // The server counted what it refused (/metrics is never refused).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const counted = [...metrics.matchAll(/^requests_refused_total\{transport="http",reason="\w+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(counted, refused.length);

    // Nothing refused was applied: the queues hold the seed tracks plus the served writes.
    let items = 0;
    for (const q of queues) {
      const r = await whenServed(() => api('GET', `/queues/${q}`));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      items += r.body.items.length;
    }
    assert.equal(items, queues.length * 2 + served.length);
    // Once the flood is over the server takes writes again.
    assert.equal((await whenServed(() => api('POST', `/queues/${queues[0]}/tracks`, { tracks: ['after'] }))).status, 200);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });

  it('socket commands past the bound are answered `overloaded` at once, each command exactly once', async () => {
    const api = client(server.url, token);
    const q = (await whenServed(() => api('POST', '/queues', { name: 'ws', tracks: ['a'] }))).body.queue;
    const s = await connect(server.url, `/ws/queues/${q.id}`, { token, query: { since: q.version } });
    await s.waitFor((m) => m.type === 'hello');
    const ids = Array.from({ length: 60 }, (_, i) => `burst-${i}`);
    for (const [i, mutationId] of ids.entries()) s.send({ type: 'command', mutationId, op: 'add_tracks', args: { tracks: [`w${i}`] } });
    for (const id of ids) await s.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.mutationId === id, 10_000);
    const answers = s.messages.filter((m) => m.type === 'ack' || m.type === 'error');
    assert.equal(answers.length, ids.length, 'one answer per command');
    const acks = answers.filter((m) => m.type === 'ack');
    const refused = answers.filter((m) => m.type === 'error');
    assert.ok(acks.length >= 3 && refused.length >= 30, `acks ${acks.length}, refused ${refused.length}`);
    for (const r of refused) {
      assert.equal(r.error.code, 'overloaded');
      assert.equal(r.error.details.retryAfterSeconds, 2);
    }
    const view = (await whenServed(() => api('GET', `/queues/${q.id}`))).body;
    assert.equal(view.items.length, 1 + acks.length, 'only the acknowledged commands were applied');
    await s.close();
  });
});
