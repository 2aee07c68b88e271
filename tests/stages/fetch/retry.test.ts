import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, isHostFailure, isTransient, parseRetryAfter } from '../../../stages/fetch/retry.ts';

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

test('backoff has full jitter: uniform in [0, ceiling), the ceiling doubling per retry up to the max', () => {
  assert.equal(backoffDelay(0, 100, 10_000, () => 0), 0);
  assert.equal(backoffDelay(0, 100, 10_000, () => 0.5), 50);
  assert.equal(backoffDelay(3, 100, 10_000, () => 0.5), 400);
  assert.equal(backoffDelay(3, 100, 10_000, () => 0.999), 799.2);
  assert.equal(backoffDelay(20, 100, 10_000, () => 0.5), 5_000);
  const spread = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(2, 100, 10_000))));
  assert.ok(spread.size > 10, 'jitter spreads retries');
});

test('only transient failures are retried', () => {
  for (const r of ['timeout', 'connect', 'connection_reset', 'http_5xx', 'http_408', 'http_429', 'queue_timeout']) assert.ok(isTransient(r), r);
  for (const r of ['http_404', 'http_4xx', 'not_image', 'too_large', 'opt_out', 'blocked_address', 'redirect_loop', 'bad_url', 'circuit_open', 'retry_after_too_long', 'bad_encoding']) {
    assert.ok(!isTransient(r), r);
  }
});

test('only host-level failures feed the breaker', () => {
  for (const r of ['connect', 'tls', 'http_5xx']) assert.ok(isHostFailure(r), r);
  for (const r of ['timeout', 'queue_timeout', 'connection_reset', 'http_429', 'http_404', 'too_large', 'not_image', 'bad_encoding', 'dns']) assert.ok(!isHostFailure(r), r);
});
