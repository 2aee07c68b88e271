// The corpus sidecar's float16 embeddings: correctly rounded (values just below a power of two
// included, where apache-arrow's own conversion halves them), written and read back by the
// sidecar reader within float16 precision.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { corpusSidecarSchema, float16Bits, FLOAT16_VALUES, toFloat16Values } from '../../../stages/curate/corpus-sidecar.ts';
import { ArrowShardWriter } from '../../../output/arrow-shard-writer.ts';
import { CorpusSidecars } from '../../../output/corpus-sidecars.ts';
import { mulberry32 } from '../../../core/random.ts';
import { normalise } from '../../../stages/curate/kmeans.ts';
import type { ScoredSample } from '../../../stages/score/score-columns.ts';
import type { UnitCompletion } from '../../../output/out-dir.ts';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

test('float16 rounding is to nearest, every float16 value round-trips, and power-of-two edges stay put', () => {
  for (let h = 0; h < 65536; h++) if (!Number.isNaN(FLOAT16_VALUES[h])) assert.equal(float16Bits(FLOAT16_VALUES[h]), h);
  const rand = mulberry32(5);
  for (let i = 0; i < 100_000; i++) {
    const x = Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 24 - 18));
    const y = FLOAT16_VALUES[float16Bits(x)];
    assert.ok(Math.abs(y - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25) * 1.0001, `${x} -> ${y}`);
  }
  assert.deepEqual(toFloat16Values(Float32Array.of(0.12497753, -0.03124813, 0.0312433, 70000, -1e-9)), [0.125, -0.03125, 0.03125, Infinity, -0]);
});

for (const [dim, rows, seed] of [[32, 300, 1], [7, 5000, 2]] as const) {
  test(`sidecar embeddings read back within float16 precision (dim ${dim}, ${rows} rows)`, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-sidecar-'));
    dirs.push(dir);
    const rand = mulberry32(seed);
    const schema = corpusSidecarSchema(dim);
    const writer = new ArrowShardWriter<ScoredSample>({ schema, unitId: 'u0', stagingDir: path.join(dir, 'sidecars'), maxShardBytes: 2 ** 30, rowsPerBatch: schema.maxRowsPerBatch, metadata: {}, folder: 'sidecars' });
    const written: Float32Array[] = [];
    for (let i = 0; i < rows; i++) {
      const v = normalise(Float32Array.from({ length: dim }, () => rand() - 0.5));
      written.push(v);
      await writer.add({ id: `r${i}`, caption: `c ${i}`, score: i % 3 ? rand() : undefined, imageEmbedding: v, textEmbedding: v } as unknown as ScoredSample, 100);
    }
    const staged = await writer.finish();
    const completions = [{ unit: 'u0', sidecars: staged.map(({ stagedPath: _s, ...e }) => e) }] as unknown as UnitCompletion[];
    const sidecars = await CorpusSidecars.open(dir, completions);
    assert.equal(sidecars.dim, dim);
    let i = 0;
    for await (const r of sidecars.sidecarRows('u0', true)) {
      assert.equal(r.id, `r${i}`);
      assert.equal(r.caption, `c ${i}`);
      assert.equal(r.score === null, i % 3 === 0);
      for (let d = 0; d < dim; d++) assert.ok(Math.abs(r.vector[d] - written[i][d]) < 2e-3, `row ${i} dim ${d}`);
      i++;
    }
    assert.equal(i, rows);
  });
}
