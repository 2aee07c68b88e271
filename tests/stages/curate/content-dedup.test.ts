// Exact content dedup within a unit (the stage) and over a whole run (the final pass over
// index rows), on samples decoded from real images by the real decode stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { contentDedupStage, findContentDuplicates } from '../../../stages/curate/content-dedup.ts';
import { imageDecodeStage } from '../../../stages/decode/image-decode.ts';
import { decodeSchema } from '../../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw, type ImageTextSample } from '../../../schemas/image-text.ts';
import { pipe } from '../../../core/stage.ts';
import { testContext } from '../../helpers/context.ts';

test('within a unit: the first of identical stored images is kept, later ones rejected naming it', async () => {
  const green = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#10a010' } }).png().toBuffer();
  // Other source bytes that decode and re-encode to the same stored image: the hash is of what is stored.
  const greenJpeg = await sharp(green).jpeg({ quality: 100 }).toBuffer();
  const grey = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } }).png().toBuffer();
  const rows: Partial<ImageTextRaw>[] = [
    { imageBytes: green, url: 'http://a.test/g.png' },
    { imageBytes: grey },
    { imageBytes: green, url: 'http://b.test/g.png' }, // same bytes, another URL: a duplicate
    { imageBytes: green, url: 'HTTP://A.TEST/g.png#x' }, // same normalised URL as the first: a caption sibling
    { imageBytes: grey },
    { imageBytes: greenJpeg },
  ];
  async function* input(): AsyncGenerator<ImageTextRaw> {
    let i = 0;
    for (const row of rows) yield { id: `c${i}`, kind: IMAGE_TEXT, source: `t:${i++}`, caption: 'x', ...row };
  }
  const ctx = testContext();
  const out: ImageTextSample[] = [];
  for await (const s of pipe(input(), ctx, imageDecodeStage(decodeSchema.parse({}), 2), contentDedupStage())) out.push(s);
  const ids = out.map((s) => s.id);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]), [
    ['c2', 'dedup', 'duplicate_content'],
    ['c4', 'dedup', 'duplicate_content'],
    ['c5', 'dedup', 'duplicate_content'],
  ]);
  assert.deepEqual(ids, ['c0', 'c1', 'c3']);
  assert.match(ctx.rejects.rows[0].detail, /^same image bytes \(sha256 [0-9a-f]{16}\) as c0$/);
  assert.match(ctx.rejects.rows[1].detail, /as c1$/);
  assert.match(ctx.rejects.rows[2].detail, /as c0$/);
  // A new unit starts with an empty set.
  const again = testContext();
  const second: string[] = [];
  for await (const s of pipe(input(), again, imageDecodeStage(decodeSchema.parse({}), 1), contentDedupStage())) second.push(s.id);
  assert.deepEqual(second, ids);
});

test('the final pass over index rows finds duplicates across units, first in canonical order wins', () => {
  const rows = [
    { id: 'u0:0', sha256: 'aa', url: 'http://x.test/1.jpg' },
    { id: 'u0:1', sha256: 'bb', url: null },
    { id: 'u1:0', sha256: 'aa', url: 'http://x.test:80/1.jpg' }, // caption sibling across units
    { id: 'u1:1', sha256: 'aa', url: 'http://y.test/1.jpg' },
    { id: 'u2:0', sha256: 'bb' },
    { id: 'u2:1', sha256: 'cc' },
  ];
  assert.deepEqual([...findContentDuplicates(rows)], [['u1:1', 'u0:0'], ['u2:0', 'u0:1']]);
  assert.equal(findContentDuplicates([]).size, 0);
});
