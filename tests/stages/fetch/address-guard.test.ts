// The address guard: which addresses are refused, and that the fetcher refuses them (on the
// first hop and on every redirect) without any request reaching the server behind them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blockedCategory, inAnyRange, isCidr } from '../../../stages/fetch/address-guard.ts';
import { Fetcher, type FetchFailure, type FetchResult } from '../../../stages/fetch/fetcher.ts';
import { parseFetchUrl, ipLiteralOf } from '../../../stages/fetch/url-normalise.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';

test('non-public IPv4 and IPv6 addresses are refused under the right category', () => {
  const cases: Array<[string, string | null]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', null],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.100.100.200', 'metadata'],
    ['100.128.0.1', null],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['8.8.8.8', null],
    ['93.184.216.34', null],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', null],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:c0a8:0101::1', 'private'], // 6to4 of 192.168.1.1
    ['2001:db8::1', 'reserved'],
    ['2606:4700:4700::1111', null],
    ['not-an-ip', 'reserved'],
  ];
  for (const [address, expected] of cases) assert.equal(blockedCategory(address), expected, address);
});

test('numeric host spellings are canonicalised to the address they mean', () => {
  const host = (u: string) => {
    const p = parseFetchUrl(u);
    assert.ok(p.ok, u);
    return ipLiteralOf(p.url);
  };
  assert.equal(host('http://2130706433/a.jpg'), '127.0.0.1');
  assert.equal(host('http://0x7f000001/a.jpg'), '127.0.0.1');
  assert.equal(host('http://0x7f.1/a.jpg'), '127.0.0.1');
  assert.equal(host('http://017700000001/a.jpg'), '127.0.0.1');
  assert.equal(host('http://[::ffff:127.0.0.1]/a.jpg'), '::ffff:7f00:1');
  assert.equal(host('http://example.com/a.jpg'), null);
  const p = parseFetchUrl(' HTTP://user:secret@Example.COM:80/a b.jpg#x ');
  assert.ok(p.ok);
  assert.equal(p.url.href, 'http://example.com/a%20b.jpg', 'no credentials, no fragment, canonical');
});

test('CIDR allow ranges', () => {
  assert.ok(isCidr('10.0.0.0/8'));
  assert.ok(isCidr('fd00::/8'));
  assert.ok(!isCidr('10.0.0.0/33'));
  assert.ok(!isCidr('10.0.0.0'));
  assert.ok(!isCidr('example.com/8'));
  assert.ok(inAnyRange('127.0.0.2', ['127.0.0.2/32']));
  assert.ok(inAnyRange('::ffff:127.0.0.2', ['127.0.0.2/32']));
  assert.ok(!inAnyRange('127.0.0.1', ['127.0.0.2/32']));
  assert.ok(inAnyRange('fd00::5', ['fd00::/8']));
  assert.throws(() => fetchConfig({ allowed_address_ranges: ['not a range'] }));
});

let target: FaultServer; // on 127.0.0.1: must never be reached with the guard on
let gateway: FaultServer | null; // on 127.0.0.2: explicitly allowed, redirects to the target
before(async () => {
  target = await startFaultServer('127.0.0.1');
  gateway = await startFaultServer('127.0.0.2').catch(() => null);
});
after(async () => {
  await target.close();
  await gateway?.close();
});

const guarded = (resolve?: (host: string) => Promise<string[]>) =>
  new Fetcher(
    fetchConfig({ respect_robots_txt: false, retries: 0, allowed_address_ranges: ['127.0.0.2/32'], connect_timeout_ms: 10_000, first_byte_timeout_ms: 10_000 }),
    resolve ? { resolve } : {},
  );

function assertBlocked(r: FetchResult, label: string): asserts r is FetchFailure {
  assert.equal(r.ok, false, label);
  assert.equal((r as FetchFailure).reason, 'blocked_address', `${label}: ${(r as FetchFailure).detail}`);
}

test('with the guard on, loopback, metadata and numeric-spelled URLs are refused before any request', async () => {
  const fetcher = guarded(async (host) => (host === 'sneaky.test' ? ['93.184.216.34', '127.0.0.1'] : ['127.0.0.1']));
  try {
    const p = target.port;
    for (const url of [
      `http://127.0.0.1:${p}/ok.jpg`,
      `http://2130706433:${p}/ok.jpg`,
      `http://0x7f.0.0.1:${p}/ok.jpg`,
      `http://[::ffff:127.0.0.1]:${p}/ok.jpg`,
      `http://[::1]:${p}/ok.jpg`,
      'http://169.254.169.254/latest/meta-data/',
      `http://localhost.test:${p}/ok.jpg`,
      `http://sneaky.test:${p}/ok.jpg`,
    ]) {
      assertBlocked(await fetcher.fetch(url), url);
    }
    assert.equal(target.hits.length, 0, 'no request reached the loopback server');
  } finally {
    await fetcher.close();
  }
});

test('with the guard on, a redirect from an allowed host to loopback is refused', async (t) => {
  if (!gateway) return t.skip('127.0.0.2 is not bindable on this machine');
  const gw = gateway;
  const fetcher = guarded(async (host) => (host === 'gateway.test' ? ['127.0.0.2'] : ['127.0.0.1']));
  try {
    const ok = await fetcher.fetch(`http://gateway.test:${gw.port}/ok.jpg`);
    assert.ok(ok.ok, `the explicitly allowed range is reachable: ${ok.ok ? '' : `${ok.reason}: ${ok.detail}`}`);
    for (const to of [`http://127.0.0.1:${target.port}/ok.jpg`, `http://internal.test:${target.port}/ok.jpg`]) {
      const r = await fetcher.fetch(`http://gateway.test:${gw.port}/redirect-to?to=${encodeURIComponent(to)}`);
      assertBlocked(r, to);
    }
    assert.equal(target.hits.length, 0, 'no request reached the loopback server');
    assert.equal(gw.hitsOf('/redirect-to').length, 2);
  } finally {
    await fetcher.close();
  }
});

test('the connection goes to the address that was checked, not to a second resolution', async (t) => {
  if (!gateway) return t.skip('127.0.0.2 is not bindable on this machine');
  const gw = gateway;
  let calls = 0;
  // A rebinding resolver: the checked answer first, loopback afterwards.
  const fetcher = guarded(async () => (++calls === 1 ? ['127.0.0.2'] : ['127.0.0.1']));
  try {
    const before = gw.hitsOf('/ok.jpg').length;
    const r = await fetcher.fetch(`http://rebind.test:${gw.port}/ok.jpg`);
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(calls, 1);
    assert.equal(gw.hitsOf('/ok.jpg').length - before, 1);
    assert.equal(target.hits.length, 0);
  } finally {
    await fetcher.close();
  }
});
