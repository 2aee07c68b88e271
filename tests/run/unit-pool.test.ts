// The executor's unit pool: which units are running at each step, driven by hand (each unit's
// run waits until the test ends it), so the assertions are on order, not on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runUnitPool } from '../../run/unit-pool.ts';

/** A pool over units a, b, c, ... whose runs the test ends and sends into their tail by hand. */
function drivenPool(count: number, places: number, maxTails: number, signal = new AbortController().signal) {
  const started: string[] = [];
  const controls = new Map<string, { tail: () => void; end: (goOn?: boolean) => void; fail: (e: Error) => void }>();
  const units = Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i));
  const done = runUnitPool(units, { places, maxTails, signal }, (unit, leaveEarly) => {
    started.push(unit);
    return new Promise<boolean>((resolve, reject) => controls.set(unit, { tail: leaveEarly, end: (goOn = true) => resolve(goOn), fail: reject }));
  });
  return { started, control: (u: string) => controls.get(u)!, done };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('unit pool: a unit in its tail lets the next one start; tails are bounded; everything settles', async () => {
  const pool = drivenPool(5, 1, 1);
  await settle();
  assert.deepEqual(pool.started, ['a'], 'one place: one unit');
  pool.control('a').tail();
  await settle();
  assert.deepEqual(pool.started, ['a', 'b'], 'a in its tail: b starts');
  pool.control('a').tail(); // idempotent
  pool.control('b').tail();
  await settle();
  assert.deepEqual(pool.started, ['a', 'b'], 'a second tail is over the bound of 1: c waits');
  pool.control('a').end();
  await settle();
  assert.deepEqual(pool.started, ['a', 'b', 'c'], 'a finished: c starts');
  pool.control('c').end(); // ends without a tail signal
  await settle();
  assert.deepEqual(pool.started, ['a', 'b', 'c', 'd']);
  pool.control('b').end();
  pool.control('d').end();
  await settle();
  pool.control('e').end();
  await pool.done;
  assert.deepEqual(pool.started, ['a', 'b', 'c', 'd', 'e']);
});

test('unit pool: two places, a unit stopping the run starts nothing more, the running ones settle', async () => {
  const pool = drivenPool(4, 2, 2);
  await settle();
  assert.deepEqual(pool.started, ['a', 'b']);
  pool.control('a').end(false); // interrupted inside a
  await settle();
  assert.deepEqual(pool.started, ['a', 'b'], 'no new unit after an interrupted one');
  let settled = false;
  void pool.done.then(() => (settled = true));
  await settle();
  assert.equal(settled, false, 'b is still running');
  pool.control('b').end();
  await pool.done;
  assert.deepEqual(pool.started, ['a', 'b']);
});

test('unit pool: an abort starts nothing new; an error in one unit rejects after the others settle', async () => {
  const abort = new AbortController();
  const pool = drivenPool(3, 1, 1, abort.signal);
  await settle();
  abort.abort();
  pool.control('a').tail();
  await settle();
  assert.deepEqual(pool.started, ['a']);
  pool.control('a').end();
  await pool.done;

  const failing = drivenPool(3, 2, 0);
  await settle();
  failing.control('a').fail(new Error('unit a broke'));
  await settle();
  assert.deepEqual(failing.started, ['a', 'b'], 'nothing starts after a failure');
  failing.control('b').end();
  await assert.rejects(failing.done, /unit a broke/);
});
