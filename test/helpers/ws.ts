// A real WebSocket client for tests: records every message and waits for the ones asked for.
import WebSocket from 'ws';

export interface TestSocket {
  ws: WebSocket;
  messages: any[];
  /** Resolves with the first message (from `from` on) matching `pred`. */
  waitFor(pred: (m: any) => boolean, timeoutMs?: number, from?: number): Promise<any>;
  send(msg: unknown): void;
  /** Sends a command and resolves with its ack or error. */
  command(op: string, args: Record<string, unknown>, extra?: Record<string, unknown>): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

let counter = 0;

export function connect(
  baseUrl: string,
  path: string,
  opts: { token?: string; query?: Record<string, string | number>; headers?: Record<string, string>; autoPong?: boolean } = {},
): Promise<TestSocket> {
  const u = new URL(path, baseUrl.replace(/^http/, 'ws'));
  if (opts.token) u.searchParams.set('token', opts.token);
  for (const [k, v] of Object.entries(opts.query ?? {})) u.searchParams.set(k, String(v));
  const ws = new WebSocket(u, { headers: opts.headers, autoPong: opts.autoPong ?? true });
  const messages: any[] = [];
  const waiters: { pred: (m: any) => boolean; from: number; resolve: (m: any) => void }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(String(d));
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m) && messages.length - 1 >= w.from) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const sock: TestSocket = {
    ws,
    messages,
    closed,
    waitFor(pred, timeoutMs = 5000, from = 0) {
      const found = messages.slice(from).find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          from,
          resolve: (m: any) => {
            clearTimeout(t);
            resolve(m);
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for a message; got ${messages.length}: ${JSON.stringify(messages.slice(-5)).slice(0, 800)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    send(msg) {
      ws.send(JSON.stringify(msg));
    },
    command(op, args, extra = {}) {
      const mutationId = `m-${process.pid}-${++counter}`;
      const from = messages.length;
      ws.send(JSON.stringify({ type: 'command', mutationId, op, args, ...extra }));
      return sock.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.mutationId === (extra.mutationId ?? mutationId), 5000, from);
    },
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      ws.close();
      await closed;
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(sock));
    ws.once('unexpected-response', (req, res) => {
      // Let go of the refused connection, or the server's shutdown would wait for it.
      res.resume();
      req.destroy();
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Event messages (those with a sequence number) of one stream, in arrival order. */
export function eventsOf(s: TestSocket, stream: 'queue' | 'user', queueId?: string): any[] {
  const control = new Set(['hello', 'snapshot', 'ack', 'error', 'subscribed', 'presence']);
  return s.messages.filter(
    (m) => m.stream === stream && !control.has(m.type) && typeof m.sequenceNumber === 'number' && (queueId === undefined || m.queueId === queueId),
  );
}
