// A run that keeps nothing says so, with the reasons, instead of exiting quietly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { everythingDroppedWarning } from '../../run/drop-warning.ts';
import type { Logger } from '../../core/logger.ts';
import { startFaultServer } from '../helpers/fault-server.ts';

function capture(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined };
}

test('a web run in which every row is dropped warns with the top reasons; one that keeps a row does not', async () => {
  const server = await startFaultServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-dropall-'));
  try {
    const rows = [
      ...Array.from({ length: 4 }, (_, i) => `${server.base}/ok-${i}.jpg`), // loopback: refused by the address guard
      `${server.base}/404.jpg`,
    ];
    await writeFile(path.join(work, 'urls.csv'), ['url,caption', ...rows.map((u, i) => `${u},a caption for row ${i} here`)].join('\n'));
    const yaml = (fetch: string) => `source: { kind: web, path: urls.csv }\nfetch: { retries: 0, ${fetch} }\n`;
    await writeFile(path.join(work, 'guarded.yaml'), yaml('allowed_address_ranges: []'));
    const log = capture();
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'guarded.yaml')), outDir: path.join(work, 'out-guarded'), log });
    assert.equal(summary.kept, 0);
    assert.equal(log.warnings.length, 1, log.warnings.join('\n'));
    assert.match(log.warnings[0], /every item was dropped \(5\); top reasons: blocked_address 5 \(100%\)/);

    await writeFile(path.join(work, 'open.yaml'), yaml('allow_private_addresses: true, respect_robots_txt: false'));
    const log2 = capture();
    const kept = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'open.yaml')), outDir: path.join(work, 'out-open'), log: log2 });
    assert.ok(kept.kept >= 1, "the four ok URLs serve one image: one kept, three exact duplicates");
    assert.deepEqual(log2.warnings.filter((w) => w.includes('every item was dropped')), []);
  } finally {
    await server.close();
  }
});

test('everythingDroppedWarning names at most three reasons, largest first, with shares', () => {
  assert.equal(everythingDroppedWarning({ kept: 1, dropped: 9, droppedByReason: { timeout: 9 } }), null);
  assert.equal(everythingDroppedWarning({ kept: 0, dropped: 0, droppedByReason: {} }), null);
  assert.equal(
    everythingDroppedWarning({ kept: 0, dropped: 10, droppedByReason: { dns: 1, timeout: 5, circuit_open: 3, http_404: 1 } }),
    'every item was dropped (10); top reasons: timeout 5 (50%), circuit_open 3 (30%), dns 1 (10%); see rejects.parquet and report.html for details',
  );
});
