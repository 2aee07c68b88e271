// Reasons that tell the truth with robots.txt on (the default): the address guard and name
// resolution come before anything touches the network, robots.txt included, and a robots.txt
// that could not be fetched names the network failure, against real loopback servers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher, type FetchFailure, type FetchResult } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig, type FetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';
import type { Resolver } from '../../../stages/fetch/pinned-lookup.ts';

let server: FaultServer;
before(async () => {
  server = await startFaultServer();
});
after(async () => {
  await server.close();
});

function robotsOn(over: Partial<FetchConfig> = {}): FetchConfig {
  return fetchConfig({ respect_robots_txt: true, retries: 1, backoff_base_ms: 5, backoff_max_ms: 10, connect_timeout_ms: 500, first_byte_timeout_ms: 500, ...over });
}

async function fetchWith(cfg: FetchConfig, url: string, resolve?: Resolver): Promise<FetchResult> {
  const fetcher = new Fetcher(cfg, resolve ? { resolve } : {});
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

test('a refused internal address with robots.txt on is blocked_address, and not even robots.txt is requested', async () => {
  const robotsBefore = server.hitsOf('/robots.txt').length;
  for (const url of [`${server.base}/ok.jpg`, `http://internal.test:${server.port}/ok.jpg`]) {
    const r = await fetchWith(robotsOn(), url, async () => ['127.0.0.1']);
    assertFailed(r, 'blocked_address');
    assert.match(r.detail, /127\.0\.0\.1 \(loopback\)/);
  }
  assert.equal(server.hitsOf('/robots.txt').length, robotsBefore);
});

test('an unresolvable name with robots.txt on is dns', async () => {
  const notFound: Resolver = async (host) => {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };
  const r = await fetchWith(robotsOn(), 'http://no-such-host.invalid/a.jpg', notFound);
  assertFailed(r, 'dns');
  assert.match(r.detail, /no-such-host\.invalid: ENOTFOUND/);
  // The system resolver too: .invalid never resolves (RFC 6761).
  assertFailed(await fetchWith(robotsOn({ retries: 0 }), 'http://no-such-host.invalid/a.jpg'), 'dns');
});

test('a robots.txt that cannot be fetched because the host refuses connections: connect, with robots.txt in the detail', async () => {
  const closed = await startFaultServer('127.0.0.4');
  const base = closed.base;
  await closed.close();
  const r = await fetchWith(robotsOn({ allow_private_addresses: true }), `${base}/a.jpg`);
  assertFailed(r, 'connect');
  assert.match(r.detail, /robots\.txt of http:\/\/127\.0\.0\.4:\d+ unreachable \(connect: ECONNREFUSED/);
});

test('a robots.txt answered 503 stays robots_txt_unreachable', async () => {
  const http = await import('node:http');
  const s = http.createServer((req, res) => {
    if (req.url === '/robots.txt') res.writeHead(503).end('busy');
    else res.writeHead(200, { 'content-type': 'image/jpeg' }).end(server.jpeg);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.5', () => r()));
  try {
    const port = (s.address() as import('node:net').AddressInfo).port;
    const r = await fetchWith(robotsOn({ allow_private_addresses: true, retries: 0 }), `http://127.0.0.5:${port}/a.jpg`);
    assertFailed(r, 'robots_txt_unreachable');
    assert.match(r.detail, /http_5xx: HTTP 503/);
  } finally {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});
