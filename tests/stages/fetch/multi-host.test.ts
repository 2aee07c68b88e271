// Many hosts at once, each a real server on its own loopback address (127.0.0.2 and up) with
// its own latency and faults: limits, breakers and Retry-After pauses act per host, so two
// failing hosts and a throttling one cost the healthy hosts nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher, type FetchResult } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';

const servers: FaultServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
});

type Role = 'healthy' | 'refusing' | 'failing_503' | 'throttling';

test('8 hosts: healthy hosts keep everything, a refusing and a 503 host are cut off by their own breakers, a 429 pauses only its host', async () => {
  const roles: Role[] = ['healthy', 'refusing', 'healthy', 'throttling', 'healthy', 'failing_503', 'healthy', 'healthy'];
  const latencies = [5, 0, 30, 10, 60, 0, 15, 45];
  const hosts: { role: Role; base: string; server: FaultServer; latency: number }[] = [];
  for (const [i, role] of roles.entries()) {
    const server = await startFaultServer(`127.0.0.${i + 2}`);
    servers.push(server);
    hosts.push({ role, base: server.base, server, latency: latencies[i] });
  }
  await hosts[1].server.close(); // refusing: nothing listens on that address and port any more

  const perHost = 12;
  const urls: { host: number; url: string }[] = [];
  for (let k = 0; k < perHost; k++) {
    for (const [h, host] of hosts.entries()) {
      let path = host.latency ? `/slow-headers.jpg?ms=${host.latency}&k=${k}` : `/ok.jpg?k=${k}`;
      if (host.role === 'failing_503') path = `/always-503.jpg?k=${k}`;
      if (host.role === 'throttling' && k === 0) path = '/429-then-ok.jpg?after=1';
      urls.push({ host: h, url: `${host.base}${path}` });
    }
  }
  const fetcher = new Fetcher(fetchConfig({
    allow_private_addresses: true,
    respect_robots_txt: false,
    concurrency: 16,
    per_host_concurrency: 2,
    per_host_rate: 200,
    per_host_burst: 5,
    retries: 1,
    backoff_base_ms: 20,
    backoff_max_ms: 40,
    breaker_failures: 3,
    breaker_cooldown_ms: 60_000,
    first_byte_timeout_ms: 1000,
    total_timeout_ms: 2000,
  }));
  let results: FetchResult[];
  try {
    results = await Promise.all(urls.map((u) => fetcher.fetch(u.url)));
  } finally {
    await fetcher.close();
  }
  const reasonsOf = (h: number) => results.filter((_, i) => urls[i].host === h).map((r) => (r.ok ? 'kept' : r.reason));

  for (const [h, host] of hosts.entries()) {
    const reasons = reasonsOf(h);
    if (host.role === 'healthy' || host.role === 'throttling') {
      assert.deepEqual(reasons, Array(perHost).fill('kept'), `host ${h} (${host.role})`);
      assert.ok(host.server.maxActive <= 2, `host ${h}: ${host.server.maxActive} requests at once`);
    }
  }
  const refusing = reasonsOf(1);
  assert.ok(refusing.every((r) => r === 'connect' || r === 'circuit_open'), refusing.join(','));
  assert.ok(refusing.filter((r) => r === 'circuit_open').length >= perHost - 5, `the breaker cut the refusing host off: ${refusing.join(',')}`);
  const failing = reasonsOf(5);
  assert.ok(failing.every((r) => r === 'http_5xx' || r === 'circuit_open'), failing.join(','));
  // Three failures open the breaker; at most the two requests then in flight (and their retries) follow.
  assert.ok(hosts[5].server.hits.length <= 3 + 2 * 2, `the 503 host saw ${hosts[5].server.hits.length} requests`);

  // The throttling host paused itself for its Retry-After; nobody else waited for it.
  const throttled = hosts[3].server;
  const first429 = throttled.hitsOf('/429-then-ok.jpg')[0].at;
  // Requests already on their way when the 429 was read (a loaded machine reads it late) go out;
  // every later one waits for the pause.
  const afterPause = throttled.hits.filter((h) => h.at > first429 + 300);
  const timeline = JSON.stringify(throttled.hits.map((h) => Math.round(h.at - first429)));
  assert.ok(afterPause.length >= perHost - 5 && afterPause.every((h) => h.at - first429 >= 950), `its later requests waited out the Retry-After: ${timeline}`);
  for (const h of [0, 2, 4, 6, 7]) {
    // Paused with host 3, a healthy host would show a gap of about a second between two requests.
    const times = hosts[h].server.hits.map((x) => x.at).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(Math.max(...gaps) < 800, `host ${h} waited ${Math.round(Math.max(...gaps))} ms between two requests`);
  }
});
