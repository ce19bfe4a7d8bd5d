// bench:collab — many people editing one queue at once: 50 editors make random adds,
// moves and removes while 500 viewers watch, over real sockets. Ours: one server in
// embedded mode (SQLite), editors send socket commands and wait for each ack. Peer, in the
// same run: the same workload on a shared Y.Array through a y-websocket server, where a
// move is delete + insert (Y.Array has no move). Prints edits/s, edit-to-all-viewers
// latency (p50/p99) with ratios, and whether each kept every item exactly once.
// Run by hand: `npm run bench:collab` (BENCH_SECONDS, BENCH_EDITORS, BENCH_VIEWERS).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { mulberry32 } from '../test/helpers/random.ts';

const { startServerOn, client, mintToken } = await import('../test/helpers/server.ts');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const EDITORS = Number(process.env.BENCH_EDITORS ?? 50);
const VIEWERS = Number(process.env.BENCH_VIEWERS ?? 500);
const SEED_ITEMS = 50;
/** Moves and removes pick among the first HOT items, so editors collide on the same items. */
const HOT = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
process.setMaxListeners(0); // every y-websocket provider listens for the process exit

type OpKind = 'add' | 'move' | 'remove';
function chooseOp(rnd: () => number, n: number): OpKind {
  const r = rnd();
  if (n < 5 || r < 0.5) return 'add';
  return r < 0.85 ? 'move' : 'remove';
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Result {
  name: string;
  edits: number;
  editsPerSecond: number;
  measured: number;
  incomplete: number;
  p50: number;
  p99: number;
  items: number;
  duplicated: number;
  resurrected: number;
  viewersAgree: boolean;
  notes: string;
}

/** Counts arrivals of one edit at the viewers; the latency is to the last of them. */
class Arrivals {
  private readonly seen = new Map<string | number, { n: number; last: number }>();
  hit(key: string | number): void {
    const now = performance.now();
    const a = this.seen.get(key);
    if (a) {
      a.n++;
      a.last = now;
    } else this.seen.set(key, { n: 1, last: now });
  }
  latencies(sent: Map<string | number, number>, viewers: number): { lat: number[]; incomplete: number } {
    const lat: number[] = [];
    let incomplete = 0;
    for (const [k, t0] of sent) {
      const a = this.seen.get(k);
      if (a && a.n >= viewers) lat.push(a.last - t0);
      else incomplete++;
    }
    return { lat, incomplete };
  }
}

// ---------------------------------------------------------------- ours

async function ours(): Promise<Result> {
  const server = await startServerOn('sqlite', {
    env: { LOG_LEVEL: 'error', LIMIT_ADDS_PER_MINUTE: '10000000', WS_MAX_MESSAGES_PER_SECOND: '100000', LIMIT_ITEMS_PER_QUEUE: '100000' },
  });
  try {
    const ownerToken = await mintToken(server, 'owner');
    const owner = client(server.url, ownerToken);
    const editors = Array.from({ length: EDITORS }, (_, i) => `editor${i}`);
    const q = (
      await owner('POST', '/queues/collaborative', {
        name: 'bench',
        isPublic: true,
        collaborators: editors,
        tracks: Array.from({ length: SEED_ITEMS }, (_, i) => `seed${i}`),
      })
    ).body.queue;
    for (const e of editors) await owner('PUT', `/queues/${q.id}/collaborators/${e}`, { permissionLevel: 'admin' });
    const live: string[] = q.items.map((i: { itemId: string }) => i.itemId);

    const arrivals = new Arrivals();
    const viewerTokens = await Promise.all(Array.from({ length: 10 }, (_, i) => mintToken(server, `viewer${i}`)));
    const viewers: WebSocket[] = [];
    const wsUrl = server.url.replace(/^http/, 'ws');
    const head = (await owner('GET', `/queues/${q.id}`)).body.version;
    for (let v = 0; v < VIEWERS; v++) {
      const ws = new WebSocket(`${wsUrl}/ws/queues/${q.id}?token=${viewerTokens[v % 10]}&deviceId=view-${v}&since=${head}`);
      const first = v === 0;
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw));
        if (typeof m.sequenceNumber !== 'number' || m.stream !== 'queue') return;
        arrivals.hit(m.sequenceNumber);
        if (!first) return;
        // Viewer 0 keeps the list of live items the editors pick from.
        if (m.type === 'item_added') live.push(m.data.itemId);
        if (m.type === 'item_removed') live.splice(live.indexOf(m.data.itemId) >>> 0, live.includes(m.data.itemId) ? 1 : 0);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      viewers.push(ws);
    }

    await sleep(1000); // the viewers' presence notes settle before the clock starts
    const sent = new Map<number, number>();
    let edits = 0;
    const errors = new Map<string, number>();
    const editorTokens = await Promise.all(editors.map((e) => mintToken(server, e)));
    const sockets = await Promise.all(
      editorTokens.map(
        (t, i) =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${wsUrl}/ws/queues/${q.id}?token=${t}&deviceId=edit-${i}&since=0`);
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          }),
      ),
    );
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      sockets.map(async (ws, i) => {
        const rnd = mulberry32(1000 + i);
        const pending = new Map<string, (m: any) => void>();
        ws.on('message', (raw) => {
          const m = JSON.parse(String(raw));
          if ((m.type === 'ack' || m.type === 'error') && pending.has(m.mutationId)) {
            pending.get(m.mutationId)!(m);
            pending.delete(m.mutationId);
          }
        });
        let n = 0;
        while (performance.now() < deadline) {
          const kind = chooseOp(rnd, live.length);
          const hot = live.slice(0, HOT);
          const mutationId = `e${i}-${n++}`;
          let op: string;
          let args: Record<string, unknown>;
          if (kind === 'add') {
            op = 'add_tracks';
            args = { tracks: [`t-${mutationId}`], position: Math.floor(rnd() * (live.length + 1)) };
          } else if (kind === 'move') {
            op = 'move_item';
            args = { itemId: hot[Math.floor(rnd() * hot.length)], position: Math.floor(rnd() * (live.length + 1)) };
          } else {
            op = 'remove_item';
            args = { itemId: hot[Math.floor(rnd() * hot.length)] };
          }
          const t0 = performance.now();
          const answer = await new Promise<any>((resolve) => {
            pending.set(mutationId, resolve);
            ws.send(JSON.stringify({ type: 'command', mutationId, op, args }));
          });
          if (answer.type === 'ack') {
            if (answer.sequenceNumbers.length > 0) edits++;
            for (const e of answer.events as any[]) if (e.type === 'item_added' || e.type === 'item_moved') sent.set(e.sequenceNumber, t0);
          } else errors.set(answer.error.code, (errors.get(answer.error.code) ?? 0) + 1);
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    await sleep(1500); // let the last events reach every viewer
    const { lat, incomplete } = arrivals.latencies(sent, VIEWERS);
    const final = (await owner('GET', `/queues/${q.id}`)).body;
    const ids = final.items.map((i: any) => i.itemId);
    const tracks = final.items.map((i: any) => i.trackId);
    for (const ws of [...viewers, ...sockets]) ws.close();
    return {
      name: 'ours (embedded, SQLite)',
      edits,
      editsPerSecond: edits / elapsed,
      measured: lat.length,
      incomplete,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      items: ids.length,
      duplicated: ids.length - new Set(ids).size + (tracks.length - new Set(tracks).size),
      resurrected: 0,
      viewersAgree: true,
      notes: `acked edits; refused (item removed meanwhile): ${JSON.stringify(Object.fromEntries(errors))}`,
    };
  } finally {
    await server.cleanup();
  }
}

// ---------------------------------------------------------------- peer: y-websocket + Y.Array

interface Entry {
  id: string;
  track: string;
  /** The edit that wrote this entry (an add, or the insert half of a move). */
  op: string;
}

async function peer(): Promise<Result> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'peer-yjs.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) =>
    proc.stdout!.on('data', (d) => {
      const m = /listening on (\S+)/.exec(String(d));
      if (m) resolve(m[1]!);
    }),
  );
  const room = 'bench';
  const providers: WebsocketProvider[] = [];
  const connectDoc = async (): Promise<Y.Doc> => {
    const doc = new Y.Doc();
    const p = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket as any, disableBc: true });
    providers.push(p);
    await new Promise<void>((resolve) => (p.synced ? resolve() : p.once('sync', () => resolve())));
    return doc;
  };
  try {
    const seedDoc = await connectDoc();
    seedDoc.getArray<Entry>('queue').insert(
      0,
      Array.from({ length: SEED_ITEMS }, (_, i) => ({ id: `seed${i}`, track: `seed${i}`, op: `seed${i}` })),
    );
    await sleep(300);

    const arrivals = new Arrivals();
    /** Viewer 0 tells the editors that their edit went through the server (the peer has no acks). */
    const relayed = new Map<string, (() => void)[]>();
    const relay = (key: string) => {
      const waiting = relayed.get(key);
      relayed.delete(key);
      for (const w of waiting ?? []) w();
    };
    const viewerDocs: Y.Doc[] = [];
    for (let v = 0; v < VIEWERS; v++) {
      const doc = await connectDoc();
      const first = v === 0;
      doc.getArray<Entry>('queue').observe((e) => {
        for (const d of e.changes.delta) {
          if (!d.insert) continue;
          for (const x of d.insert as Entry[]) {
            arrivals.hit(x.op);
            if (first) relay(x.op);
          }
        }
        if (first) {
          for (const item of e.changes.deleted) {
            for (const x of item.content.getContent() as Entry[]) relay(`del:${x.op}`);
          }
        }
      });
      viewerDocs.push(doc);
    }

    await sleep(1000);
    const sent = new Map<string, number>();
    const removedIds = new Set<string>();
    let edits = 0;
    let timeouts = 0;
    const editorDocs = await Promise.all(Array.from({ length: EDITORS }, () => connectDoc()));
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      editorDocs.map(async (doc, i) => {
        const rnd = mulberry32(1000 + i);
        const arr = doc.getArray<Entry>('queue');
        let n = 0;
        while (performance.now() < deadline) {
          const len = arr.length;
          const kind = chooseOp(rnd, len);
          const op = `e${i}-${n++}`;
          let waitFor = op;
          const t0 = performance.now();
          if (kind === 'add') {
            doc.transact(() => arr.insert(Math.floor(rnd() * (len + 1)), [{ id: `t-${op}`, track: `t-${op}`, op }]));
            sent.set(op, t0);
          } else if (kind === 'move') {
            // Y.Array has no move: delete and insert again, the usual way.
            const from = Math.floor(rnd() * Math.min(HOT, len));
            const entry = arr.get(from);
            doc.transact(() => {
              arr.delete(from, 1);
              arr.insert(Math.floor(rnd() * len), [{ ...entry, op }]);
            });
            sent.set(op, t0);
          } else {
            const at = Math.floor(rnd() * Math.min(HOT, len));
            const entry = arr.get(at);
            removedIds.add(entry.id);
            waitFor = `del:${entry.op}`;
            doc.transact(() => arr.delete(at, 1));
          }
          // A delete of an entry someone else deleted first changes nothing, so nothing is relayed:
          // wait only briefly for those (ours answers them at once, item_gone).
          const done = await new Promise<boolean>((resolve) => {
            const t = setTimeout(() => resolve(false), kind === 'remove' ? 300 : 2000);
            const list = relayed.get(waitFor) ?? [];
            list.push(() => {
              clearTimeout(t);
              resolve(true);
            });
            relayed.set(waitFor, list);
          });
          if (done) edits++;
          else timeouts++;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    await sleep(1500);
    const { lat, incomplete } = arrivals.latencies(sent, VIEWERS);
    const final = viewerDocs[0]!.getArray<Entry>('queue').toArray();
    const count = new Map<string, number>();
    for (const e of final) count.set(e.id, (count.get(e.id) ?? 0) + 1);
    const duplicated = [...count.values()].filter((c) => c > 1).reduce((s, c) => s + c - 1, 0);
    const resurrected = [...removedIds].filter((id) => count.has(id)).length;
    const agree = JSON.stringify(final) === JSON.stringify(viewerDocs[VIEWERS - 1]!.getArray('queue').toArray());
    return {
      name: 'peer: y-websocket + Y.Array',
      edits,
      editsPerSecond: edits / elapsed,
      measured: lat.length,
      incomplete,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      items: final.length,
      duplicated,
      resurrected,
      viewersAgree: agree,
      notes: `edits relayed to a viewer (no acks in the peer)${timeouts ? `; ${timeouts} not relayed (removes of an entry deleted meanwhile: 0.3 s wait; others 2 s)` : ''}`,
    };
  } finally {
    for (const p of providers) p.destroy();
    proc.kill('SIGTERM');
  }
}

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
console.log(
  `bench:collab — ${EDITORS} editors + ${VIEWERS} viewers on one queue, ${SECONDS} s each; adds 50%, moves 35%, removes 15% (moves/removes on the first ${HOT} items)`,
);
const results: Result[] = [];
for (const run of process.env.BENCH_ONLY === 'ours' ? [ours] : process.env.BENCH_ONLY === 'peer' ? [peer] : [ours, peer]) {
  const r = await run();
  results.push(r);
  console.log(`\n${r.name}`);
  console.log(`  edits/s ${fmt(r.editsPerSecond)}  (${r.edits} edits)  ${r.notes}`);
  console.log(
    `  edit-to-all-${VIEWERS}-viewers latency (adds and moves): p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms over ${r.measured} edits${r.incomplete ? `; ${r.incomplete} did not reach every viewer` : ''}`,
  );
  console.log(`  final items ${r.items}; duplicated ${r.duplicated}; removed items back ${r.resurrected}; viewers agree ${r.viewersAgree}`);
}
if (results.length < 2) process.exit(0);
const [o, p] = results as [Result, Result];
console.log('\nratios (ours / peer)');
console.log(
  `  edits/s ${fmt(o.editsPerSecond / p.editsPerSecond, 2)}x;  latency p50 ${fmt(o.p50 / p.p50, 2)}x, p99 ${fmt(o.p99 / p.p99, 2)}x (below 1 = ours faster)`,
);
console.log(
  `  every item exactly once under concurrent moves: ours ${o.duplicated === 0 ? 'yes' : `NO (${o.duplicated})`}, peer ${p.duplicated === 0 && p.resurrected === 0 ? 'yes' : `NO (${p.duplicated} duplicated, ${p.resurrected} removed items back)`}`,
);
process.exit(0);
