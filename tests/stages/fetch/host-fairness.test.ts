// No head-of-line blocking across hosts: a list crowded with URLs of a host that does not answer
// (127.0.0.2, every request held by the server) and a few of a fast host (127.0.0.3). The slow
// host's URLs wait in their own queue, holding only as many of the stage's places as the host may
// have requests in flight, so every fast URL is requested and finishes while the slow host still
// sits on its first requests. The slow host is released only once the fast host is done; without
// fair admission its queued URLs fill the stage and the fast URLs never start (the watchdog then
// releases it, and the test fails on that).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fetchStage, type FetchedImageText } from '../../../stages/fetch/fetch-stage.ts';
import { Fetcher } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../../schemas/image-text.ts';
import type { StartGate } from '../../../core/stage.ts';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.ts';
import { testContext } from '../../helpers/context.ts';

const servers: FaultServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
});

const PER_HOST = 2;
const ROWS = 120; // three slow URLs for every fast one
const isFast = (i: number) => i % 4 === 3;

async function twoHosts(): Promise<{ slow: FaultServer; fast: FaultServer; list: ImageTextRaw[] }> {
  const slow = await startFaultServer('127.0.0.2');
  const fast = await startFaultServer('127.0.0.3');
  servers.push(slow, fast);
  const list = Array.from({ length: ROWS }, (_, i) => ({
    id: `s${i}`,
    kind: IMAGE_TEXT,
    source: 'list.csv',
    caption: 'a red square',
    url: isFast(i) ? `${fast.base}/fast-${i}.jpg` : `${slow.base}/held.jpg?i=${i}`,
  }));
  return { slow, fast, list };
}

function fairFetcher(concurrency = 8): Fetcher {
  // 8 places in the stage, 2 per host, no overflow: without fair admission 6 of them fill with
  // slow URLs waiting for a host slot, and the 2 held requests take the other two.
  return new Fetcher(fetchConfig({
    allow_private_addresses: true,
    respect_robots_txt: false,
    retries: 0,
    concurrency,
    overflow_concurrency: 0,
    per_host_concurrency: PER_HOST,
    per_host_overflow: 0,
    per_host_rate: 1e6,
    per_host_burst: 1e6,
    first_byte_timeout_ms: 60_000,
    total_timeout_ms: 120_000,
  }));
}

/** From now on the slow host answers every held request, and each new one at once. */
function releaseSlow(slow: FaultServer): void {
  slow.onHit = () => setImmediate(() => slow.releaseHeld());
  slow.releaseHeld();
}

/** Releases the slow host after `ms` if the test has not: the fast URLs were held up. */
function watchdog(slow: FaultServer, ms: number): { fired: () => boolean; stop: () => void } {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    releaseSlow(slow);
  }, ms);
  return { fired: () => fired, stop: () => clearTimeout(timer) };
}

const slowIds = (list: ImageTextRaw[]) => list.filter((_, i) => !isFast(i)).map((x) => x.id);
const fastIds = (list: ImageTextRaw[]) => list.filter((_, i) => isFast(i)).map((x) => x.id);

test('completion order: every fast-host item completes before any item of a host that holds its requests', async () => {
  const { slow, fast, list } = await twoHosts();
  const fetcher = fairFetcher();
  const nFast = fastIds(list).length;
  const neverHold: StartGate = { holdBack: () => false, awaits: () => false };
  const dog = watchdog(slow, 30_000);
  const completed: string[] = [];
  let slowHitsAtRelease = -1;
  try {
    async function* input(): AsyncGenerator<ImageTextRaw> {
      yield* list;
    }
    for await (const item of fetchStage(fetcher, 8, { completionOrder: neverHold })(input(), testContext())) {
      completed.push(item.id);
      if (completed.filter((id) => fastIds(list).includes(id)).length === nFast && slowHitsAtRelease < 0) {
        slowHitsAtRelease = slow.hits.length;
        releaseSlow(slow);
      }
    }
  } finally {
    dog.stop();
    await fetcher.close();
  }
  assert.equal(dog.fired(), false, 'the fast host was held up behind the slow one: its URLs waited until the watchdog released the slow host');
  assert.deepEqual(completed.slice(0, nFast).sort(), [...fastIds(list)].sort(), 'the first items to complete are all the fast host\'s');
  assert.deepEqual(completed.slice(nFast).sort(), [...slowIds(list)].sort(), 'then every slow item, once released');
  assert.equal(slowHitsAtRelease, PER_HOST, 'while the fast host finished, the slow host had only its own places');
  assert.ok(slow.maxActive <= PER_HOST, `the slow host saw ${slow.maxActive} requests at once`);
  assert.equal(fast.hits.length, nFast);
});

test('row order (byte window): every fast-host URL is requested while the slow host holds its first requests', async () => {
  const { slow, fast, list } = await twoHosts();
  const fetcher = fairFetcher();
  const nFast = fastIds(list).length;
  const dog = watchdog(slow, 30_000);
  let slowHitsAtRelease = -1;
  fast.onHit = () => {
    if (fast.hits.length === nFast) {
      slowHitsAtRelease = slow.hits.length;
      releaseSlow(slow);
    }
  };
  const out: FetchedImageText[] = [];
  try {
    async function* input(): AsyncGenerator<ImageTextRaw> {
      yield* list;
    }
    for await (const item of fetchStage(fetcher, 8)(input(), testContext())) out.push(item);
  } finally {
    dog.stop();
    await fetcher.close();
  }
  assert.equal(dog.fired(), false, 'the fast host was held up behind the slow one');
  assert.equal(slowHitsAtRelease, PER_HOST, 'the slow host held only its own places while the fast host was served');
  assert.deepEqual(out.map((o) => o.id), list.map((x) => x.id), 'row order is kept');
});

test('a redirect to another host gives the first host\'s place back: a shortener\'s URLs download elsewhere at once, not two at a time', async () => {
  // Every URL of 127.0.0.4 redirects to one of five held hosts (127.0.0.5-9), two URLs each:
  // they may all be in flight at once (2 per target host), though the redirecting host has only
  // 2 places in the stage.
  const shortener = await startFaultServer('127.0.0.4');
  const targets: FaultServer[] = [];
  for (let h = 0; h < 5; h++) targets.push(await startFaultServer(`127.0.0.${5 + h}`));
  servers.push(shortener, ...targets);
  const list: ImageTextRaw[] = Array.from({ length: 10 }, (_, i) => ({
    id: `r${i}`,
    kind: IMAGE_TEXT,
    source: 'list.csv',
    caption: 'a red square',
    url: `${shortener.base}/redirect-to?to=${encodeURIComponent(`${targets[i % 5].base}/held.jpg?i=${i}`)}`,
  }));
  const fetcher = fairFetcher(16);
  const held = () => targets.reduce((n, t) => n + t.held, 0);
  let heldAtRelease = -1;
  const releaseAll = () => {
    for (const t of targets) releaseSlow(t);
  };
  for (const t of targets) {
    t.onHit = () => {
      setImmediate(() => {
        if (heldAtRelease < 0 && held() === list.length) {
          heldAtRelease = held();
          releaseAll();
        }
      });
    };
  }
  let fired = false;
  const dog = setTimeout(() => {
    fired = true;
    releaseAll();
  }, 30_000);
  const out: FetchedImageText[] = [];
  try {
    async function* input(): AsyncGenerator<ImageTextRaw> {
      yield* list;
    }
    for await (const item of fetchStage(fetcher, 16)(input(), testContext())) out.push(item);
  } finally {
    clearTimeout(dog);
    await fetcher.close();
  }
  assert.equal(fired, false, 'the redirected downloads were held to the first host\'s two places');
  assert.equal(heldAtRelease, list.length, 'every redirected download was in flight at once');
  assert.deepEqual(out.map((o) => o.id), list.map((x) => x.id));
});
