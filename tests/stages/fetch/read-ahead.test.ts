// readAhead: the stage before it is pulled while the stage after it is busy, up to a byte bound;
// order, errors and early stops pass through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readAhead } from '../../../stages/fetch/read-ahead.ts';
import { testContext } from '../../helpers/context.ts';

const ENTRY = 1024; // per-item bookkeeping, as read-ahead.ts charges it

/** Lets every ready promise chain run (no timers: the input below never waits on the clock). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
}

function counted(n: number, failAt = -1) {
  const state = { pulled: 0, closed: false };
  async function* gen(): AsyncGenerator<{ id: number; size: number }> {
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new Error(`input broke at ${i}`);
        state.pulled += 1;
        yield { id: i, size: 100 * (i % 3) };
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, input: gen() };
}

test('readAhead pulls ahead of a busy consumer up to its byte bound, then waits; order is kept', async () => {
  for (const queued of [1, 3, 7]) {
    const { state, input } = counted(40);
    const max = queued * ENTRY; // items of 0-200 bytes: `queued` of them reach the bound
    const out = readAhead<{ id: number; size: number }>(max, (x) => x.size)(input, testContext())[Symbol.asyncIterator]();
    const first = await out.next();
    assert.equal(first.value?.id, 0);
    await settle();
    // Item 0 was handed on; the queue then filled until its bytes reached the bound.
    assert.equal(state.pulled, 1 + queued, `bound of ${queued} entries`);
    const rest: number[] = [];
    for (let r = await out.next(); !r.done; r = await out.next()) rest.push(r.value.id);
    assert.deepEqual(rest, Array.from({ length: 39 }, (_, i) => i + 1));
    assert.equal(state.closed, true);
  }
});

test('readAhead with a 0 bound still passes every item; an input error reaches the consumer after the items before it', async () => {
  const { input } = counted(10);
  const ids: number[] = [];
  for await (const x of readAhead<{ id: number; size: number }>(0, (x) => x.size)(input, testContext())) ids.push(x.id);
  assert.deepEqual(ids, Array.from({ length: 10 }, (_, i) => i));

  const broken = counted(10, 6);
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const x of readAhead<{ id: number; size: number }>(1e6, (x) => x.size)(broken.input, testContext())) seen.push(x.id);
  }, /input broke at 6/);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
});

test('a consumer that stops early stops the pulling and closes the input', async () => {
  const { state, input } = counted(1000);
  for await (const x of readAhead<{ id: number; size: number }>(5 * ENTRY, (x) => x.size)(input, testContext())) {
    if (x.id === 2) break;
  }
  assert.equal(state.closed, true);
  assert.ok(state.pulled < 20, `pulled ${state.pulled} of 1000`);
});
