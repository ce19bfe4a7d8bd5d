// The snapshot JSON written in slices (issue 21) parses to the same state as JSON.stringify's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Items, initialState, type QueueState } from '../../src/queues/queue.ts';
import { stateJsonBytesInSlices, stateJsonInSlices } from '../../src/store/snapshot-json.ts';

describe('snapshot JSON in slices', () => {
  it('equals JSON.stringify of the state for 0, 1, 500, 501 and 2,345 items', async () => {
    for (const n of [0, 1, 500, 501, 2345]) {
      const state: QueueState = {
        ...initialState('q'),
        version: n,
        name: 'a "quoted" \u2028 name',
        items: Items.from(
          Array.from({ length: n }, (_, i) => ({ itemId: `i${i}`, trackId: `t${i}`, key: `k${i}`, addedBy: 'u', addedAt: '2026-01-01T00:00:00.000Z' })),
        ),
      };
      const text = await stateJsonInSlices(state);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(state)), `${n} items`);
      const bytes = await stateJsonBytesInSlices(state);
      assert.equal(bytes.toString('utf8'), text, `${n} items: the bytes are the text's UTF-8`);
    }
  });
});
