// http_request_duration_seconds (issue 21): the same histogram prom-client's Histogram
// exposes (name, help, labels, buckets, text), kept in one Float64Array per series. Through
// Histogram.labels(...).observe each answer converted its labels to an object, validated
// them and hashed them into a string: about 2.5% of a read's CPU. Here an answer costs a
// Map lookup, a bucket search and three additions; the registry asks for the values only
// when /metrics is read. test/unit/request-histogram.test.ts holds the text to prom-client's.
import type { Registry } from 'prom-client';

interface Series {
  labels: { method: string; route: string; status_code: string };
  /** Per bucket (not cumulative), then the count of values past the last bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class RequestHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, Series>();

  constructor(o: { name: string; help: string; buckets: readonly number[]; registers: Registry[] }) {
    this.name = o.name;
    this.help = o.help;
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    // The registry takes any object with a name and get(): it formats what get() returns.
    for (const r of o.registers) r.registerMetric(this as never);
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { method, route, status_code: String(status) }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** The values as prom-client's Histogram gives them: cumulative buckets with `le`, then sum and count, per series. */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]!, ...s.labels }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}
