// robots.txt parsing and matching (RFC 9309), and the cache's availability rules against a
// real server: 4xx allows everything, 5xx disallows everything, each origin is fetched once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseRobotsTxt, robotsVerdict, rulesFor, RobotsCache, type RobotsFetchOutcome } from '../../../stages/fetch/robots-txt.ts';
import { Fetcher, type FetchFailure } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer } from '../../helpers/fault-server.ts';

const allowed = (text: string, token: string, path: string) => robotsVerdict(rulesFor(parseRobotsTxt(text), token), path).allowed;

test('the group for our product token wins over *, matched case-insensitively', () => {
  const text = 'User-agent: *\nDisallow: /\n\nUser-agent: WEFT\nDisallow: /private\n';
  assert.equal(allowed(text, 'weft', '/a.jpg'), true);
  assert.equal(allowed(text, 'weft', '/private/a.jpg'), false);
  assert.equal(allowed(text, 'otherbot', '/a.jpg'), false);
});

test('consecutive user-agent lines share a group; groups for the same agent merge', () => {
  const text = [
    'User-agent: a', 'User-agent: weft/2.0', 'Disallow: /x', '',
    'User-agent: b', 'Disallow: /y', '',
    'User-agent: weft', 'Disallow: /z',
  ].join('\n');
  assert.equal(allowed(text, 'weft', '/x1'), false);
  assert.equal(allowed(text, 'weft', '/z1'), false);
  assert.equal(allowed(text, 'weft', '/y1'), true);
  assert.equal(allowed(text, 'a', '/x1'), false);
});

test('longest match wins, Allow wins a tie, wildcards and $ anchor work', () => {
  const text = [
    'User-agent: *',
    'Disallow: /img/',
    'Allow: /img/public/',
    'Disallow: /*.gif$',
    'Disallow: /tie',
    'Allow: /tie',
    'Disallow: /q?*secret',
    'Disallow:',
  ].join('\n');
  assert.equal(allowed(text, 'weft', '/img/a.jpg'), false);
  assert.equal(allowed(text, 'weft', '/img/public/a.jpg'), true);
  assert.equal(allowed(text, 'weft', '/a/b.gif'), false);
  assert.equal(allowed(text, 'weft', '/a/b.gif?x=1'), true, '$ anchors at the end');
  assert.equal(allowed(text, 'weft', '/tie'), true);
  assert.equal(allowed(text, 'weft', '/q?a=secret'), false);
  assert.equal(allowed(text, 'weft', '/other'), true);
  assert.equal(allowed('User-agent: *\nDisallow: /\n', 'weft', '/robots.txt'), true, 'robots.txt itself is always allowed');
});

test('comments, CRLF, stray lines and rules before any group are ignored; no rules allows all', () => {
  const text = 'Disallow: /early\r\n# comment\r\nSitemap: http://x/s.xml\r\nUser-agent: * # all\r\nCrawl-delay: 5\r\nDisallow: /late # why\r\n';
  assert.equal(allowed(text, 'weft', '/early'), true);
  assert.equal(allowed(text, 'weft', '/late/a'), false);
  assert.equal(allowed('', 'weft', '/a'), true);
});

test('non-ASCII patterns match percent-encoded URL paths', () => {
  assert.equal(allowed('User-agent: *\nDisallow: /bilder/größe\n', 'weft', '/bilder/gr%C3%B6%C3%9Fe.jpg'), false);
  assert.equal(allowed('User-agent: *\nDisallow: /a%3cb\n', 'weft', '/a%3Cb'), false);
});

test('the cache fetches each origin once, shared by concurrent callers', async () => {
  let fetches = 0;
  const cache = new RobotsCache('weft', async (): Promise<RobotsFetchOutcome> => {
    fetches += 1;
    await new Promise((r) => setTimeout(r, 20));
    return { kind: 'found', text: 'User-agent: *\nDisallow: /no' };
  });
  const urls = ['http://a.test/no/1', 'http://a.test/yes', 'http://a.test/no/2', 'http://b.test/no'];
  const verdicts = await Promise.all(urls.map((u) => cache.check(new URL(u))));
  assert.deepEqual(verdicts.map((v) => v.verdict), ['disallowed', 'allowed', 'disallowed', 'disallowed']);
  assert.equal(fetches, 2);
});

test('RFC 9309 availability over HTTP: 404 allows all, 500 is "complete disallow", both cached', async () => {
  let robotsStatus = 404;
  let robotsHits = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/robots.txt') {
      robotsHits += 1;
      res.writeHead(robotsStatus).end('nope');
      return;
    }
    res.writeHead(200, { 'content-type': 'image/gif' }).end(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cfg = fetchConfig({ allow_private_addresses: true, retries: 1, backoff_base_ms: 5, backoff_max_ms: 10, per_host_rate: 1000, per_host_burst: 1000 });
  const fetcher = new Fetcher(cfg);
  try {
    const a = await fetcher.fetch(`${base}/a.gif`);
    assert.ok(a.ok);
    assert.equal(a.mediaType, 'gif');
    assert.ok((await fetcher.fetch(`${base}/b.gif`)).ok);
    assert.equal(robotsHits, 1);
    await fetcher.close();

    robotsStatus = 500;
    robotsHits = 0;
    const strict = new Fetcher(cfg);
    try {
      const r = await strict.fetch(`${base}/a.gif`);
      assert.equal(r.ok, false);
      assert.equal((r as FetchFailure).reason, 'robots_txt_unreachable');
      assert.match((r as FetchFailure).detail, /complete disallow/);
      assert.equal(((await strict.fetch(`${base}/b.gif`)) as FetchFailure).reason, 'robots_txt_unreachable');
      assert.equal(robotsHits, 2, 'one fetch, retried once as a 5xx, then cached');
    } finally {
      await strict.close();
    }
  } finally {
    await fetcher.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('robots.txt requests carry our User-Agent and obey the same politeness', async () => {
  const server = await startFaultServer();
  server.robotsTxt = 'User-agent: weft\nDisallow: /\n';
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, user_agent: 'weft/9.9 (research crawl)' }));
  try {
    const r = await fetcher.fetch(`${server.base}/ok.jpg`);
    assert.equal(r.ok, false);
    assert.equal((r as FetchFailure).reason, 'opt_out');
    assert.equal(server.hitsOf('/robots.txt')[0].userAgent, 'weft/9.9 (research crawl)');
    assert.equal(server.hitsOf('/ok.jpg').length, 0);
  } finally {
    await fetcher.close();
    await server.close();
  }
});
