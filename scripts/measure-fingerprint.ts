// Start-up cost of resume keyed on input: on a folder of N image + caption pairs (default 10k),
// the time `weft run` spends listing the units (plannedUnits) and the time it spends
// fingerprinting their input (plugin.inputFingerprints: one stat per file, no read), each the
// median of 5 repetitions with a warm file-system cache, in the same process, beside the floor:
// one synchronous stat per file and nothing else, and one awaited stat per file (what the
// fingerprint did before).
//
//   node --import tsx scripts/measure-fingerprint.ts [--n PAIRS]
import { statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfigFile } from '../schemas/config-file.ts';
import { createSourcePlugin } from '../kinds/registry.ts';
import { plannedUnits } from '../run/executor.ts';

const i = process.argv.indexOf('--n');
const pairs = i > 0 ? Number(process.argv[i + 1]) : 10_000;
const REPS = 5;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const work = await mkdtemp(path.join(os.tmpdir(), 'weft-fingerprint-'));
try {
  const images = path.join(work, 'images');
  await mkdir(images, { recursive: true });
  const jpeg = path.join(work, 'one.jpg');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 80, b: 40 } } }).jpeg().toFile(jpeg);
  for (let p = 0; p < pairs; p++) {
    const name = `img-${String(p).padStart(6, '0')}`;
    await copyFile(jpeg, path.join(images, `${name}.jpg`));
    await writeFile(path.join(images, `${name}.txt`), `a small red square number ${p}\n`);
  }
  const config = path.join(work, 'config.yaml');
  await writeFile(config, 'name: fingerprint\nsource: { kind: image_text, path: images, rows_per_unit: 100 }\n');
  const loaded = await loadConfigFile(config);
  const plugin = await createSourcePlugin(loaded);
  const listing: number[] = [];
  const fingerprinting: number[] = [];
  const statFloor: number[] = [];
  const awaitedStats: number[] = [];
  const files = (await readdir(images)).map((f) => path.join(images, f));
  let units = 0;
  for (let r = 0; r < REPS; r++) {
    let t = performance.now();
    const planned = await plannedUnits(plugin, loaded);
    listing.push(performance.now() - t);
    t = performance.now();
    const fps = await plugin.inputFingerprints(planned);
    fingerprinting.push(performance.now() - t);
    units = fps.size;
    // The floor: one synchronous stat per file and nothing else.
    t = performance.now();
    for (const f of files) statSync(f, { bigint: true });
    statFloor.push(performance.now() - t);
    // What the fingerprint cost before it stat'ed synchronously: one awaited stat per file.
    t = performance.now();
    for (const f of files) await stat(f, { bigint: true });
    awaitedStats.push(performance.now() - t);
  }
  await plugin.close?.();
  const l = median(listing);
  const f = median(fingerprinting);
  const floor = median(statFloor);
  const awaited = median(awaitedStats);
  process.stdout.write(`${pairs} pairs (${2 * pairs} files), ${units} units: listing ${l.toFixed(0)} ms, fingerprinting ${f.toFixed(0)} ms (${((f * 1000) / (2 * pairs)).toFixed(1)} us per file), ratio ${(f / l).toFixed(2)}; one stat per file alone ${floor.toFixed(0)} ms synchronous, ${awaited.toFixed(0)} ms awaited\n`);
  process.stdout.write(JSON.stringify({ pairs, files: 2 * pairs, units, listing_ms: l, fingerprint_ms: f, ratio: f / l, stat_floor_ms: floor, awaited_stats_ms: awaited, listing_runs_ms: listing, fingerprint_runs_ms: fingerprinting }) + '\n');
} finally {
  await rm(work, { recursive: true, force: true });
}
