import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, isTransient, parseRetryAfter } from '../../../stages/fetch/retry.ts';

test('Retry-After in delta-seconds and HTTP-date forms', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now), 0, 'a past date means now');
  assert.equal(parseRetryAfter('soon', now), null);
  assert.equal(parseRetryAfter('-5', now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
});

test('backoff doubles per retry, stays within [ceiling/2, ceiling], and is capped', () => {
  assert.equal(backoffDelay(0, 100, 10_000, () => 0), 50);
  assert.equal(backoffDelay(0, 100, 10_000, () => 1), 100);
  assert.equal(backoffDelay(3, 100, 10_000, () => 0), 400);
  assert.equal(backoffDelay(3, 100, 10_000, () => 1), 800);
  assert.equal(backoffDelay(20, 100, 10_000, () => 1), 10_000);
  const spread = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(2, 100, 10_000))));
  assert.ok(spread.size > 10, 'jitter spreads retries');
});

test('only transient failures are retried', () => {
  for (const r of ['timeout', 'connect', 'connection_reset', 'http_5xx', 'http_408', 'http_429']) assert.ok(isTransient(r), r);
  for (const r of ['http_404', 'http_4xx', 'not_image', 'too_large', 'opt_out', 'blocked_address', 'redirect_loop', 'bad_url', 'circuit_open']) {
    assert.ok(!isTransient(r), r);
  }
});
