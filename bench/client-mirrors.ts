// bench:client's mirror process (forked by bench/client.ts, IPC): holds N mirrors of one
// queue, either SDK mirrors (`new QueueClient(...).openQueue(id)`, the built package) or
// plain `ws` clients doing the same by hand (the sync socket, `subscribe` with their own
// `since`, the same reconnect back-off), and records when each mirror got each version.
//
// Messages in:  {cmd: 'start', kind, n, baseUrl, token, queueId, reconnect: {baseMs, maxMs}, prefix}
//               {cmd: 'mark'}                       forget what was recorded so far
//               {cmd: 'report'}                     -> {type: 'report', ...}
//               {cmd: 'killed', at}                 the server was killed at `at` (epoch ms)
//               {cmd: 'catchup', version, timeoutMs} -> {type: 'catchup', ...} once every mirror holds >= version
//               {cmd: 'close'}
// Messages out: {type: 'ready', ms}, {type: 'report', ...}, {type: 'catchup', ...}, {type: 'error', message}
import WebSocket from 'ws';
import { QueueClient } from '@queue-service/client';

type Kind = 'sdk' | 'ws';
interface Start {
  cmd: 'start';
  kind: Kind;
  n: number;
  baseUrl: string;
  token: string;
  queueId: string;
  reconnect: { baseMs: number; maxMs: number };
  prefix: string;
}

/** One mirror, whichever kind: its version and when it got each. */
interface Mirror {
  version: number;
  /** Commit-to-here latencies (ms) of the events it applied since the mark. */
  latencies: number[];
  /** [epoch ms, version] after each change since the kill. */
  series: [number, number][];
  /** When its socket was back (hello) after the kill. */
  reopenedAt: number | null;
  duplicates: number;
  gaps: number;
  close(): Promise<void> | void;
}

const send = (m: unknown) => process.send!(m);
const mirrors: Mirror[] = [];
let killedAt: number | null = null;
/** version -> latest arrival among the mirrors (epoch ms) and how many got it, since the mark. */
let byVersion = new Map<number, { commit: number; last: number; count: number }>();

function record(m: Mirror, version: number, commitMs: number | null): void {
  const now = Date.now();
  if (commitMs !== null) {
    m.latencies.push(now - commitMs);
    const v = byVersion.get(version) ?? { commit: commitMs, last: 0, count: 0 };
    v.last = Math.max(v.last, now);
    v.count++;
    byVersion.set(version, v);
  }
  if (killedAt !== null) m.series.push([now, m.version]);
}

async function sdkMirror(s: Start, i: number): Promise<Mirror> {
  const c = new QueueClient({ baseUrl: s.baseUrl, token: s.token, deviceId: `${s.prefix}-${i}`, reconnect: s.reconnect });
  const m: Mirror = { version: 0, latencies: [], series: [], reopenedAt: null, duplicates: 0, gaps: 0, close: () => c.close() };
  c.on('status', (st) => {
    if (process.env.CLIENT_DEBUG && killedAt !== null) process.stderr.write(`sdk mirror ${i}: ${st} at +${Date.now() - killedAt} ms after the kill\n`);
    if (st === 'online' && killedAt !== null && m.reopenedAt === null) m.reopenedAt = Date.now();
  });
  const q = await c.openQueue(s.queueId);
  m.version = q.state.version;
  q.on('change', (state, events) => {
    const before = m.version;
    m.version = state.version;
    if (events.length === 0) {
      if (state.version !== before) record(m, state.version, null); // a snapshot
      return;
    }
    for (const e of events) {
      m.version = e.sequenceNumber;
      record(m, e.sequenceNumber, Date.parse(e.timestamp));
    }
    m.version = state.version;
  });
  return m;
}

/** The plain client: the sync socket, `subscribe` with its own `since`, reconnect with the same back-off. */
function wsMirror(s: Start, i: number): Promise<Mirror> {
  return new Promise((resolveReady) => {
    let attempt = 0;
    let closed = false;
    let ws: WebSocket | null = null;
    let readyDone = false;
    const m: Mirror = {
      version: 0,
      latencies: [],
      series: [],
      reopenedAt: null,
      duplicates: 0,
      gaps: 0,
      close: () => {
        closed = true;
        ws?.close();
      },
    };
    const connect = () => {
      const u = new URL('/ws/sync/me', s.baseUrl.replace(/^http/, 'ws'));
      u.searchParams.set('token', s.token);
      u.searchParams.set('deviceId', `${s.prefix}-${i}`);
      const sock = new WebSocket(u);
      ws = sock;
      sock.on('message', (d) => {
        const msg = JSON.parse(String(d));
        if (!readyDone && process.env.CLIENT_DEBUG)
          process.stderr.write(`ws mirror ${i}: ${msg.type} ${msg.stream ?? ''} ${msg.queueId ?? ''} ${msg.type === 'error' ? JSON.stringify(msg) : ''}\n`);
        if (msg.type === 'hello') {
          attempt = 0;
          if (killedAt !== null && m.reopenedAt === null) m.reopenedAt = Date.now();
          sock.send(JSON.stringify({ type: 'subscribe', queueId: s.queueId, ...(m.version > 0 ? { since: m.version } : {}) }));
        } else if (msg.type === 'snapshot' && msg.stream === 'queue' && msg.queueId === s.queueId) {
          m.version = msg.sequenceNumber;
          record(m, m.version, null);
          if (!readyDone) {
            readyDone = true;
            resolveReady(m);
          }
        } else if (msg.stream === 'queue' && msg.queueId === s.queueId && typeof msg.sequenceNumber === 'number' && msg.type !== 'snapshot') {
          if (msg.sequenceNumber <= m.version) {
            m.duplicates++;
            return;
          }
          if (msg.sequenceNumber > m.version + 1) m.gaps++;
          m.version = msg.sequenceNumber;
          record(m, m.version, Number(msg.timestamp));
        } else if (msg.type === 'error' && !msg.mutationId) {
          // The subscription was refused (overloaded, say): ask again after the server's hint, as the SDK does.
          const after = Number(msg.error?.details?.retryAfterSeconds ?? 1) * 1000 * (0.5 + Math.random());
          setTimeout(() => {
            if (ws === sock && sock.readyState === sock.OPEN)
              sock.send(JSON.stringify({ type: 'subscribe', queueId: s.queueId, ...(m.version > 0 ? { since: m.version } : {}) }));
          }, after);
        } else if (msg.type === 'subscribed' && !readyDone && m.version > 0) {
          readyDone = true;
          resolveReady(m);
        }
      });
      sock.on('error', () => undefined);
      sock.on('close', (code, reason) => {
        if (!readyDone && process.env.CLIENT_DEBUG) process.stderr.write(`ws mirror ${i} closed before ready: ${code} ${reason}\n`);
        if (ws !== sock || closed) return;
        ws = null;
        const delay = Math.min(s.reconnect.maxMs, s.reconnect.baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt = Math.min(attempt + 1, 30);
        setTimeout(connect, delay);
      });
    };
    connect();
  });
}

const pct = (xs: number[], q: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

process.on('message', async (msg: any) => {
  try {
    if (msg.cmd === 'start') {
      const s = msg as Start;
      const t0 = Date.now();
      // A few at a time, as many apps starting would not all connect in the same millisecond.
      for (let i = 0; i < s.n; i += 25) {
        const batch = Array.from({ length: Math.min(25, s.n - i) }, (_, k) => (s.kind === 'sdk' ? sdkMirror(s, i + k) : wsMirror(s, i + k)));
        mirrors.push(...(await Promise.all(batch)));
      }
      send({ type: 'ready', ms: Date.now() - t0, versions: [...new Set(mirrors.map((m) => m.version))] });
    } else if (msg.cmd === 'mark') {
      for (const m of mirrors) m.latencies = [];
      byVersion = new Map();
      send({ type: 'marked' });
    } else if (msg.cmd === 'report') {
      // Raw numbers go back (at most mirrors x writes): the parent merges the processes.
      send({
        type: 'report',
        latencies: mirrors.flatMap((m) => m.latencies),
        byVersion: [...byVersion.entries()],
        versions: mirrors.map((m) => m.version),
        duplicates: mirrors.reduce((a, m) => a + m.duplicates, 0),
        gaps: mirrors.reduce((a, m) => a + m.gaps, 0),
        p50: pct(
          mirrors.flatMap((m) => m.latencies),
          0.5,
        ),
      });
    } else if (msg.cmd === 'killed') {
      killedAt = msg.at;
      for (const m of mirrors) {
        m.series = [];
        m.reopenedAt = null;
      }
      send({ type: 'killed' });
    } else if (msg.cmd === 'catchup') {
      const end = Date.now() + msg.timeoutMs;
      while (mirrors.some((m) => m.version < msg.version) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      send({
        type: 'catchup',
        mirrors: mirrors.map((m) => ({
          reopenedAt: m.reopenedAt,
          reachedAt: m.series.find(([, v]) => v >= msg.version)?.[0] ?? (m.version >= msg.version ? -1 : null),
          version: m.version,
        })),
        duplicates: mirrors.reduce((a, m) => a + m.duplicates, 0),
        gaps: mirrors.reduce((a, m) => a + m.gaps, 0),
      });
    } else if (msg.cmd === 'close') {
      await Promise.allSettled(mirrors.map((m) => m.close()));
      send({ type: 'closed' });
      setTimeout(() => process.exit(0), 50);
    }
  } catch (err) {
    send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
