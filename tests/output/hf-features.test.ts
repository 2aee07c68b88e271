// The shards' Hugging Face features survive loading: for every kind, each written Arrow field
// equals (name, type, nullability, children) the field `datasets` generates from the feature the
// shard's `huggingface` metadata declares, and the metadata is in the form `datasets` writes.
// (`Features.from_arrow_schema` falls back to a plain struct for any field that differs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { arrowSchemaOf, huggingfaceMetadata } from '../../output/arrow-shard-writer.ts';
import { imageTextSchema, optionalImageTextColumns } from '../../schemas/image-text.ts';
import type { ColumnSpec, KindSchema } from '../../schemas/kind-schema.ts';
import { scoreColumns } from '../../stages/score/score-columns.ts';
import { safetyColumns } from '../../stages/curate/safety-columns.ts';
import { phashColumns } from '../../stages/curate/phash.ts';
import { datasetsField, datasetsSerialised, shapeOf } from '../helpers/hf-features.ts';
import { KIND_NAMES, runKind, type KindName } from '../helpers/kind-runs.ts';
import { readJson } from '../helpers/out-dir.ts';

let work: string;
const outs = new Map<KindName, string>();

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-hf-'));
  for (const k of KIND_NAMES) outs.set(k, await runKind(k, work));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function assertDatasetsExact(schema: arrow.Schema, where: string): Record<string, unknown> {
  const features = JSON.parse(schema.metadata.get('huggingface')!).info.features as Record<string, unknown>;
  assert.deepEqual(Object.keys(features), schema.fields.map((f) => f.name), `${where}: one feature per field, in order`);
  for (const field of schema.fields) {
    assert.deepEqual(shapeOf(field), datasetsField(field.name, features[field.name]), `${where}: field ${field.name} differs from what datasets generates for ${JSON.stringify(features[field.name])}`);
    assert.deepEqual(features[field.name], datasetsSerialised(features[field.name]), `${where}: feature ${field.name} is not in the form datasets writes`);
  }
  return features;
}

for (const kind of KIND_NAMES) {
  test(`${kind} shards: every field is what datasets generates from its feature`, async () => {
    const out = outs.get(kind)!;
    const manifest = await readJson(path.join(out, 'manifest.json'));
    assert.ok(manifest.shards.length > 0, `${kind}: the run kept something`);
    for (const s of manifest.shards) {
      const table = arrow.tableFromIPC(await readFile(path.join(out, s.path)));
      const features = assertDatasetsExact(table.schema, s.path);
      // The media columns are the ones that must come back as Image()/Audio().
      const media = Object.entries(features).filter(([, f]) => JSON.stringify(f).includes('"_type":"Image"') || JSON.stringify(f).includes('"_type":"Audio"')).map(([k]) => k);
      const expected = { image_text: ['image'], web: ['image'], rgbd: ['rgb', 'depth'], video: ['frames', 'audio'] }[kind];
      assert.deepEqual(media, expected);
      assert.ok(table.numRows > 0);
    }
  });
}

test('optional columns (decode, safety, phash, score with grounding) are datasets-exact too', () => {
  const columns = [
    ...imageTextSchema.columns,
    ...optionalImageTextColumns({ extract_exif: true, original_hash: 'sha256' }, true),
    ...safetyColumns(),
    ...phashColumns,
    ...scoreColumns('score_x', true),
  ] as ColumnSpec<unknown>[];
  const schema: KindSchema<unknown> = { kind: 'image_text', columns, index: [], maxRowsPerBatch: 100 };
  const written = arrowSchemaOf(schema, { huggingface: huggingfaceMetadata(schema) });
  assertDatasetsExact(written, 'image_text with every optional column');
  assert.ok(written.fields.some((f) => f.name === 'phrases'));
});

test('the rule itself: a non-nullable child makes the field differ', () => {
  const bad = new arrow.Field('image', new arrow.Struct([new arrow.Field('bytes', new arrow.Binary(), false), new arrow.Field('path', new arrow.Utf8(), true)]), true);
  assert.notDeepEqual(shapeOf(bad), datasetsField('image', { _type: 'Image' }));
  const list = new arrow.Field('xs', new arrow.List(new arrow.Field('element', new arrow.Float64(), true)), true);
  assert.notDeepEqual(shapeOf(list), datasetsField('xs', { _type: 'Sequence', feature: { dtype: 'float64', _type: 'Value' } }), 'list item must be named item');
});
