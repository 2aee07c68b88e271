import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchFilterStage, batchMapStage, compose, dropItem, expandStage, mapStage, filterStage, passThrough, pipe, drop, DropError, readSource } from '../../core/stage.ts';
import { testContext } from '../helpers/context.ts';

interface Item { id: string; kind: string; source: string; n: number }
const items = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ id: `i${i}`, kind: 'k', source: 'src', n: i }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source that records how far it has been pulled. */
function countingSource(list: Item[]) {
  const state = { pulled: 0 };
  async function* gen() {
    for (const it of list) {
      state.pulled++;
      yield it;
    }
  }
  return { state, iterable: gen() };
}

test('mapStage keeps input order while running items concurrently', async () => {
  const ctx = testContext();
  const stage = mapStage<Item, number>('m', async (it) => {
    await sleep((10 - it.n) * 3); // later items finish first
    return it.n;
  }, { concurrency: 5 });
  const out: number[] = [];
  for await (const v of stage(countingSource(items(10)).iterable, ctx)) out.push(v);
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('concurrency is bounded: never more than the limit in flight', async () => {
  const ctx = testContext();
  let active = 0;
  let peak = 0;
  const stage = mapStage<Item, Item>('m', async (it) => {
    active++;
    peak = Math.max(peak, active);
    await sleep(5);
    active--;
    return it;
  }, { concurrency: 3 });
  let n = 0;
  for await (const _ of stage(countingSource(items(30)).iterable, ctx)) n++;
  assert.equal(n, 30);
  assert.equal(peak, 3);
});

test('backpressure: a consumer that stops pulling stops the source', async () => {
  const ctx = testContext();
  const src = countingSource(items(1000));
  const stage = pipe(src.iterable, ctx, mapStage<Item, Item>('a', (x) => x, { concurrency: 4 }), mapStage<Item, Item>('b', (x) => x, { concurrency: 2 }));
  const it = stage[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) await it.next();
  await sleep(20);
  // 5 consumed plus at most the windows of the two stages (2 x 4 + 2 x 2) and one pending pull each.
  assert.ok(src.state.pulled <= 5 + 8 + 4 + 2, `source pulled ${src.state.pulled} items for 5 consumed`);
  await sleep(20);
  const settled = src.state.pulled;
  await sleep(30);
  assert.equal(src.state.pulled, settled, 'nothing more is pulled while the consumer waits');
  await it.return?.();
});

test('drops go to the ledger and counters with stage, reason and detail', async () => {
  const ctx = testContext();
  const stage = filterStage<Item>('even', (it) => (it.n % 2 === 0 ? true : drop('odd_number', `n=${it.n}`)));
  const out: Item[] = [];
  for await (const v of stage(countingSource(items(6)).iterable, ctx)) out.push(v);
  assert.deepEqual(out.map((x) => x.n), [0, 2, 4]);
  assert.equal(ctx.rejects.rows.length, 3);
  assert.deepEqual(ctx.rejects.rows[0], { id: 'i1', kind: 'k', source: 'src', stage: 'even', reason: 'odd_number', detail: 'n=1' });
  const s = ctx.stats.stage('even');
  assert.equal(s.in, 6);
  assert.equal(s.out, 3);
  assert.deepEqual(s.droppedByReason, { odd_number: 3 });
});

test('an exception on one item becomes a reject; the run goes on', async () => {
  const ctx = testContext();
  const stage = mapStage<Item, number>('parse', (it) => {
    if (it.n === 2) throw new Error('boom\nstack');
    if (it.n === 4) throw new DropError('custom_reason', 'deep');
    return it.n;
  }, { concurrency: 2 });
  const out: number[] = [];
  for await (const v of stage(countingSource(items(6)).iterable, ctx)) out.push(v);
  assert.deepEqual(out, [0, 1, 3, 5]);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason, r.detail]), [
    ['i2', 'parse_failed', 'boom'],
    ['i4', 'custom_reason', 'deep'],
  ]);
});

test('abort stops pulling new items; items already in flight still settle', async () => {
  const controller = new AbortController();
  const ctx = testContext(controller.signal);
  const src = countingSource(items(100));
  let started = 0;
  const stage = mapStage<Item, Item>('slow', async (it) => {
    started++;
    if (it.n === 3) controller.abort();
    await sleep(5);
    return it;
  }, { concurrency: 4 });
  const out: Item[] = [];
  for await (const v of stage(src.iterable, ctx)) out.push(v);
  assert.ok(src.state.pulled < 10, `pulled ${src.state.pulled} after abort`);
  assert.equal(out.length, started, 'every started item was yielded');
  assert.deepEqual(out.map((x) => x.n), [...Array(out.length).keys()]);
});

test('readSource passes items on and writes the ItemDrops it yields to the ledger, with weights in the counts', async () => {
  const ctx = testContext();
  async function* source() {
    yield { id: 'a', kind: 'k', source: 's', n: 3 };
    yield dropItem({ id: 'x', kind: 'k', source: 'row 2' }, 'bad_row', 'row 2: no URL');
    yield { id: 'b', kind: 'k', source: 's', n: 2 };
  }
  const out: string[] = [];
  for await (const v of readSource('source', source, ctx, { weight: (it) => it.n })) out.push(v.id);
  assert.deepEqual(out, ['a', 'b']);
  assert.deepEqual(ctx.rejects.rows, [{ id: 'x', kind: 'k', source: 'row 2', stage: 'source', reason: 'bad_row', detail: 'row 2: no URL' }]);
  const st = ctx.stats.stage('source');
  assert.deepEqual([st.in, st.out, st.droppedTotal], [6, 5, 1]);
});

test('expandStage: one input to many outputs in input order; named drops, plain drops and throws', async () => {
  const ctx = testContext();
  const stage = expandStage<Item, Item>('split', async (it) => {
    await sleep((4 - it.n) * 3);
    if (it.n === 1) return [drop('whole_item', 'no windows')];
    if (it.n === 2) throw new Error('boom');
    return [{ ...it, id: `${it.id}.0` }, dropItem({ id: `${it.id}.skip`, kind: 'k', source: 'src' }, 'too_short'), { ...it, id: `${it.id}.1` }];
  }, { concurrency: 3, weight: () => 2 });
  const out: string[] = [];
  for await (const v of stage(countingSource(items(4)).iterable, ctx)) out.push(v.id);
  assert.deepEqual(out, ['i0.0', 'i0.1', 'i3.0', 'i3.1']);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [['i0.skip', 'too_short'], ['i1', 'whole_item'], ['i2', 'split_failed'], ['i3.skip', 'too_short']]);
  const st = ctx.stats.stage('split');
  assert.deepEqual([st.in, st.out, st.droppedTotal], [4 * 2 + 4, 4 * 2, 4]);
});

test('batchMapStage: batches of the given size, in order, at most two held; drops and a failed batch reach the ledger', async () => {
  const ctx = testContext();
  const sizes: number[] = [];
  const prefetched: number[][] = [];
  const src = countingSource(items(10));
  let maxAhead = 0;
  const stage = batchMapStage<Item, number>('score', async (batch) => {
    sizes.push(batch.length);
    maxAhead = Math.max(maxAhead, src.state.pulled - batch[0].n);
    if (batch[0].n === 8) throw new Error('model failed');
    return batch.map((it) => (it.n % 3 === 0 ? drop('score_below_threshold', `n=${it.n}`) : it.n * 10));
  }, { batchSize: 4, prefetch: (next) => prefetched.push(next.map((it) => it.n)) });
  const out: number[] = [];
  for await (const v of stage(src.iterable, ctx)) out.push(v);
  assert.deepEqual(sizes, [4, 4, 2]);
  assert.deepEqual(out, [10, 20, 40, 50, 70]);
  assert.deepEqual(prefetched, [[4, 5, 6, 7], [8, 9]]);
  assert.ok(maxAhead <= 8, `pulled ${maxAhead} items past the batch being scored`);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [['i0', 'score_below_threshold'], ['i3', 'score_below_threshold'], ['i6', 'score_below_threshold'], ['i8', 'score_failed'], ['i9', 'score_failed']]);
  const st = ctx.stats.stage('score');
  assert.deepEqual([st.in, st.out, st.droppedTotal], [10, 5, 5]);
});

test('batchFilterStage keeps by verdict; compose and passThrough chain typed stages', async () => {
  const ctx = testContext();
  const evens = batchFilterStage<Item>('even', async (batch) => batch.map((it) => (it.n % 2 === 0 ? true : drop('odd'))), { batchSize: 3 });
  const stage = compose(evens, compose(passThrough<Item>(), mapStage<Item, number>('n', (it) => it.n)));
  const out: number[] = [];
  for await (const v of stage(countingSource(items(7)).iterable, ctx)) out.push(v);
  assert.deepEqual(out, [0, 2, 4, 6]);
  assert.equal(ctx.stats.stage('even').droppedByReason.odd, 3);
});
