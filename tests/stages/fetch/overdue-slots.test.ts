// Overdue requests give their slots up (http-session.ts): against real loopback servers, a
// request running well past its host's usual time lets a fresh one take its host slot and global
// slot while it runs on, within the overflow caps. Every assertion is on what the servers saw
// (which requests arrived before which, how many were open at once), never on elapsed time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchStage, type FetchedImageText } from '../../../stages/fetch/fetch-stage.ts';
import { Fetcher } from '../../../stages/fetch/fetcher.ts';
import { LatencyWindow } from '../../../stages/fetch/latency-window.ts';
import { fetchConfig, type FetchConfig } from '../../../schemas/fetch-config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../../schemas/image-text.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';
import { testContext } from '../../helpers/context.ts';

/** Held requests still pending after this are answered anyway, so a broken build fails, not hangs. */
const FALLBACK_MS = 10_000;

function testConfig(over: Partial<FetchConfig>): FetchConfig {
  return fetchConfig({
    allow_private_addresses: true,
    respect_robots_txt: false,
    retries: 0,
    per_host_rate: 1e6,
    per_host_burst: 1e6,
    overdue_after_ms: 30,
    first_byte_timeout_ms: 30_000,
    total_timeout_ms: 60_000,
    ...over,
  });
}

async function* items(urls: string[]): AsyncGenerator<ImageTextRaw> {
  let i = 0;
  for (const url of urls) yield { id: `s${i++}`, kind: IMAGE_TEXT, source: 'list.csv', caption: 'a red square', url };
}

async function runStage(fetcher: Fetcher, urls: string[]): Promise<{ out: FetchedImageText[]; rejects: string[] }> {
  const ctx = { ...testContext(), unit: { id: 'u0', source: 'list.csv' } };
  const out: FetchedImageText[] = [];
  for await (const item of fetchStage(fetcher, fetcher.maxInFlight)(items(urls), ctx)) out.push(item);
  return { out, rejects: ctx.rejects.rows.map((r) => `${r.id}:${r.reason}`) };
}

/** Answers the server's held requests on `when`, or after FALLBACK_MS; says which it was. */
function releaseHeldWhen(server: FaultServer, when: () => boolean): { cause: () => 'condition' | 'fallback' | 'pending'; stop: () => void } {
  let cause: 'condition' | 'fallback' | 'pending' = 'pending';
  const fallback = setTimeout(() => {
    if (cause === 'pending') cause = 'fallback';
    server.releaseHeld();
    server.onHit = () => server.releaseHeld();
  }, FALLBACK_MS);
  server.onHit = () => {
    if (cause !== 'pending' || !when()) return;
    cause = 'condition';
    // After this request has been answered, so that it counts as served.
    setImmediate(() => server.releaseHeld());
    server.onHit = () => setImmediate(() => server.releaseHeld());
  };
  return { cause: () => cause, stop: () => clearTimeout(fallback) };
}

test('with concurrency C and C slow URLs first, the fast URLs behind them are all fetched while the slow ones are pending', async () => {
  const server = await startFaultServer();
  after(() => server.close());
  for (const [concurrency, slow, fast] of [[2, 2, 30], [4, 4, 17]] as const) {
    const fetcher = new Fetcher(testConfig({ concurrency, per_host_concurrency: concurrency }));
    server.hits.length = 0;
    server.maxActive = 0;
    const urls = [...Array.from({ length: slow }, (_, i) => `${server.base}/held.jpg?i=${i}`), ...Array.from({ length: fast }, (_, i) => `${server.base}/fast-${concurrency}-${i}.jpg`)];
    const fastSeen = () => server.hits.filter((h) => h.path.startsWith('/fast-')).length;
    const release = releaseHeldWhen(server, () => fastSeen() === fast);
    try {
      const { out, rejects } = await runStage(fetcher, urls);
      assert.equal(release.cause(), 'condition', `the slow URLs were answered only after ${FALLBACK_MS} ms: ${fastSeen()} of ${fast} fast URLs had been requested`);
      assert.deepEqual(rejects, []);
      assert.deepEqual(out.map((o) => o.id), urls.map((_, i) => `s${i}`), 'every URL kept, in row order');
      assert.equal(server.hitsOf('/held.jpg').length, slow, 'each slow URL was sent once: it ran on, it was not restarted');
      assert.ok(server.maxActive <= 2 * concurrency, `at most the slots plus the overflow permits were open at once (${server.maxActive})`);
      assert.ok(fetcher.overdueReleases >= slow);
    } finally {
      release.stop();
      server.onHit = null;
      await fetcher.close();
    }
  }
});

/**
 * Holds every request until as many are open as `cap` allows (or the rest of the list), waits a
 * while for any request that would break the cap, then answers them; returns the most that were
 * ever open at once at the server.
 */
async function maxOpenAtOnce(over: Partial<FetchConfig>, cap: number, total: number): Promise<{ maxActive: number; fallback: boolean }> {
  const server = await startFaultServer();
  const fetcher = new Fetcher(testConfig(over));
  let answered = 0;
  let pendingRelease: NodeJS.Timeout | undefined;
  let fallback = false;
  const guard = setTimeout(() => {
    fallback = true;
    server.onHit = () => server.releaseHeld();
    server.releaseHeld();
  }, FALLBACK_MS);
  server.onHit = () => {
    if (pendingRelease || server.held < Math.min(cap, total - answered)) return;
    // Many overdue periods (30 ms each): time enough for a request over the cap to show up.
    pendingRelease = setTimeout(() => {
      pendingRelease = undefined;
      answered += server.held;
      server.releaseHeld();
    }, 300);
  };
  try {
    const { out } = await runStage(fetcher, Array.from({ length: total }, (_, i) => `${server.base}/held.jpg?i=${i}`));
    assert.equal(out.length, total);
    return { maxActive: server.maxActive, fallback };
  } finally {
    clearTimeout(guard);
    clearTimeout(pendingRelease);
    await fetcher.close();
    await server.close();
  }
}

test('the overflow cap holds: slots plus overflow_concurrency requests open at once, never more (counted at the server)', async () => {
  for (const [concurrency, overflow] of [[3, 2], [2, 5]] as const) {
    const r = await maxOpenAtOnce({ concurrency, overflow_concurrency: overflow, per_host_concurrency: 64, per_host_overflow: 64 }, concurrency + overflow, 14);
    assert.equal(r.fallback, false, 'the overdue requests reached the cap');
    assert.equal(r.maxActive, concurrency + overflow, `concurrency ${concurrency} + overflow ${overflow}`);
  }
});

test('per host: fresh requests keep to per_host_concurrency and overdue ones to per_host_overflow; overflow 0 keeps the slots', async () => {
  const withOverflow = await maxOpenAtOnce({ concurrency: 64, per_host_concurrency: 2, per_host_overflow: 1 }, 3, 9);
  assert.equal(withOverflow.fallback, false);
  assert.equal(withOverflow.maxActive, 3);
  // No overflow: overdue requests keep their slots, so the host never sees more than its slots.
  const without = await maxOpenAtOnce({ concurrency: 64, per_host_concurrency: 2, per_host_overflow: 0 }, 2, 6);
  assert.equal(without.fallback, false);
  assert.equal(without.maxActive, 2);
});

test('two hosts: one host full of slow requests holds only its own slots and overflow; the other host is fetched meanwhile', async () => {
  const slowHost = await startFaultServer('127.0.0.2');
  const fastHost = await startFaultServer('127.0.0.3');
  const fetcher = new Fetcher(testConfig({ concurrency: 6, per_host_concurrency: 2, per_host_overflow: 1 }));
  const slow = 10;
  const fast = 30;
  const urls = [...Array.from({ length: slow }, (_, i) => `${slowHost.base}/held.jpg?i=${i}`), ...Array.from({ length: fast }, (_, i) => `${fastHost.base}/f${i}.jpg`)];
  let slowSentWhenFastDone = -1;
  const answerSlow = () => {
    slowHost.onHit = () => setImmediate(() => slowHost.releaseHeld());
    setImmediate(() => slowHost.releaseHeld());
  };
  const guard = setTimeout(answerSlow, FALLBACK_MS);
  fastHost.onHit = () => {
    if (fastHost.hits.length !== fast) return;
    slowSentWhenFastDone = slowHost.hits.length;
    answerSlow();
  };
  try {
    const { out } = await runStage(fetcher, urls);
    assert.equal(out.length, slow + fast);
    assert.ok(slowSentWhenFastDone >= 2, 'every fast URL was requested while the slow host held its requests');
    assert.ok(slowSentWhenFastDone <= 3, `slow host: 2 fresh + 1 overdue at most before any answer, saw ${slowSentWhenFastDone}`);
    assert.ok(slowHost.maxActive <= 3, `slow host: 2 slots + 1 overflow, saw ${slowHost.maxActive} at once`);
    assert.equal(slowHost.hitsOf('/held.jpg').length, slow);
  } finally {
    clearTimeout(guard);
    await fetcher.close();
    await slowHost.close();
    await fastHost.close();
  }
});

test('overdue threshold: the floor until a host has history, then twice its 95th percentile send time, never below the floor', () => {
  const w = new LatencyWindow();
  for (let i = 0; i < 7; i++) w.add(400);
  assert.equal(w.overdueAfterMs(100), 100, 'fewer than 8 samples: the floor');
  w.add(400);
  assert.equal(w.overdueAfterMs(100), 800);
  assert.equal(w.overdueAfterMs(1000), 1000);
  // 1 slow answer in 20 is the 95th percentile's edge; 1 in 64 is not.
  const v = new LatencyWindow();
  for (let i = 0; i < 64; i++) v.add(i === 10 ? 2000 : 50 + (i % 5));
  assert.equal(v.overdueAfterMs(10), 2 * 54);
  // The window forgets: 64 new samples replace the old ones.
  for (let i = 0; i < 64; i++) v.add(300);
  assert.equal(v.overdueAfterMs(10), 600);
});
