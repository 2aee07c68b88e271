// byteWindowPool: items finish out of order, the output keeps input order, a slow item never
// idles the other slots, and the results waiting behind it stay within the byte budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteWindowPool, mapStage, orderedPool } from '../../core/stage.ts';
import { testContext } from '../helpers/context.ts';

async function* range(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a pool over 0..n-1 where item `slow` takes `slowMs` and the rest `fastMs`; records what ran when. */
async function runPool(pool: 'byte' | 'ordered', n: number, slow: number[], opts: { concurrency: number; budget?: number; itemBytes?: number; fastMs?: number; slowMs?: number }) {
  let running = 0;
  let maxRunning = 0;
  let finishedWhileSlowRan = 0;
  let slowRunning = 0;
  const started: number[] = [];
  const start = async (i: number) => {
    started.push(i);
    running++;
    maxRunning = Math.max(maxRunning, running);
    const isSlow = slow.includes(i);
    if (isSlow) slowRunning++;
    await sleep(isSlow ? (opts.slowMs ?? 300) : (opts.fastMs ?? 2));
    if (isSlow) slowRunning--;
    else if (slowRunning > 0) finishedWhileSlowRan++;
    running--;
    return i;
  };
  const controller = new AbortController();
  const out: number[] = [];
  const gen =
    pool === 'byte'
      ? byteWindowPool(range(n), opts.concurrency, controller.signal, start, (i) => (i % 7 === 3 ? undefined : i), { maxBufferedBytes: opts.budget ?? 1e9, sizeOf: () => opts.itemBytes ?? 0 })
      : orderedPool(range(n), opts.concurrency, controller.signal, start, (i) => (i % 7 === 3 ? undefined : i));
  for await (const i of gen) out.push(i);
  return { out, maxRunning, finishedWhileSlowRan, started };
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 3);

for (const [n, slow, concurrency] of [[200, [5], 8], [300, [0, 150, 151], 16], [120, [119], 4]] as const) {
  test(`byteWindowPool: n=${n}, slow ${slow.join(',')}, concurrency ${concurrency}: input order out, the other slots keep working`, async () => {
    const r = await runPool('byte', n, [...slow], { concurrency });
    assert.deepEqual(r.out, expected(n));
    assert.ok(r.maxRunning <= concurrency);
    // Every fast item after the first slow one could finish while it ran: nearly all of them did.
    const after = n - Math.min(...slow) - slow.length;
    if (after > 50) assert.ok(r.finishedWhileSlowRan >= Math.min(after, 40), `only ${r.finishedWhileSlowRan} items finished while a slow one ran`);
  });
}

test('orderedPool, by contrast, stalls behind a slow item after a window of 2 x concurrency', async () => {
  const r = await runPool('ordered', 200, [5], { concurrency: 8 });
  assert.deepEqual(r.out, expected(200));
  assert.ok(r.finishedWhileSlowRan <= 2 * 8 + 5, `${r.finishedWhileSlowRan}`);
});

test('byteWindowPool: results waiting behind a slow item stay within the byte budget', async () => {
  const itemBytes = 10_000;
  const budget = 50 * (itemBytes + 1024);
  const r = await runPool('byte', 400, [2], { concurrency: 4, budget, itemBytes, slowMs: 400 });
  assert.deepEqual(r.out, expected(400));
  // While item 2 ran, at most the budget's worth of later items (plus those in flight) started.
  const startedBeforeSlowDone = r.finishedWhileSlowRan;
  assert.ok(startedBeforeSlowDone >= 45 && startedBeforeSlowDone <= 50 + 4, `${startedBeforeSlowDone} finished behind the slow item`);
});

test('byteWindowPool: an error surfaces in order; an abort stops pulling and lets in-flight items settle', async () => {
  const failing = byteWindowPool(range(10), 3, new AbortController().signal, async (i) => {
    await sleep(i === 2 ? 30 : 1);
    if (i === 2) throw new Error('boom at 2');
    return i;
  }, (i) => i, { maxBufferedBytes: 1e6, sizeOf: () => 0 });
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const i of failing) seen.push(i);
  }, /boom at 2/);
  assert.deepEqual(seen, [0, 1]);

  const controller = new AbortController();
  const started: number[] = [];
  const out: number[] = [];
  for await (const i of byteWindowPool(range(1000), 4, controller.signal, async (i) => {
    started.push(i);
    await sleep(5);
    return i;
  }, (i) => i, { maxBufferedBytes: 1e6, sizeOf: () => 0 })) {
    out.push(i);
    if (i === 10) controller.abort();
  }
  assert.ok(started.length < 30);
  assert.deepEqual(out, started.slice().sort((a, b) => a - b));
});

test('mapStage with reorderBufferBytes keeps drops, counts and order like the ordered form', async () => {
  const ctx = testContext();
  const items = Array.from({ length: 60 }, (_, i) => ({ id: `i${i}`, kind: 'k', source: 's', n: i }));
  const stage = mapStage<(typeof items)[number], { id: string; n: number }>(
    'slowish',
    async (it) => {
      await sleep(it.n === 1 ? 100 : 1);
      return it.n % 5 === 0 ? { drop: true as const, reason: 'five', detail: '' } : { id: it.id, n: it.n };
    },
    { concurrency: 6, reorderBufferBytes: 1e6, sizeOf: () => 100 },
  );
  const out: number[] = [];
  for await (const o of stage((async function* () { yield* items; })(), ctx)) out.push(o.n);
  assert.deepEqual(out, items.map((i) => i.n).filter((n) => n % 5 !== 0));
  const s = ctx.stats.stage('slowish');
  assert.equal(s.in, 60);
  assert.equal(s.out, 48);
  assert.equal(s.droppedByReason.five, 12);
});
