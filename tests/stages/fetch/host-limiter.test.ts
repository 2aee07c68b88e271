// Token bucket, circuit breaker, semaphore and their composition per host, on a fake clock
// where the logic is about time, and on the real clock for the waiting itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../../stages/fetch/token-bucket.ts';
import { CircuitBreaker } from '../../../stages/fetch/circuit-breaker.ts';
import { Semaphore } from '../../../stages/fetch/semaphore.ts';
import { HostLimiter } from '../../../stages/fetch/host-limiter.ts';

test('token bucket: a burst goes at once, then one per interval; a pause holds everything', () => {
  let now = 1000;
  const bucket = new TokenBucket(10, 3, () => now);
  assert.deepEqual([0, 0, 0, 0, 0].map(() => bucket.reserve()), [0, 0, 0, 100, 200]);
  now += 1000; // fully refilled
  assert.equal(bucket.reserve(), 0);
  bucket.pauseUntil(now + 500);
  assert.equal(bucket.reserve(), 500);
  assert.equal(bucket.reserve(), 600, 'no burst right after a pause');
});

test('token bucket: a pause holds even when the rate changes during it', () => {
  let now = 0;
  const bucket = new TokenBucket(1000, 1000, () => now);
  bucket.pauseUntil(500);
  bucket.setRate(500); // a wider burst tolerance must not undo the pause
  assert.ok(bucket.reserve() >= 500);
  now = 600;
  bucket.setRate(2000);
  assert.equal(bucket.ratePerSecond, 2000);
  assert.ok(!bucket.idle() || bucket.reserve() === 0);
});

test('token bucket: take() really waits', async () => {
  const bucket = new TokenBucket(20, 1);
  const started = performance.now();
  for (let i = 0; i < 4; i++) await bucket.take();
  assert.ok(performance.now() - started >= 140, `${performance.now() - started} ms`);
});

test('circuit breaker: opens after N failures, one probe after cooldown, closes on success', () => {
  let now = 0;
  const breaker = new CircuitBreaker(3, 1000, () => now);
  for (let i = 0; i < 3; i++) breaker.admit()!('failure');
  assert.equal(breaker.admit(), null, 'open: fail fast');
  now = 1001;
  const probe = breaker.admit();
  assert.ok(probe, 'half-open lets one probe through');
  assert.equal(breaker.admit(), null, 'only one probe at a time');
  probe('failure');
  assert.equal(breaker.admit(), null, 'a failed probe re-opens');
  now = 2002;
  breaker.admit()!('success');
  assert.ok(breaker.admit(), 'a good probe closes');
  assert.ok(breaker.idle());
});

test('circuit breaker: a success between failures resets the count; neutral changes nothing', () => {
  const breaker = new CircuitBreaker(2, 1000, () => 0);
  breaker.admit()!('failure');
  breaker.admit()!('success');
  breaker.admit()!('failure');
  breaker.admit()!('neutral');
  assert.ok(breaker.admit(), 'still closed');
});

test('semaphore: permits pass to waiters in order; an aborted waiter leaks nothing', async () => {
  const sem = new Semaphore(1);
  const order: string[] = [];
  const r1 = await sem.acquire();
  const controller = new AbortController();
  const aborted = sem.acquire(controller.signal).then(() => order.push('aborted-got-it'), () => order.push('aborted'));
  const second = sem.acquire().then((release) => (order.push('second'), release));
  controller.abort();
  await aborted;
  r1();
  r1(); // idempotent
  (await second)();
  assert.deepEqual(order, ['aborted', 'second']);
  assert.ok(sem.idle());
});

test('host limiter: hosts are independent, and idle hosts are forgotten', async () => {
  const limiter = new HostLimiter({ perHostConcurrency: 1, ratePerSecond: 1e6, burst: 10, breakerFailures: 1, breakerCooldownMs: 60_000 });
  const a = await limiter.acquire('a.test');
  const b = await limiter.acquire('b.test'); // not blocked by a.test's slot
  const report = limiter.admit('a.test')!;
  report('failure');
  assert.equal(limiter.admit('a.test'), null, 'a.test breaker open');
  const bReport = limiter.admit('b.test');
  assert.ok(bReport, 'b.test unaffected');
  bReport('neutral');
  a();
  b();
  await new Promise((r) => setTimeout(r, 5));
  limiter.admit('b.test')!('success');
  assert.equal(limiter.size, 1, 'only the host with an open breaker keeps state');
});
