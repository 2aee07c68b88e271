// What counts against a host, against a real loopback server: queue waits never do (and have
// their own bound), a URL's own timeouts never open the breaker, refused connects and 5xx do,
// Retry-After is honoured up to its cap without emptying the host, and the adaptive rate
// follows the host's answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Fetcher, type FetchFailure, type FetchResult } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig, type FetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';

let server: FaultServer;
before(async () => {
  server = await startFaultServer();
});
after(async () => {
  await server.close();
});

function testConfig(over: Partial<FetchConfig> = {}): FetchConfig {
  return fetchConfig({
    allow_private_addresses: true,
    respect_robots_txt: false,
    connect_timeout_ms: 500,
    first_byte_timeout_ms: 300,
    total_timeout_ms: 3000,
    retries: 0,
    backoff_base_ms: 10,
    backoff_max_ms: 20,
    per_host_rate: 1000,
    per_host_burst: 1000,
    ...over,
  });
}

async function withFetcher<T>(over: Partial<FetchConfig>, fn: (f: Fetcher) => Promise<T>): Promise<T> {
  const fetcher = new Fetcher(testConfig(over));
  try {
    return await fn(fetcher);
  } finally {
    await fetcher.close();
  }
}

function reasonOf(r: FetchResult): string {
  return r.ok ? 'kept' : r.reason;
}

function assertFailed(r: FetchResult, reason: string): asserts r is FetchFailure {
  assert.equal(r.ok, false, `expected ${reason}, got a kept image`);
  assert.equal((r as FetchFailure).reason, reason, (r as FetchFailure).detail);
}

test('a queue wait far longer than total_timeout_ms on a healthy host: everything is kept, in one attempt each', async () => {
  // One slot and 2 requests/s: the last of 6 instant URLs waits about 2.5 s for its token, three
  // times total_timeout_ms. Each request itself takes a few ms; the timeouts leave it 800.
  const tag = `q${Date.now()}`;
  const totalMs = 800;
  const results = await withFetcher({ per_host_concurrency: 1, per_host_rate: 2, per_host_burst: 1, adaptive_rate: false, total_timeout_ms: totalMs, first_byte_timeout_ms: totalMs, breaker_failures: 1 }, (f) =>
    Promise.all(Array.from({ length: 6 }, (_, i) => f.fetch(`${server.base}/ok.jpg?${tag}=${i}`))),
  );
  assert.deepEqual(results.map(reasonOf), Array(6).fill('kept'));
  assert.ok(results.every((r) => r.attempts === 1 && r.requests === 1));
  // The rate alone spaces the six requests 500 ms apart: the last waits at least 2.5 s.
  assert.ok(Math.max(...results.map((r) => r.ms)) > 2 * totalMs, 'the last URLs really did queue for longer than total_timeout_ms');
});

test('max_queue_ms bounds the wait: queue_timeout, nothing sent, and the breaker hears nothing', async () => {
  await withFetcher({ per_host_concurrency: 1, max_queue_ms: 100, first_byte_timeout_ms: 30_000, total_timeout_ms: 60_000, breaker_failures: 1 }, async (f) => {
    const tag = `mq${Date.now()}`;
    // The host's one slot is held by a request the server answers only when told to.
    const slow = f.fetch(`${server.base}/held.jpg?${tag}`);
    while (server.held === 0) await new Promise((r) => setTimeout(r, 5));
    const queued = await Promise.all([0, 1, 2].map((i) => f.fetch(`${server.base}/queued-${tag}-${i}.jpg`)));
    server.releaseHeld();
    for (const r of queued) {
      assertFailed(r, 'queue_timeout');
      assert.match(r.detail, /waited \d+ ms for a host slot and rate token \(max_queue_ms 100\); nothing was sent/);
      assert.equal(r.requests, 0);
    }
    assert.equal(server.hits.filter((h) => h.path.includes(`queued-${tag}`)).length, 0);
    assert.ok((await slow).ok);
    assert.ok((await f.fetch(`${server.base}/after-${tag}.jpg`)).ok, 'breaker_failures 1, yet the host is not open');
  });
});

test("a URL's own timeouts and resets never open the breaker; the host's other URLs are kept", async () => {
  await withFetcher({ breaker_failures: 2, retries: 1 }, async (f) => {
    const tag = `own${Date.now()}`;
    const bad = await Promise.all([
      f.fetch(`${server.base}/slow-headers.jpg?ms=1000&${tag}=1`),
      f.fetch(`${server.base}/slow-headers.jpg?ms=1000&${tag}=2`),
      f.fetch(`${server.base}/stall-body.jpg?${tag}`),
      f.fetch(`${server.base}/reset-mid-body.jpg?${tag}`),
    ]);
    assert.deepEqual(bad.map(reasonOf), ['timeout', 'timeout', 'timeout', 'connection_reset']);
    assert.ok(bad.every((r) => r.attempts === 2), 'each retried once, not refused by a breaker');
    assert.ok((await f.fetch(`${server.base}/ok.jpg?${tag}`)).ok);
  });
});

test('refused connects open the breaker; a retry it refuses reports the URL\'s own failure', async () => {
  const closed = await startFaultServer('127.0.0.3');
  const base = closed.base;
  await closed.close();
  await withFetcher({ breaker_failures: 1, retries: 2, breaker_cooldown_ms: 60_000 }, async (f) => {
    const first = await f.fetch(`${base}/a.jpg`);
    assertFailed(first, 'connect');
    assert.equal(first.attempts, 1, 'the retry was refused, not sent');
    assert.match(first.detail, /ECONNREFUSED.*; retry refused: 127\.0\.0\.3: breaker open for another \d+ ms after 1 consecutive host failures \(last: connect at http:\/\/127\.0\.0\.3/);
    const next = await f.fetch(`${base}/b.jpg`);
    assertFailed(next, 'circuit_open');
    assert.equal(next.requests, 0);
  });
});

test('Retry-After 3600 on one URL: that URL is retry_after_too_long, the host pauses only for the cap, its other URLs are kept', async () => {
  const tag = `ra${Date.now()}`;
  await withFetcher({ max_retry_after_s: 0.4, retries: 2, total_timeout_ms: 200, per_host_concurrency: 4 }, async (f) => {
    const started = performance.now();
    const asker = await f.fetch(`${server.base}/503-retry-after.jpg?after=3600&${tag}`);
    assertFailed(asker, 'retry_after_too_long');
    assert.match(asker.detail, /HTTP 503 .* Retry-After 3600 s, over max_retry_after_s 0.4; host paused 0.4 s/);
    const others = await Promise.all(Array.from({ length: 30 }, (_, i) => f.fetch(`${server.base}/ra-${tag}-${i}.jpg`)));
    assert.deepEqual(others.map(reasonOf), Array(30).fill('kept'));
    const hits = server.hits.filter((h) => h.path.startsWith(`/ra-${tag}`));
    assert.equal(hits.length, 30);
    const firstOther = Math.min(...hits.map((h) => h.at)) - started;
    assert.ok(firstOther >= 350, `the host was paused (first other request after ${Math.round(firstOther)} ms)`);
  });
});

test('Retry-After within the cap is waited for and the URL retried; the host is paused meanwhile', async () => {
  const tag = `rw${Date.now()}`;
  await withFetcher({ max_retry_after_s: 5, retries: 1, total_timeout_ms: 200 }, async (f) => {
    const [asker, other] = await Promise.all([
      f.fetch(`${server.base}/429-then-ok.jpg?after=1&${tag}`),
      new Promise((r) => setTimeout(r, 100)).then(() => f.fetch(`${server.base}/rw-${tag}.jpg`)),
    ]);
    assert.ok(asker.ok && asker.attempts === 2);
    assert.ok(other.ok && other.attempts === 1, 'a paused host delays, never fails, the others');
    const [first, second] = server.hitsOf('/429-then-ok.jpg').slice(-2);
    const otherHit = server.hits.find((h) => h.path === `/rw-${tag}.jpg`)!;
    assert.ok(second.at - first.at >= 950);
    assert.ok(otherHit.at - first.at >= 950, 'the other URL waited for the pause');
  });
});

test('the adaptive rate climbs on success towards per_host_rate_max and halves on 429', async () => {
  const span = async (adaptive: boolean) => {
    const tag = `ar${adaptive}${Date.now()}`;
    // A host with nothing in flight may forget a raised rate (it is earned again quickly). A slow
    // request holds the host in use until the rates are read, so a loaded machine, where the last
    // response lands after the bucket refilled, reads the same as a quiet one.
    const holdTimeoutMs = 60_000;
    return withFetcher({ per_host_rate: 20, per_host_rate_max: 80, per_host_burst: 1, adaptive_rate: adaptive, first_byte_timeout_ms: holdTimeoutMs, total_timeout_ms: holdTimeoutMs }, async (f) => {
      const hold = new AbortController();
      const holding = f.fetch(`${server.base}/slow-headers.jpg?ms=${holdTimeoutMs}&${tag}`, hold.signal);
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => f.fetch(`${server.base}/${tag}-${i}.jpg`)));
      assert.ok(results.every((r) => r.ok));
      const times = server.hits.filter((h) => h.path.startsWith(`/${tag}-`)).map((h) => h.at);
      const rateAfter = f.hostRate('127.0.0.1');
      let rateAfter429 = rateAfter;
      if (adaptive) {
        await f.fetch(`${server.base}/always-429.jpg?after=0&${tag}`);
        rateAfter429 = f.hostRate('127.0.0.1');
      }
      hold.abort();
      await holding;
      return { span: Math.max(...times) - Math.min(...times), rateAfter, rateAfter429 };
    });
  };
  const fixed = await span(false);
  const adaptive = await span(true);
  assert.equal(fixed.rateAfter, 20);
  assert.equal(adaptive.rateAfter, 20 + 30 * 1, 'each success adds per_host_rate / 20');
  assert.equal(adaptive.rateAfter429, 25, 'a 429 halves it');
  assert.ok(fixed.span >= 29 * 50 * 0.9, `fixed rate: ${Math.round(fixed.span)} ms for 30 requests`);
  assert.ok(adaptive.span < fixed.span * 0.8, `adaptive ${Math.round(adaptive.span)} ms vs fixed ${Math.round(fixed.span)} ms`);
});

test('many concurrent fetches backing off on one shared signal add no listeners to it (no MaxListenersExceededWarning)', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    // Timeouts far above the test's own waits: on a loaded machine a 503 may take longer than the
    // default test timeout to arrive, and a timeout is not what this test is about.
    await withFetcher({ retries: 1, backoff_base_ms: 100, backoff_max_ms: 100, per_host_concurrency: 64, breaker_failures: 1000, first_byte_timeout_ms: 30_000, total_timeout_ms: 60_000 }, async (f) => {
      const shared = new AbortController().signal;
      const pending = Array.from({ length: 30 }, (_, i) => f.fetch(`${server.base}/always-503.jpg?shared=${i}`, shared));
      await new Promise((r) => setTimeout(r, 60));
      assert.ok(EventEmitter.getEventListeners(shared, 'abort').length <= 1, `${EventEmitter.getEventListeners(shared, 'abort').length} listeners on the shared signal`);
      const results = await Promise.all(pending);
      assert.deepEqual(results.filter((r) => r.ok || r.reason !== 'http_5xx' || r.attempts !== 2).map((r) => (r.ok ? 'kept' : `${r.reason} after ${r.attempts}`)), [], 'every fetch fails http_5xx after 2 attempts');
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), []);
  } finally {
    process.off('warning', onWarning);
  }
});
