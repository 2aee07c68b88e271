// Fault injection against a real HTTP server on 127.0.0.1: every fault ends as a kept image
// or a failure with the right reason, and nothing throws.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher, type FetchResult, type FetchFailure } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig, type FetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';

let server: FaultServer;
before(async () => {
  server = await startFaultServer();
});
after(async () => {
  await server.close();
});

/** Short timeouts and backoffs so the suite stays fast; loopback is allowed except where tested. */
function testConfig(over: Partial<FetchConfig> = {}): FetchConfig {
  return fetchConfig({
    allow_private_addresses: true,
    respect_robots_txt: false,
    connect_timeout_ms: 500,
    first_byte_timeout_ms: 300,
    total_timeout_ms: 3000,
    retries: 1,
    backoff_base_ms: 20,
    backoff_max_ms: 50,
    per_host_rate: 1000,
    per_host_burst: 1000,
    ...over,
  });
}

async function fetchOne(url: string, over: Partial<FetchConfig> = {}): Promise<FetchResult> {
  const fetcher = new Fetcher(testConfig(over));
  try {
    return await fetcher.fetch(url);
  } finally {
    await fetcher.close();
  }
}

function assertFailed(r: FetchResult, reason: string): asserts r is FetchFailure {
  assert.equal(r.ok, false, `expected ${reason}, got a kept image`);
  assert.equal((r as FetchFailure).reason, reason, (r as FetchFailure).detail);
}

test('a plain image is fetched with its bytes, type, status and consent', async () => {
  const r = await fetchOne(`${server.base}/ok.jpg`);
  assert.ok(r.ok);
  assert.deepEqual(Buffer.from(r.bytes), server.jpeg);
  assert.equal(r.mediaType, 'jpeg');
  assert.equal(r.status, 200);
  assert.equal(r.contentType, 'image/jpeg');
  assert.equal(r.consent, 'allowed');
  assert.equal(r.attempts, 1);
  assert.equal(r.host, '127.0.0.1');
  assert.equal(server.hitsOf('/ok.jpg').at(-1)!.userAgent, 'weft/0.1');
});

test('consent is "unchecked" when both consent checks are off', async () => {
  const r = await fetchOne(`${server.base}/ok.jpg`, { respect_x_robots_tag: false });
  assert.ok(r.ok);
  assert.equal(r.consent, 'unchecked');
});

test('404 fails as http_404 without a retry', async () => {
  const before = server.hitsOf('/404.jpg').length;
  const r = await fetchOne(`${server.base}/404.jpg`, { retries: 3 });
  assertFailed(r, 'http_404');
  assert.equal(r.attempts, 1);
  assert.equal(server.hitsOf('/404.jpg').length - before, 1);
});

test('500 then success is retried and kept', async () => {
  const r = await fetchOne(`${server.base}/500-then-ok.jpg`);
  assert.ok(r.ok);
  assert.equal(r.attempts, 2);
  assert.equal(server.hitsOf('/500-then-ok.jpg').length, 2);
});

test('429 with Retry-After: 1 is retried no sooner than a second later (server clock)', async () => {
  const r = await fetchOne(`${server.base}/429-then-ok.jpg?after=1`, { backoff_base_ms: 1, backoff_max_ms: 1 });
  assert.ok(r.ok);
  assert.equal(r.attempts, 2);
  const [first, second] = server.hitsOf('/429-then-ok.jpg');
  assert.ok(second.at - first.at >= 950, `second attempt came ${Math.round(second.at - first.at)} ms after the first`);
});

test('a Retry-After longer than max_retry_after_s is not waited for: retry_after_too_long', async () => {
  const started = performance.now();
  const r = await fetchOne(`${server.base}/always-429.jpg?after=30`, { retries: 3, max_retry_after_s: 0.1 });
  assertFailed(r, 'retry_after_too_long');
  assert.equal(r.attempts, 1);
  assert.match(r.detail, /HTTP 429 .* Retry-After 30 s, over max_retry_after_s 0.1; host paused 0.1 s/);
  assert.ok(performance.now() - started < 1000);
});

test('headers later than first_byte_timeout_ms fail as timeout', async () => {
  const started = performance.now();
  const r = await fetchOne(`${server.base}/slow-headers.jpg?ms=1500`, { retries: 0 });
  assertFailed(r, 'timeout');
  assert.match(r.detail, /300 ms waiting for response headers/);
  assert.ok(performance.now() - started < 1000, 'gave up well before the server answered');
});

test('a body that stalls longer than first_byte_timeout_ms fails as timeout', async () => {
  const r = await fetchOne(`${server.base}/stall-body.jpg`, { retries: 0 });
  assertFailed(r, 'timeout');
  assert.match(r.detail, /between body chunks/);
});

test('a body that trickles forever is cut by total_timeout_ms', async () => {
  const r = await fetchOne(`${server.base}/trickle.jpg`, { retries: 0, total_timeout_ms: 500, max_body_bytes: 10_000_000 });
  assertFailed(r, 'timeout');
  assert.match(r.detail, /total_timeout_ms/);
});

test('a connection reset mid-body is retried, then fails as connection_reset', async () => {
  const before = server.hitsOf('/reset-mid-body.jpg').length;
  const r = await fetchOne(`${server.base}/reset-mid-body.jpg`, { retries: 1 });
  assertFailed(r, 'connection_reset');
  assert.equal(r.attempts, 2);
  assert.equal(server.hitsOf('/reset-mid-body.jpg').length - before, 2);
});

test('a refused connection fails as connect', async () => {
  const closed = await startFaultServer();
  const url = `${closed.base}/ok.jpg`;
  await closed.close();
  const r = await fetchOne(url, { retries: 0 });
  assertFailed(r, 'connect');
});

test('redirects are followed; a loop fails as redirect_loop; a long chain as too_many_redirects', async () => {
  const ok = await fetchOne(`${server.base}/redirect-to-ok.jpg`);
  assert.ok(ok.ok);
  assert.equal(ok.finalUrl, `${server.base}/ok.jpg`);
  assertFailed(await fetchOne(`${server.base}/loop-a.jpg`), 'redirect_loop');
  const before = server.hitsOf('/chain').length;
  assertFailed(await fetchOne(`${server.base}/chain?n=0`, { max_redirects: 3 }), 'too_many_redirects');
  assert.equal(server.hitsOf('/chain').length - before, 4, 'the original request plus 3 redirect hops');
});

test('oversize bodies fail as too_large, by Content-Length and while streaming chunked', async () => {
  const declared = await fetchOne(`${server.base}/big-declared.jpg`, { max_body_bytes: 100_000 });
  assertFailed(declared, 'too_large');
  assert.match(declared.detail, /Content-Length/);
  const chunked = await fetchOne(`${server.base}/big-chunked.jpg`, { max_body_bytes: 100_000 });
  assertFailed(chunked, 'too_large');
  assert.match(chunked.detail, /streaming/);
});

test('HTML served as image/jpeg fails as not_image', async () => {
  const r = await fetchOne(`${server.base}/html-as-jpeg.jpg`);
  assertFailed(r, 'not_image');
  assert.match(r.detail, /DOCTYPE/);
});

test('X-Robots-Tag opt-outs: noai drops, another bot\'s scope keeps, our scope drops', async () => {
  const noai = await fetchOne(`${server.base}/x-robots.jpg?tag=noai`);
  assertFailed(noai, 'opt_out');
  assert.equal(noai.consent, 'opt_out_x_robots_tag');
  const other = await fetchOne(`${server.base}/x-robots.jpg?tag=${encodeURIComponent('otherbot: noai, noimageai')}`);
  assert.ok(other.ok);
  assert.equal(other.consent, 'allowed');
  const ours = await fetchOne(`${server.base}/x-robots.jpg?tag=noarchive&tag=${encodeURIComponent('weft: NoImageAI')}`);
  assertFailed(ours, 'opt_out');
  const ignored = await fetchOne(`${server.base}/x-robots.jpg?tag=noai`, { respect_x_robots_tag: false });
  assert.ok(ignored.ok);
});

test('robots.txt: disallowed paths fail as opt_out, the file is fetched once for many URLs', async () => {
  server.robotsTxt = [
    'User-agent: otherbot',
    'Disallow: /',
    '',
    'User-agent: weft',
    'Disallow: /private/',
    'Allow: /private/public',
  ].join('\n');
  const robotsBefore = server.hitsOf('/robots.txt').length;
  const fetcher = new Fetcher(testConfig({ respect_robots_txt: true }));
  try {
    const paths = ['/private/a.jpg', '/private/public-b.jpg', '/c.jpg', '/private/d.jpg', '/e.jpg', '/private/public-f.jpg'];
    const results = await Promise.all(paths.map((p) => fetcher.fetch(`${server.base}${p}`)));
    assert.deepEqual(results.map((r) => (r.ok ? 'kept' : r.reason)), ['opt_out', 'kept', 'kept', 'opt_out', 'kept', 'kept']);
    const denied = results[0] as FetchFailure;
    assert.equal(denied.consent, 'opt_out_robots_txt');
    assert.match(denied.detail, /robots\.txt.*disallows \/private\/a\.jpg for weft \(Disallow: \/private\/\)/);
    assert.equal(server.hitsOf('/robots.txt').length - robotsBefore, 1);
    assert.equal(server.hitsOf('/private/a.jpg').length, 0, 'a disallowed image is never requested');
    assert.equal(fetcher.robotsTxtFetches, 1);
  } finally {
    await fetcher.close();
    server.robotsTxt = null;
  }
});

test('the circuit breaker opens after repeated 503s, fails fast, and closes after a good probe', async () => {
  const fetcher = new Fetcher(testConfig({ retries: 0, breaker_failures: 3, breaker_cooldown_ms: 300 }));
  try {
    const before = server.hitsOf('/heal-later.jpg').length;
    const reasons: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await fetcher.fetch(`${server.base}/heal-later.jpg`);
      reasons.push(r.ok ? 'kept' : r.reason);
    }
    assert.deepEqual(reasons, ['http_5xx', 'http_5xx', 'http_5xx', 'circuit_open', 'circuit_open']);
    assert.equal(server.hitsOf('/heal-later.jpg').length - before, 3, 'an open breaker sends nothing');
    server.healed = true;
    await new Promise((r) => setTimeout(r, 350));
    const probe = await fetcher.fetch(`${server.base}/heal-later.jpg`);
    assert.ok(probe.ok, 'the half-open probe goes through');
    assert.ok((await fetcher.fetch(`${server.base}/heal-later.jpg`)).ok, 'and the breaker is closed again');
  } finally {
    await fetcher.close();
    server.healed = false;
  }
});

test('per-host rate limiting spaces requests (server clock)', async () => {
  const fetcher = new Fetcher(testConfig({ per_host_rate: 10, per_host_burst: 1 }));
  try {
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => fetcher.fetch(`${server.base}/rate-${i}.jpg`)));
    assert.ok(results.every((r) => r.ok));
    const times = server.hits.filter((h) => h.path.startsWith('/rate-')).map((h) => h.at).sort((a, b) => a - b);
    assert.equal(times.length, 5);
    // Four intervals of 100 ms make 400 ms; the first request may reach the server late (it
    // also opens the connection) while the last is on time, so allow 100 ms of such skew.
    // Unlimited, all five would arrive within a few ms.
    const span = times[4] - times[0];
    assert.ok(span >= 300, `five requests arrived within ${Math.round(span)} ms`);
  } finally {
    await fetcher.close();
  }
});

test('global and per-host concurrency limits hold (server-side count of requests in flight)', async () => {
  const cases: Array<[Partial<FetchConfig>, number]> = [
    [{ concurrency: 2, per_host_concurrency: 64 }, 2],
    [{ concurrency: 64, per_host_concurrency: 3 }, 3],
  ];
  for (const [over, limit] of cases) {
    const fetcher = new Fetcher(testConfig(over));
    try {
      server.maxActive = 0;
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => fetcher.fetch(`${server.base}/slow-headers.jpg?ms=60&i=${i}`)));
      assert.ok(results.every((r) => r.ok));
      assert.equal(server.maxActive, limit);
    } finally {
      await fetcher.close();
    }
  }
});

test('bad URLs fail as bad_url without any request', async () => {
  for (const url of ['ftp://example.com/a.jpg', 'not a url', '', 'file:///etc/passwd']) {
    assertFailed(await fetchOne(url), 'bad_url');
  }
});

test('a DNS failure fails as dns', async () => {
  const fetcher = new Fetcher(testConfig({ retries: 0 }), {
    resolve: async (host) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    },
  });
  try {
    assertFailed(await fetcher.fetch('http://no-such-host.test/a.jpg'), 'dns');
  } finally {
    await fetcher.close();
  }
});

test('a host is resolved once for many URLs; a failed resolution is asked again', async () => {
  const calls: string[] = [];
  let failNext = true;
  const fetcher = new Fetcher(testConfig({ retries: 0 }), {
    resolve: async (host) => {
      calls.push(host);
      if (host === 'flaky-dns.test' && failNext) {
        failNext = false;
        throw Object.assign(new Error('temporary failure'), { code: 'EAI_AGAIN' });
      }
      return ['127.0.0.1'];
    },
  });
  try {
    const urls = [0, 1, 2, 3].map((i) => `http://images.test:${server.port}/dns-${i}.jpg`);
    assert.ok((await Promise.all(urls.map((u) => fetcher.fetch(u)))).every((r) => r.ok));
    assert.deepEqual(calls, ['images.test']);
    assertFailed(await fetcher.fetch(`http://flaky-dns.test:${server.port}/a.jpg`), 'dns');
    assert.ok((await fetcher.fetch(`http://flaky-dns.test:${server.port}/a.jpg`)).ok);
    assert.deepEqual(calls, ['images.test', 'flaky-dns.test', 'flaky-dns.test']);
  } finally {
    await fetcher.close();
  }
});

test('an aborted run ends in-flight fetches as aborted, promptly', async () => {
  const fetcher = new Fetcher(testConfig({ first_byte_timeout_ms: 5000 }));
  try {
    const controller = new AbortController();
    const pending = fetcher.fetch(`${server.base}/slow-headers.jpg?ms=3000`, controller.signal);
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    assertFailed(await pending, 'aborted');
    assert.ok(performance.now() - started < 1000);
  } finally {
    await fetcher.close();
  }
});
