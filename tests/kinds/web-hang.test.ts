// weft run with hanging URLs in the list: the rows behind a hanging URL are fetched (and decoded)
// while it hangs, the hangs overlap instead of queueing one behind the other, and the output
// keeps row order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { parquetRows } from '../helpers/out-dir.ts';
import { startFaultServer } from '../helpers/fault-server.ts';

test('hanging URLs in a web run: everything else is fetched while they hang, they overlap, and rows stay in order', async () => {
  const server = await startFaultServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-hang-'));
  try {
    const n = 120;
    const hanging = new Set([10, 50, 90]);
    // Distinct images (a colour per row) so exact dedup keeps every row.
    const urls = Array.from({ length: n }, (_, i) => (hanging.has(i) ? `${server.base}/hang.jpg?i=${i}` : `${server.base}/row-${i}.jpg`));
    await writeFile(path.join(work, 'urls.csv'), ['url,caption', ...urls.map((u, i) => `${u},caption number ${i} of the list`)].join('\n'));
    await writeFile(
      path.join(work, 'web.yaml'),
      'source: { kind: web, path: urls.csv }\nfetch: { allow_private_addresses: true, respect_robots_txt: false, retries: 0, concurrency: 8, per_host_concurrency: 8, per_host_rate: 100000, per_host_burst: 100000, first_byte_timeout_ms: 4000 }\ndedup: { exact: false, phash: false }\n',
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'web.yaml')), outDir: path.join(work, 'out') });
    assert.equal(summary.kept, n - hanging.size);
    assert.deepEqual(summary.droppedByReason, { timeout: 3 });

    // Server-side order of events: every hang was open at once, and every other row was
    // requested before the first hang was given up (with head-of-line blocking the rows behind
    // a hang would start only after it timed out).
    const hangs = server.hitsOf('/hang.jpg');
    const rowHits = server.hits.filter((h) => h.path.startsWith('/row-')).map((h) => h.at);
    assert.equal(hangs.length, 3);
    const firstClosed = Math.min(...hangs.map((h) => h.closedAt ?? Infinity));
    assert.ok(Math.max(...hangs.map((h) => h.at)) < firstClosed, 'the three hangs overlapped: the run waits about one timeout, not three');
    assert.ok(Math.max(...rowHits) < firstClosed, 'every other row was requested before the first hang timed out');

    const index = await parquetRows(path.join(work, 'out', 'index.parquet'), 'row');
    assert.deepEqual(index.map((r) => String(r.url)), urls.filter((_, i) => !hanging.has(i)), 'shard rows in list order');
  } finally {
    await server.close();
  }
});
