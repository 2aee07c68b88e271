// Compressed bodies from a real loopback server: every coding decodes to the same image,
// max_body_bytes holds for the decoded size (a bomb ends as too_large), and a body that does
// not decode says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

async function fetchOne(path: string, over: Partial<FetchConfig> = {}): Promise<FetchResult> {
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, respect_robots_txt: false, retries: 0, first_byte_timeout_ms: 2000, ...over }));
  try {
    return await fetcher.fetch(`${server.base}${path}`);
  } finally {
    await fetcher.close();
  }
}

function assertFailed(r: FetchResult, reason: string): asserts r is FetchFailure {
  assert.equal(r.ok, false, `expected ${reason}, got a kept image`);
  assert.equal((r as FetchFailure).reason, reason, (r as FetchFailure).detail);
}

for (const path of ['/gzip.jpg', '/deflate.jpg', '/deflate-raw.jpg', '/br.jpg', '/gzip-then-br.jpg']) {
  test(`${path}: the Content-Encoding is decoded to the original image`, async () => {
    const r = await fetchOne(path);
    assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
    assert.equal(r.mediaType, 'jpeg');
    assert.deepEqual(Buffer.from(r.bytes), server.jpeg);
  });
}

for (const [enc, mib] of [['gzip', 8], ['br', 12], ['deflate', 5]] as const) {
  test(`a ${enc} bomb (${mib} MiB decoded from a few KiB) ends as too_large at max_body_bytes`, async () => {
    const r = await fetchOne(`/gzip-bomb.jpg?enc=${enc}&mib=${mib}`, { max_body_bytes: 1024 * 1024 });
    assertFailed(r, 'too_large');
    assert.match(r.detail, new RegExp(`passed 1048576 bytes.*after ${enc} decoding`));
  });
}

test('a bomb under max_body_bytes on the wire and over it decoded is still too_large; under both it is kept', async () => {
  assertFailed(await fetchOne('/gzip-bomb.jpg?mib=2', { max_body_bytes: 2 * 1024 * 1024 }), 'too_large');
  const kept = await fetchOne('/gzip-bomb.jpg?mib=2', { max_body_bytes: 3 * 1024 * 1024 });
  assert.ok(kept.ok);
  assert.equal(kept.bytes.length, server.jpeg.length + 2 * 1024 * 1024);
});

test('a body that says gzip but is not fails as bad_encoding; an unknown coding too', async () => {
  const bad = await fetchOne('/bad-gzip.jpg');
  assertFailed(bad, 'bad_encoding');
  assert.match(bad.detail, /gzip body does not decode/);
  const zstd = await fetchOne('/zstd.jpg');
  assertFailed(zstd, 'bad_encoding');
  assert.match(zstd.detail, /Content-Encoding zstd is not supported/);
});
