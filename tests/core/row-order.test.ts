// RowOrder: a section whose stages finish items out of order (a completion-order stage, then an
// ordered one) comes out in row order, with drops anywhere in it; what waits behind a slow row
// stays within the byte budget, and a slow row never idles the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drop, mapStage, pipe, type Stage, type Traceable } from '../../core/stage.ts';
import { RowOrder } from '../../core/row-order.ts';
import { mulberry32 } from '../../core/random.ts';
import { testContext } from '../helpers/context.ts';

interface Row extends Traceable {
  n: number;
  bytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function* rows(n: number): AsyncGenerator<Row> {
  for (let i = 0; i < n; i++) yield { id: `r${i}`, kind: 'k', source: 's', n: i, bytes: 1000 };
}

for (const seed of [1, 2, 3]) {
  test(`RowOrder seed ${seed}: random delays and drops in two stages, row order out, every row accounted for`, async () => {
    const random = mulberry32(seed);
    const n = 300;
    const delay = Array.from({ length: n }, () => (random() < 0.02 ? 150 : random() * 4));
    const dropFirst = new Set(Array.from({ length: n }, (_, i) => i).filter(() => random() < 0.1));
    const dropSecond = new Set(Array.from({ length: n }, (_, i) => i).filter(() => random() < 0.1));
    const order = new RowOrder<Row>(1e9, (r) => r.bytes);
    const first = mapStage<Row, Row>('first', async (r) => {
      await sleep(delay[r.n]);
      return dropFirst.has(r.n) ? drop('first_drop') : r;
    }, { concurrency: 16, completionOrder: order });
    const second = mapStage<Row, Row>('second', async (r) => (dropSecond.has(r.n) ? drop('second_drop') : r), { concurrency: 4 });
    const ctx = testContext();
    const out: number[] = [];
    for await (const r of pipe(rows(n), ctx, order.section<Row>((input, c) => second(first(input, c), c)))) out.push(r.n);
    const expected = Array.from({ length: n }, (_, i) => i).filter((i) => !dropFirst.has(i) && !dropSecond.has(i));
    assert.deepEqual(out, expected);
    assert.equal(ctx.rejects.rows.length, n - expected.length);
  });
}

test('RowOrder: a slow row holds only its own slot; the rows behind it wait within the byte budget', async () => {
  const budget = 20 * (1000 + 1024);
  const order = new RowOrder<Row>(budget, (r) => r.bytes);
  let finishedWhileSlow = 0;
  let slowRunning = false;
  const stage: Stage<Row, Row> = mapStage<Row, Row>('fetchish', async (r) => {
    if (r.n === 3) {
      slowRunning = true;
      await sleep(300);
      slowRunning = false;
    } else {
      await sleep(1);
      if (slowRunning) finishedWhileSlow++;
    }
    return r;
  }, { concurrency: 4, completionOrder: order });
  const ctx = testContext();
  const out: number[] = [];
  for await (const r of order.section<Row>(stage)(rows(200), ctx)) out.push(r.n);
  assert.deepEqual(out, Array.from({ length: 200 }, (_, i) => i));
  assert.ok(finishedWhileSlow >= 18, `${finishedWhileSlow} rows finished while row 3 was slow`);
  assert.ok(order.peakBlockedBytes <= budget + 4 * (1000 + 1024), `${order.peakBlockedBytes} bytes waited (budget ${budget})`);
});

test('RowOrder with per-key admission and a tight budget: row order out, no key over its limit, no stall', async () => {
  const random = mulberry32(7);
  const n = 400;
  const keyOf = (r: Row) => `k${r.n % 5 === 0 ? 0 : 1 + (r.n % 3)}`; // key k0 takes every fifth row
  const delay = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 20 : random() * 3));
  const budget = 6 * (1000 + 1024);
  const order = new RowOrder<Row>(budget, (r) => r.bytes);
  const runningOf = new Map<string, number>();
  let maxPerKey = 0;
  const stage = mapStage<Row, Row>('fetchish', async (r) => {
    const k = keyOf(r);
    runningOf.set(k, (runningOf.get(k) ?? 0) + 1);
    maxPerKey = Math.max(maxPerKey, runningOf.get(k)!);
    await sleep(delay[r.n]);
    runningOf.set(k, runningOf.get(k)! - 1);
    return r.n % 17 === 0 ? drop('odd_one') : r;
  }, { concurrency: 8, completionOrder: order, admission: { keyOf, perKey: 2, maxWaitingBytes: 20 * 1024, sizeOf: () => 0 } });
  const ctx = testContext();
  const out: number[] = [];
  for await (const r of order.section<Row>(stage)(rows(n), ctx)) out.push(r.n);
  assert.deepEqual(out, Array.from({ length: n }, (_, i) => i).filter((i) => i % 17 !== 0));
  assert.equal(maxPerKey, 2, 'no key ran more than its two places');
  assert.ok(order.peakBlockedBytes <= budget + 8 * (1000 + 1024), `${order.peakBlockedBytes} bytes waited (budget ${budget})`);
});
