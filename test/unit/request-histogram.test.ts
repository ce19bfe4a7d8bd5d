// src/request-histogram.ts keeps http_request_duration_seconds itself (issue 21): its
// /metrics text must be what prom-client's own Histogram writes for the same answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { RequestHistogram } from '../../src/request-histogram.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const help = 'HTTP request latency by route and status';

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new RequestHistogram({ name: 'http_request_duration_seconds', help, buckets: BUCKETS, registers: [ours] });
  const ref = new Histogram({
    name: 'http_request_duration_seconds',
    help,
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: BUCKETS,
    registers: [theirs],
  });
  return {
    ours,
    theirs,
    observe(method: string, route: string, status: number, s: number) {
      h.observe(method, route, status, s);
      ref.labels(method, route, String(status)).observe(s);
    },
    reset() {
      h.reset();
      ref.reset();
    },
  };
}

describe('RequestHistogram (http_request_duration_seconds)', () => {
  it('writes the same /metrics text as prom-client for the same answers: bounds, past the last bound, several series, odd labels', async () => {
    const p = pair();
    // Every bound exactly, between bounds, zero, past the last one, on several series.
    const values = [0, 0.0005, 0.001, 0.0011, 0.0025, 0.004, 0.005, 0.01, 0.015, 0.02, 0.05, 0.07, 0.1, 0.25, 0.3, 0.5, 1, 2, 2.5, 3, 60];
    values.forEach((v, i) => {
      p.observe('GET', '/queues/:queueId', 200, v);
      if (i % 3 === 0) p.observe('POST', '/queues/:queueId/items', i % 2 ? 201 : 409, v * 1.7);
    });
    p.observe('GET', 'unmatched', 404, 0.0003);
    p.observe('GET', '/tracks/"quoted"\\back\nline', 200, 0.2);
    const ours = await p.ours.metrics();
    assert.equal(ours, await p.theirs.metrics());
    assert.match(ours, /http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/queues\/:queueId",status_code="200"\} 21/);
    assert.match(ours, /http_request_duration_seconds_count\{method="POST",route="\/queues\/:queueId\/items",status_code="409"\} 4/);
  });

  it('starts over after a reset, as prom-client does', async () => {
    const p = pair();
    p.observe('GET', '/healthz', 200, 0.002);
    p.reset();
    p.observe('DELETE', '/queues/:queueId', 204, 0.03);
    assert.equal(await p.ours.metrics(), await p.theirs.metrics());
    assert.doesNotMatch(await p.ours.metrics(), /healthz/);
  });
});
