// Durability across process deaths, against real server processes per store kind:
// every acknowledged write survives SIGKILL, and SIGTERM drains in-flight requests
// (they complete, are persisted, and the process exits 0).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTempDatabase, type TempDatabase } from '../helpers/pg.ts';
import { client, mintToken, startServer, storeKinds, type RunningServer } from '../helpers/server.ts';
import { sleep } from '../helpers/wait.ts';

type Call = ReturnType<typeof client>;

function ok(res: { status: number; body: any }, status = 200): any {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function allEvents(call: Call, id: string): Promise<any[]> {
  const out: any[] = [];
  let since = 0;
  for (;;) {
    const page = ok(await call('GET', `/queues/${id}/events?since=${since}&limit=1000`));
    out.push(...page.events);
    if (!page.hasMore) return out;
    since = page.nextSince;
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 connection driven by hand, so a test can hold a request half-sent
 * (the server has routed it, its body is not complete) across a SIGTERM.
 */
class RawConnection {
  private buf = Buffer.alloc(0);
  readonly responses: RawResponse[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(url: string): Promise<RawConnection> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const s = connect({ host: u.hostname, port: Number(u.port) }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  static request(method: string, path: string, token: string, body: string): { head: string; body: Buffer } {
    const b = Buffer.from(body);
    const head =
      `${method} ${path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer ${token}\r\n` +
      `content-type: application/json\r\ncontent-length: ${b.length}\r\n\r\n`;
    return { head, body: b };
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  private parse() {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + len) return;
      this.responses.push({ status, headers, body: this.buf.subarray(end + 4, end + 4 + len).toString('utf8') });
      this.buf = this.buf.subarray(end + 4 + len);
    }
  }

  /** Waits for `n` responses in all, or for the connection to close. */
  async responsesOrClose(n: number, timeoutMs = 15_000): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.responses.length < n && !this.closed) {
      if (Date.now() > deadline) throw new Error(`no response in ${timeoutMs} ms (got ${this.responses.length})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.responses;
  }

  close() {
    this.socket.destroy();
  }
}

for (const { kind, skip } of storeKinds) {
  describe(kind, { skip, timeout: 90_000 }, () => {
    let db: TempDatabase | null = null;
    let dataDir: string;
    const adminKey = randomBytes(16).toString('hex');
    let server: RunningServer | null = null;
    let token: string;

    /** A server on the same data: the same data dir (SQLite) or database (Postgres), and the same admin key. */
    const start = () => startServer({ dataDir, adminKey, databaseUrl: db?.url });

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'qs-restart-'));
      if (kind === 'postgres') db = await createTempDatabase();
      server = await start();
      token = await mintToken(server, 'alice');
    });

    after(async () => {
      await server?.kill();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('every acknowledged write survives SIGKILL', async () => {
      const call = client(server!.url, token);
      const last = new Map<string, any>();
      const acked = new Map<string, any[]>();
      const replays: { path: string; body: unknown; key: string; answer: any }[] = [];
      const ack = (body: any) => {
        last.set(body.queue.id, body.queue);
        acked.get(body.queue.id)!.push(...body.events);
      };

      for (let i = 0; i < 3; i++) {
        const created = ok(await call('POST', '/queues', { name: `durable ${i}`, tracks: ['t0', 't1', 't2'], metadata: { i } }), 201);
        acked.set(created.queue.id, []);
        ack(created);
      }
      const ids = [...last.keys()];

      // 30 writes, 10 per queue; the queues run concurrently, each one's writes in order.
      await Promise.all(
        ids.map(async (id, qi) => {
          for (let step = 0; step < 10; step++) {
            const state = last.get(id);
            const items: any[] = state.items;
            let res: Awaited<ReturnType<Call>>;
            switch ((step + qi) % 5) {
              case 0: {
                const body = { tracks: [`q${qi}-s${step}-a`, `q${qi}-s${step}-b`], position: step % 3 };
                const key = randomUUID();
                res = await call('POST', `/queues/${id}/tracks`, body, { 'idempotency-key': key });
                replays.push({ path: `/queues/${id}/tracks`, body, key, answer: res.body });
                break;
              }
              case 1:
                res = await call('POST', `/queues/${id}/items/${items[items.length - 1].itemId}/move`, { position: 0 }, { 'if-match': `"${state.version}"` });
                break;
              case 2:
                res =
                  items.length > 2
                    ? await call('DELETE', `/queues/${id}/items/${items[1].itemId}`)
                    : await call('POST', `/queues/${id}/tracks`, { tracks: [`q${qi}-s${step}-r`] });
                break;
              case 3:
                res = await call('POST', `/queues/${id}/tracks`, {
                  tracks: [`q${qi}-s${step}-x`],
                  afterItemId: items[0].itemId,
                  expectedVersion: state.version,
                });
                break;
              default:
                res = await call('POST', `/queues/${id}/next`);
                break;
            }
            ack(ok(res));
          }
        }),
      );
      const total = [...acked.values()].reduce((n, evs) => n + evs.length, 0);
      assert.ok(total >= 3 * 4 + 30, `${total} events acknowledged`);

      // No goodbye: the process dies right after the last acknowledgement.
      await server!.kill();
      server = await start();
      const after = client(server.url, token);

      for (const id of ids) {
        const got = ok(await after('GET', `/queues/${id}`));
        assert.deepEqual(got, last.get(id), `queue ${id} is as last acknowledged`);
        const log = await allEvents(after, id);
        assert.deepEqual(log, acked.get(id), `queue ${id} has every acknowledged event, and no other`);
        assert.deepEqual(
          log.map((e) => e.sequenceNumber),
          log.map((_, i) => i + 1),
          'gapless',
        );
      }
      const list = ok(await after('GET', '/queues?limit=100')).queues;
      assert.deepEqual(list.map((q: any) => q.id).sort(), [...ids].sort());
      for (const q of list) assert.equal(q.version, last.get(q.id).version);

      // Idempotency records survived too: a retry after the crash is answered from them.
      for (const r of replays) {
        const again = await after('POST', r.path, r.body, { 'idempotency-key': r.key });
        assert.deepEqual(ok(again), r.answer);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
      }
      for (const id of ids) assert.equal(ok(await after('GET', `/queues/${id}`)).version, last.get(id).version, 'retries appended nothing');

      // And the service goes on from where it was.
      const more = ok(await after('POST', `/queues/${ids[0]}/tracks`, { tracks: ['after-restart'] }));
      assert.equal(more.queue.version, last.get(ids[0]).version + 1);
    });

    /** The server for the next test: still the one from before, or a new one on the same data. */
    async function running(): Promise<RunningServer> {
      if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) server = await start();
      return server;
    }

    /** Resolves with the exit code, or 'still running' when the process has not exited within `ms`. */
    const exitWithin = (stopped: Promise<number | null>, ms: number) => Promise.race([stopped, sleep(ms).then(() => 'still running' as const)]);

    describe('SIGTERM with requests in flight', () => {
      // 20 connections, each with a request whose headers are sent (so the server has routed it)
      // and whose body is half sent; then SIGTERM; then the bodies are completed. The client keeps
      // its connections open afterwards, as any keep-alive client (or load balancer) does.
      // One connection also pipelines a second request, which arrives while the server drains.
      let queueId: string;
      let firsts: (RawResponse | undefined)[] = [];
      let late: RawResponse | undefined;
      let stillRunningBeforeBodies: boolean;
      let refusedNewConnections: boolean;
      let exit: number | null | 'still running';
      let exitAfterClientsLeft: number | null;
      let output = '';
      let persisted: { items: any[]; log: any[] };

      before(async () => {
        const srv = await running();
        const call = client(srv.url, token);
        queueId = ok(await call('POST', '/queues', { name: 'drain' }), 201).queue.id;
        const conns = await Promise.all(Array.from({ length: 20 }, () => RawConnection.open(srv.url)));
        const reqs = conns.map((_, i) => RawConnection.request('POST', `/queues/${queueId}/tracks`, token, JSON.stringify({ tracks: [`drain-${i}`] })));
        const pipelined = RawConnection.request('POST', `/queues/${queueId}/tracks`, token, JSON.stringify({ tracks: ['late'] }));
        await Promise.all(conns.map((c, i) => c.write(reqs[i]!.head + reqs[i]!.body.subarray(0, 5).toString())));
        await sleep(300); // the partial requests reach the server (nothing to observe from here)

        const stopped = srv.stop();
        await sleep(300); // and for 300 ms after SIGTERM the server keeps running
        stillRunningBeforeBodies = srv.proc.exitCode === null;
        refusedNewConnections = await RawConnection.open(srv.url).then(
          (c) => {
            c.close();
            return false;
          },
          () => true,
        );
        await Promise.all(
          conns.map((c, i) => c.write(Buffer.concat([reqs[i]!.body.subarray(5), ...(i === 0 ? [Buffer.from(pipelined.head), pipelined.body] : [])]))),
        );
        const answers = await Promise.all(conns.map((c, i) => c.responsesOrClose(i === 0 ? 2 : 1)));
        firsts = answers.map((a) => a[0]);
        late = answers[0]![1];
        // A drained server exits within moments of its last response.
        exit = await exitWithin(stopped, 3_000);
        for (const c of conns) c.close();
        exitAfterClientsLeft = await stopped;
        output = srv.output();

        const after = client((await running()).url, token);
        persisted = { items: ok(await after('GET', `/queues/${queueId}`)).items, log: await allEvents(after, queueId) };
      });

      it('the server keeps running while requests are in flight, and refuses new connections', () => {
        assert.equal(stillRunningBeforeBodies, true);
        assert.equal(refusedNewConnections, true);
      });

      it('every in-flight request completes with 200 and is persisted', () => {
        assert.equal(firsts.length, 20);
        for (const [i, r] of firsts.entries()) {
          assert.ok(r, `request ${i} got an answer`);
          assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
          const e = JSON.parse(r.body).events[0];
          assert.deepEqual(
            persisted.log.find((x) => x.sequenceNumber === e.sequenceNumber),
            e,
            `event ${e.sequenceNumber} persisted`,
          );
          assert.ok(persisted.items.some((x) => x.itemId === e.data.itemId && x.trackId === `drain-${i}`));
        }
        assert.equal(persisted.log.length, 1 + 20, 'created + 20 adds, nothing else');
      });

      it('the process exits 0 promptly once in-flight requests are answered, though clients keep their connections', () => {
        assert.equal(
          exit,
          0,
          `exit within 3 s of the last response: ${exit}; once the clients closed their connections: ${exitAfterClientsLeft}\n${output.slice(-1500)}`,
        );
      });

      it('a request arriving while the server drains gets 503 in the API error shape, and is not applied', () => {
        assert.ok(late, 'an answer to the pipelined request');
        assert.equal(late.status, 503, late.body);
        assert.ok(!persisted.items.some((x) => x.trackId === 'late'), 'not applied');
        const body = JSON.parse(late.body);
        assert.deepEqual(Object.keys(body), ['error'], `503 body: ${late.body}`);
        assert.deepEqual(Object.keys(body.error).sort(), ['code', 'details', 'message'], `503 body: ${late.body}`);
        assert.equal(typeof body.error.code, 'string');
      });
    });

    it('SIGTERM right after 20 concurrent writes: exit 0, and every 2xx is persisted', async (t) => {
      const srv = await running();
      const call = client(srv.url, token);
      const qs = [ok(await call('POST', '/queues', { name: 'burst a' }), 201).queue, ok(await call('POST', '/queues', { name: 'burst b' }), 201).queue];
      // A keep-alive client, as real ones are; its connections are ours to close.
      const agent = new http.Agent({ keepAlive: true });
      const sent: Promise<void>[] = [];
      const writes = Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<{ i: number; status: number; body: any }>((resolve) => {
            const body = JSON.stringify({ tracks: [`burst-${i}`] });
            const req = http.request(
              `${srv.url}/queues/${qs[i % 2].id}/tracks`,
              {
                method: 'POST',
                agent,
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
              },
              (res) => {
                let text = '';
                res.setEncoding('utf8');
                res.on('data', (d) => (text += d));
                res.on('end', () => resolve({ i, status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
                res.on('error', (err) => resolve({ i, status: 0, body: String(err) }));
              },
            );
            req.on('error', (err) => resolve({ i, status: 0, body: String(err) }));
            sent.push(new Promise((r) => req.on('finish', () => r()).on('error', () => r())));
            req.end(body);
          }),
      );
      // SIGTERM as soon as the 20 requests are on the wire.
      await Promise.all(sent);
      const stopped = srv.stop();
      const results = await Promise.all(writes);
      const exit = await exitWithin(stopped, 3_000);
      agent.destroy();
      const finalExit = await stopped;
      const output = srv.output();
      const tally: Record<string, number> = {};
      for (const r of results) tally[r.status] = (tally[r.status] ?? 0) + 1;
      t.diagnostic(`statuses: ${JSON.stringify(tally)} (0: connection closed before an answer)`);
      for (const r of results) {
        assert.ok(r.status === 200 || r.status === 503 || r.status === 0, `request ${r.i}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      const okOnes = results.filter((r) => r.status === 200);

      const after = client((await running()).url, token);
      for (const q of qs) {
        const got = ok(await after('GET', `/queues/${q.id}`));
        const log = await allEvents(after, q.id);
        for (const r of okOnes.filter((x) => x.body.queue.id === q.id)) {
          const e = r.body.events[0];
          assert.deepEqual(
            log.find((x) => x.sequenceNumber === e.sequenceNumber),
            e,
            `acknowledged event ${e.sequenceNumber} persisted`,
          );
          assert.ok(
            got.items.some((i: any) => i.itemId === e.data.itemId),
            `item of request ${r.i} in the queue`,
          );
        }
      }
      assert.equal(exit, 0, `exit within 3 s of the last answer: ${exit}; once the client closed its connections: ${finalExit}\n${output.slice(-1500)}`);
    });
  });
}
