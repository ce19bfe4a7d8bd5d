// A body over LIMIT_BODY_BYTES on one raw keep-alive connection: the client that is still
// sending it gets our 413 (not a reset connection) and the same connection serves the
// next request. Driven byte by byte over a socket so that the order is certain.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { mintToken, type RunningServer, startServer } from '../helpers/server.ts';
import { sleep } from '../helpers/wait.ts';

/** Reads HTTP answers off one socket: each with its status, headers and JSON body. */
class Wire {
  private buf = '';
  private closed = false;
  private wake: (() => void) | null = null;
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }
  get isClosed(): boolean {
    return this.closed;
  }
  /** Whatever arrived so far. */
  get pending(): string {
    return this.buf;
  }
  /** The next whole answer, or null when the connection closed first. */
  async answer(timeoutMs = 10_000): Promise<{ status: number; headers: Record<string, string>; body: any } | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...lines] = this.buf.slice(0, end).split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
        const length = Number(headers['content-length'] ?? 0);
        if (this.buf.length >= end + 4 + length) {
          const body = this.buf.slice(end + 4, end + 4 + length);
          this.buf = this.buf.slice(end + 4 + length);
          return { status: Number(statusLine!.split(' ')[1]), headers, body: body ? JSON.parse(body) : null };
        }
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no whole answer within ${timeoutMs} ms; have ${JSON.stringify(this.buf.slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

const LIMIT = 64 * 1024;

describe('a body over the limit', () => {
  let server: RunningServer;
  let token: string;
  let port: number;
  before(async () => {
    server = await startServer({ env: { LIMIT_BODY_BYTES: String(LIMIT) } });
    token = await mintToken(server, 'alice');
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    await server.stop();
  });

  async function open(): Promise<Wire> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Wire(socket);
  }
  const head = (length: number) =>
    `POST /queues HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;

  it('is answered 413 in our shape once the client has sent it, and the connection then serves the next request', async () => {
    const wire = await open();
    const body = JSON.stringify({ name: 'big', metadata: { blob: 'x'.repeat(3 * LIMIT) } });
    wire.socket.write(head(body.length));
    wire.socket.write(body.slice(0, 1000));
    // The client is slow: nothing is answered, and the connection stays open, while the body
    // is still coming (sleep: nothing must happen for this long).
    await sleep(300);
    assert.equal(wire.pending, '', 'no answer before the body has arrived');
    assert.equal(wire.isClosed, false, 'the connection is not closed under the client');
    wire.socket.write(body.slice(1000));
    const refused = await wire.answer();
    assert.ok(refused, 'an answer, not a closed connection');
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error.code, 'body_too_large');
    assert.notEqual(refused.headers.connection, 'close');
    // The same connection: a good request is served.
    const ok = JSON.stringify({ name: 'small' });
    wire.socket.write(head(ok.length) + ok);
    const created = await wire.answer();
    assert.equal(created?.status, 201, JSON.stringify(created?.body));
    assert.equal(created.body.queue.name, 'small');
    wire.socket.destroy();
  });

  it('far over the limit (more than 8 times) is refused at once and the connection closed', async () => {
    const wire = await open();
    wire.socket.write(head(9 * LIMIT + 1));
    wire.socket.write('{"name":"x"');
    const refused = await wire.answer();
    assert.equal(refused?.status, 413);
    assert.equal(refused.body.error.code, 'body_too_large');
    assert.equal(refused.headers.connection, 'close');
    wire.socket.destroy();
  });
});
