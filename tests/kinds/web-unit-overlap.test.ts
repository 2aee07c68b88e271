// weft run over two web units, one at a time (run.unit_concurrency: 1), the first ending with a
// URL that hangs: the second unit starts while the first waits only on that request, so a hang
// among a unit's last rows does not hold the run for its timeout. Asserted on what reaches the
// server: the server answers the held request only when the second unit's first request
// arrives, so without the overlap the held request times out first and the order is reversed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { parquetRows } from '../helpers/out-dir.ts';
import { startFaultServer } from '../helpers/fault-server.ts';

test('web units overlap: the next unit starts while the previous one waits only on a hanging last URL', async () => {
  const server = await startFaultServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-unit-overlap-'));
  try {
    // Unit 0: rows 0-2, the last one held by the server; unit 1: rows 3-5.
    const urls = [`${server.base}/row-0.jpg`, `${server.base}/row-1.jpg`, `${server.base}/held.jpg`, `${server.base}/row-3.jpg`, `${server.base}/row-4.jpg`, `${server.base}/row-5.jpg`];
    server.onHit = (hit) => {
      if (hit.path === '/row-3.jpg') server.releaseHeld();
    };
    await writeFile(path.join(work, 'urls.csv'), ['url,caption', ...urls.map((u, i) => `${u},caption number ${i} of the list`)].join('\n'));
    await writeFile(
      path.join(work, 'web.yaml'),
      'run: { unit_concurrency: 1 }\nsource: { kind: web, path: urls.csv, rows_per_unit: 3 }\n' +
        'fetch: { allow_private_addresses: true, respect_robots_txt: false, retries: 0, per_host_rate: 100000, per_host_burst: 100000, first_byte_timeout_ms: 15000 }\n' +
        'dedup: { exact: false, phash: false }\n',
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'web.yaml')), outDir: path.join(work, 'out') });

    const [held] = server.hitsOf('/held.jpg');
    const [nextUnitFirst] = server.hitsOf('/row-3.jpg');
    assert.ok(held && nextUnitFirst, 'both requests reached the server');
    assert.ok(nextUnitFirst.at < (held.closedAt ?? Infinity), "the second unit's first request arrived while the first unit's last request was still open");
    assert.deepEqual(summary.droppedByReason, {}, 'the held request was answered, not timed out');
    assert.equal(summary.unitsRun, 2);
    assert.equal(summary.kept, 6);
    const index = await parquetRows(path.join(work, 'out', 'index.parquet'), 'unit, row');
    assert.deepEqual(index.map((r) => String(r.url)), urls, 'rows in list order across the two units');
  } finally {
    await server.close();
  }
});
