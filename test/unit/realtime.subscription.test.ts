// A socket's subscription to a stream (src/realtime/subscription.ts) on the in-process bus:
// an event committed while the subscription reads its starting snapshot reaches the socket
// once (the two-instance suite once saw it twice: [RT4]/[RT7], a snapshot taken before the
// event made the cursor look ahead of the server).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBus, type BusMessage } from '../../src/realtime/bus.ts';
import { Subscription, type Sink, type StreamSource } from '../../src/realtime/subscription.ts';

type Ev = { sequenceNumber: number; type: string; deviceId: string | null; data: object; userId: string; timestamp: string };

/** A stream held in memory, whose snapshot read waits until `release` (the store's latency). */
function stream() {
  const log: Ev[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let snapshotAt = -1;
  const source: StreamSource<'queue'> = {
    kind: 'queue',
    async read(_id, after, limit) {
      return log.filter((e) => e.sequenceNumber > after).slice(0, limit) as never;
    },
    async snapshot() {
      snapshotAt = log.length; // what the store held when the read began
      await gate;
      return { sequenceNumber: snapshotAt, data: { items: snapshotAt } };
    },
  };
  const append = (bus: LocalBus) => {
    const e: Ev = { sequenceNumber: log.length + 1, type: 'item_added', deviceId: null, data: {}, userId: 'u', timestamp: new Date().toISOString() };
    log.push(e);
    bus.publish({ stream: 'queue', id: 'q', events: [e] } as unknown as BusMessage<'queue'>);
  };
  return { source, append, release, log };
}

function sink() {
  const got: (number | string)[] = [];
  const s: Sink<'queue'> = {
    event: (_k, _id, e) => {
      got.push((e as Ev).sequenceNumber);
      return true;
    },
    snapshot: (_k, _id, snap) => {
      got.push(`snapshot@${snap.sequenceNumber}`);
      return true;
    },
    note: () => undefined,
    failed: (err) => {
      throw err;
    },
    catchup: () => undefined,
  };
  return { s, got };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('a subscription starting while the stream moves', () => {
  for (const since of [2, undefined]) {
    it(`an event committed during the starting snapshot's read is delivered once (since=${since ?? 'none'})`, async () => {
      const bus = new LocalBus();
      const { source, append, release } = stream();
      append(bus);
      append(bus);
      await turn();
      const { s, got } = sink();
      const sub = new Subscription(bus, source, 'q', since ?? 0, s, null);
      const started = sub.start(1000, since === undefined);
      append(bus); // event 3: committed and published while the snapshot (of 2 events) is read
      await turn();
      await turn();
      release();
      await started;
      append(bus);
      await turn();
      await turn();
      const events = got.filter((x) => typeof x === 'number');
      assert.deepEqual(events, [3, 4], `got ${JSON.stringify(got)}`);
      if (since === undefined) assert.equal(got[0], 'snapshot@2', 'the initial snapshot first');
      sub.close();
      await bus.close();
    });
  }
});
