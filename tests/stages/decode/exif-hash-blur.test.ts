// The img2dataset options that concern what is kept of the original: its EXIF tags
// (extract_exif), a hash of its bytes as they came (original_hash, img2dataset's compute_hash),
// and regions blurred before anything is stored (a URL list's bbox_column), down to weft run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeSchema, type DecodeConfig } from '../../../schemas/config.ts';
import { isDrop } from '../../../core/stage.ts';
import { decodeImage, type DecodedImage } from '../../../stages/decode/image-decode.ts';
import { boxToPixels } from '../../../stages/decode/blur-boxes.ts';
import { parseBlurBoxes } from '../../../stages/sources/blur-box-column.ts';
import { loadConfigFile } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { parquetRows, shardRows } from '../../helpers/out-dir.ts';
import { startStaticServer } from '../../helpers/static-server.ts';

const cfg = (over: Partial<DecodeConfig> = {}): DecodeConfig => decodeSchema.parse(over);

async function decoded(bytes: Uint8Array, c: DecodeConfig, boxes: number[][] = []): Promise<DecodedImage> {
  const out = await decodeImage(bytes, c, boxes);
  assert.ok(!isDrop(out), `dropped: ${isDrop(out) ? out.reason : ''}`);
  return out as DecodedImage;
}

/** A black-and-white checkerboard of 8 px squares: every 8x8 patch has the full contrast. */
async function checkerboard(width: number, height: number): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px.fill(((x >> 3) + (y >> 3)) % 2 ? 255 : 0, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return sharp(px, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Standard deviation of the grey values in a region of an encoded image. */
async function contrast(bytes: Uint8Array, region: { left: number; top: number; width: number; height: number }): Promise<number> {
  const grey = await sharp(bytes).extract(region).greyscale().raw().toBuffer();
  const mean = grey.reduce((a, v) => a + v, 0) / grey.length;
  return Math.sqrt(grey.reduce((a, v) => a + (v - mean) ** 2, 0) / grey.length);
}

test('extract_exif keeps the original EXIF tags as JSON; images without EXIF get null; the stored image carries none', async () => {
  const withExif = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } })
    .jpeg()
    .withExif({ IFD0: { Make: 'weft-cam', Model: 'X1', Copyright: 'cc0' } })
    .toBuffer();
  const d = await decoded(withExif, cfg({ extract_exif: true }));
  const exif = JSON.parse(d.exif!);
  assert.equal(exif['Image Make'], 'weft-cam');
  assert.equal(exif['Image Model'], 'X1');
  assert.equal((await sharp(d.bytes).metadata()).exif, undefined);

  const plain = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } }).png().toBuffer();
  assert.equal((await decoded(plain, cfg({ extract_exif: true }))).exif, null);
  // Off by default: no field at all.
  assert.equal((await decoded(withExif, cfg())).exif, undefined);
});

test('an unreadable EXIF block leaves exif null and keeps the image', async () => {
  const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  // An APP1 Exif segment whose TIFF header is garbage, right after the SOI marker.
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), Buffer.from('XXXXXXXXXXXXXXXXXXXX', 'latin1')]);
  const segment = Buffer.concat([Buffer.from([0xff, 0xe1, 0, payload.length + 2]), payload]);
  const broken = Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
  const d = await decoded(broken, cfg({ extract_exif: true }));
  assert.equal(d.exif, null);
  assert.equal(d.exifUnreadable, true);
});

test('original_hash hashes the bytes as they came, not the stored re-encoded bytes', async () => {
  const png = await checkerboard(64, 48);
  for (const algo of ['md5', 'sha256', 'sha512'] as const) {
    const d = await decoded(png, cfg({ original_hash: algo }));
    assert.equal(d.originalHash, createHash(algo).update(png).digest('hex'));
    assert.notEqual(d.originalHash, d.sha256);
  }
  assert.equal((await decoded(png, cfg())).originalHash, undefined);
});

test('blur boxes: the region loses its detail, the rest keeps it, through keep_ratio and center_crop', async () => {
  const image = await checkerboard(320, 160);
  // keep_ratio to 128: the stored image is 256x128; the box is the left quarter, full height.
  const d = await decoded(image, cfg({ image_size: 128, encode_format: 'png' }), [[0, 0, 0.25, 1]]);
  assert.equal(d.blurredBoxes, 1);
  assert.ok((await contrast(d.bytes, { left: 8, top: 16, width: 40, height: 96 })) < 20, 'blurred region still has contrast');
  assert.ok((await contrast(d.bytes, { left: 120, top: 16, width: 96, height: 96 })) > 90, 'the rest lost its contrast');

  // center_crop to 128: the stored square is the middle of the 256x128 scaled image, so a box
  // over the original's right half covers the square's right half only.
  const c = await decoded(image, cfg({ image_size: 128, resize_mode: 'center_crop', encode_format: 'png' }), [[0.5, 0, 1, 1]]);
  assert.equal(c.width, 128);
  assert.ok((await contrast(c.bytes, { left: 72, top: 16, width: 48, height: 96 })) < 20);
  assert.ok((await contrast(c.bytes, { left: 8, top: 16, width: 48, height: 96 })) > 90);

  // border to 128: the 320x160 original becomes 128x64, padded with 32 rows above and below;
  // a box over the original's top half lands on rows 32..64 of the square.
  const b = await decoded(image, cfg({ image_size: 128, resize_mode: 'border', encode_format: 'png' }), [[0, 0, 1, 0.5]]);
  assert.equal(b.height, 128);
  assert.ok((await contrast(b.bytes, { left: 16, top: 36, width: 96, height: 24 })) < 20);
  assert.ok((await contrast(b.bytes, { left: 16, top: 68, width: 96, height: 24 })) > 90);

  // A box wholly cropped away is not counted as blurred.
  const gone = await decoded(image, cfg({ image_size: 128, resize_mode: 'center_crop' }), [[0, 0, 0.1, 0.1]]);
  assert.equal(gone.blurredBoxes, 0);

  // skip_reencode never stores an original that has boxes to blur.
  const same = await sharp(image).jpeg().toBuffer();
  const kept = await decoded(same, cfg({ resize_mode: 'none', skip_reencode: true }), [[0, 0, 0.5, 0.5]]);
  assert.equal(kept.stored, 'reencoded');
});

test('parseBlurBoxes: JSON strings and lists; anything malformed is an error, never "no boxes"', () => {
  assert.deepEqual(parseBlurBoxes('[[0.1, 0.2, 0.3, 0.4]]'), { boxes: [[0.1, 0.2, 0.3, 0.4]] });
  assert.deepEqual(parseBlurBoxes([[0, 0, 1, 1]]), { boxes: [[0, 0, 1, 1]] });
  for (const empty of [undefined, null, '', '[]', []]) assert.deepEqual(parseBlurBoxes(empty), { boxes: [] });
  for (const bad of ['not json', '{"x": 1}', '[[0.1, 0.2, 0.3]]', '[[0.5, 0, 0.1, 1]]', '[[0, 0, 120, 80]]', '[["a", 0, 1, 1]]']) {
    assert.ok('error' in parseBlurBoxes(bad), bad);
  }
  // Mapped outwards to whole pixels and clipped to the image.
  assert.deepEqual(boxToPixels([0.1, 0.1, 0.2, 0.2], { scaled: { width: 95, height: 95 }, offset: { left: 0, top: 0 }, width: 95, height: 95 }), { left: 9, top: 9, width: 10, height: 10 });
  assert.equal(boxToPixels([0, 0, 0.1, 0.1], { scaled: { width: 200, height: 100 }, offset: { left: -50, top: 0 }, width: 100, height: 100 }), null);
});

test('weft run: blurred_boxes, exif and original_md5 columns; a malformed box list is rejected at the source', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-blur-'));
  const images = path.join(work, 'images');
  await mkdir(images);
  await writeFile(path.join(images, 'a.png'), await checkerboard(128, 96));
  await writeFile(
    path.join(images, 'b.jpg'),
    await sharp(await checkerboard(128, 96)).jpeg().withExif({ IFD0: { Make: 'weft-cam' } }).toBuffer(),
  );
  const server = await startStaticServer({ folder: images });
  try {
    const rows = [
      { url: `${server.base}/a.png`, caption: 'a checkerboard with a box', faces: '[[0, 0, 0.5, 0.5]]' },
      { url: `${server.base}/b.jpg`, caption: 'a checkerboard without boxes', faces: '' },
      { url: `${server.base}/a.png`, caption: 'the same image, a broken box list', faces: '[[0, 0, 2, 2]]' },
    ];
    await writeFile(path.join(work, 'urls.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await writeFile(
      path.join(work, 'web.yaml'),
      [
        'source: { kind: web, path: urls.jsonl, bbox_column: faces }',
        'decode: { extract_exif: true, original_hash: md5 }',
        'fetch: { allow_private_addresses: true, respect_robots_txt: false }',
        'run: { log_level: warn }',
        '',
      ].join('\n'),
    );
    const out = path.join(work, 'out');
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'web.yaml')), outDir: out });
    assert.equal(summary.kept, 2);
    const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0].reason, 'bad_blur_boxes');
    assert.match(String(rejects[0].detail), /faces.*not inside 0\.\.1/);
    const shard = await shardRows(out, ['caption', 'blurred_boxes', 'exif', 'original_md5']);
    const byCaption = new Map(shard.map((r) => [r.caption, r]));
    assert.equal(byCaption.get('a checkerboard with a box')!.blurred_boxes, 1);
    assert.equal(byCaption.get('a checkerboard without boxes')!.blurred_boxes, 0);
    assert.equal(JSON.parse(String(byCaption.get('a checkerboard without boxes')!.exif))['Image Make'], 'weft-cam');
    assert.match(String(byCaption.get('a checkerboard with a box')!.original_md5), /^[0-9a-f]{32}$/);
  } finally {
    await server.close();
  }
});
