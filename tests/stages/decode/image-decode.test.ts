import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeSchema, type DecodeConfig } from '../../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw, type ImageTextSample } from '../../../schemas/image-text.ts';
import { isDrop, UnitFailure, type Drop, type StageContext } from '../../../core/stage.ts';
import { decodeImage, decodeImageText, imageDecodeStage, type DecodedImage } from '../../../stages/decode/image-decode.ts';
import { pngBombBytes } from '../../../corpora/demo-corpus.ts';
import { hammingDistance, perceptualHash } from '../../../stages/decode/pixel-hash.ts';
import { testContext } from '../../helpers/context.ts';

const cfg = (over: Partial<DecodeConfig> = {}): DecodeConfig => decodeSchema.parse({ encode_quality: 95, ...over });

function makeCtx(): StageContext {
  return testContext();
}

type RGB = [number, number, number];

/** width x height image made of three vertical bands: left red, middle green, right blue. */
async function bands(width: number, height: number): Promise<Buffer> {
  const third = Math.round(width / 3);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="${width}" height="${height}" fill="#00ff00"/>
    <rect width="${third}" height="${height}" fill="#ff0000"/>
    <rect x="${width - third}" width="${third}" height="${height}" fill="#0000ff"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

async function pixel(bytes: Uint8Array, x: number, y: number): Promise<RGB> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

function assertNear(actual: RGB, expected: RGB, what: string, tolerance = 40): void {
  const ok = actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance);
  assert.ok(ok, `${what}: got rgb(${actual.join(',')}), expected about rgb(${expected.join(',')})`);
}

function decoded(r: DecodedImage | Drop): DecodedImage {
  if (isDrop(r)) assert.fail(`unexpected drop ${r.reason}: ${r.detail}`);
  return r;
}

function dropped(r: DecodedImage | ImageTextSample | Drop, reason: string): Drop {
  assert.ok(isDrop(r), `expected a drop with ${reason}`);
  assert.equal(r.reason, reason, r.detail);
  return r;
}

const RED: RGB = [255, 0, 0];
const GREEN: RGB = [0, 255, 0];
const BLUE: RGB = [0, 0, 255];

test('keep_ratio scales the shorter side to image_size, both down and up, keeping the aspect', async () => {
  const landscape = decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'keep_ratio', image_size: 50 })));
  assert.deepEqual([landscape.width, landscape.height, landscape.originalWidth, landscape.originalHeight], [150, 50, 300, 100]);
  const portrait = decoded(await decodeImage(await bands(100, 300), cfg({ resize_mode: 'keep_ratio', image_size: 50 })));
  assert.deepEqual([portrait.width, portrait.height], [50, 150]);
  const upscaled = decoded(await decodeImage(await bands(40, 20), cfg({ resize_mode: 'keep_ratio', image_size: 50 })));
  assert.deepEqual([upscaled.width, upscaled.height], [100, 50]);
});

test('none keeps the decoded size', async () => {
  const out = decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'none', image_size: 50 })));
  assert.deepEqual([out.width, out.height], [300, 100]);
});

test('center_crop gives a square from the centre of the image', async () => {
  const out = decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'center_crop', image_size: 60 })));
  assert.deepEqual([out.width, out.height], [60, 60]);
  // The centre 100x100 of a red|green|blue strip is all green: no red or blue may survive.
  for (const [x, y] of [[1, 1], [58, 1], [1, 58], [58, 58], [30, 30]]) assertNear(await pixel(out.bytes, x, y), GREEN, `pixel ${x},${y}`);
});

test('border fits the longer side and pads a centred square with border_color', async () => {
  const out = decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'border', image_size: 60, border_color: [255, 0, 255] })));
  assert.deepEqual([out.width, out.height], [60, 60]);
  // Content is 60x20, rows 20..39; rows above and below are padding.
  const MAGENTA: RGB = [255, 0, 255];
  for (const [x, y] of [[30, 3], [30, 56], [2, 2], [57, 57]]) assertNear(await pixel(out.bytes, x, y), MAGENTA, `padding ${x},${y}`);
  assertNear(await pixel(out.bytes, 5, 30), RED, 'content left');
  assertNear(await pixel(out.bytes, 30, 30), GREEN, 'content centre');
  assertNear(await pixel(out.bytes, 55, 30), BLUE, 'content right');
});

test('jpeg and webp outputs decode back and sha256 is the hash of the stored bytes', async () => {
  for (const encode_format of ['jpeg', 'webp'] as const) {
    const out = decoded(await decodeImage(await bands(90, 60), cfg({ encode_format, image_size: 30 })));
    const meta = await sharp(out.bytes).metadata();
    assert.equal(meta.format, encode_format);
    assert.deepEqual([meta.width, meta.height, meta.channels], [out.width, out.height, 3]);
    assert.equal(out.sha256, createHash('sha256').update(out.bytes).digest('hex'));
    assert.equal(out.sourceFormat, 'png');
  }
});

test('EXIF orientation is applied before sizes are measured', async () => {
  // Stored 40x20 with red on the left; orientation 6 means "rotate 90 degrees clockwise to view".
  const stored = await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">
    <rect width="40" height="20" fill="#0000ff"/><rect width="20" height="20" fill="#ff0000"/></svg>`))
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  assert.equal((await sharp(stored).metadata()).orientation, 6);
  const out = decoded(await decodeImage(stored, cfg({ resize_mode: 'none' })));
  assert.deepEqual([out.width, out.height, out.originalWidth, out.originalHeight], [20, 40, 20, 40]);
  assertNear(await pixel(out.bytes, 10, 5), RED, 'top after rotation');
  assertNear(await pixel(out.bytes, 10, 35), BLUE, 'bottom after rotation');
});

test('transparency is flattened onto white and grey images come out as RGB', async () => {
  const transparent = await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const out = decoded(await decodeImage(transparent, cfg({ resize_mode: 'none' })));
  assertNear(await pixel(out.bytes, 8, 8), [255, 255, 255], 'transparent pixel', 10);
  const grey = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const greyOut = decoded(await decodeImage(grey, cfg({ resize_mode: 'none' })));
  assert.equal((await sharp(greyOut.bytes).metadata()).channels, 3);
});

test('guards: too_small, aspect_ratio and too_many_pixels state the measured value and the limit', async () => {
  const small = dropped(await decodeImage(await bands(300, 100), cfg({ min_side: 120 })), 'too_small');
  assert.match(small.detail, /100 px.*min_side 120/);
  const wide = dropped(await decodeImage(await bands(1100, 100), cfg({ max_aspect_ratio: 10 })), 'aspect_ratio');
  assert.match(wide.detail, /11\.00.*max_aspect_ratio 10/);
  const big = dropped(await decodeImage(await bands(300, 100), cfg({ max_pixels: 29_999 })), 'too_many_pixels');
  assert.match(big.detail, /300x100 = 30000 pixels > max_pixels 29999/);
  // At the limits exactly, the image passes.
  decoded(await decodeImage(await bands(300, 100), cfg({ min_side: 100, max_aspect_ratio: 3, max_pixels: 30_000 })));
});

test('a PNG header claiming 100000x100000 is rejected from the header alone', async () => {
  const bomb = pngBombBytes();
  assert.ok(bomb.length < 2000);
  const r = dropped(await decodeImage(bomb, cfg()), 'too_many_pixels');
  assert.match(r.detail, /100000x100000 = 10000000000 pixels > max_pixels 89478485/);
});

test('bad bytes: empty, not an image, truncated JPEG, truncated PNG', async () => {
  dropped(await decodeImage(new Uint8Array(0), cfg()), 'empty_file');
  const html = dropped(await decodeImage(Buffer.from('<!DOCTYPE html><html>404</html>'), cfg()), 'not_image');
  assert.match(html.detail, /^an HTML document/);
  assert.doesNotMatch(html.detail, /404/); // details name the type, never quote the bytes
  dropped(await decodeImage(Buffer.from([0x00, 0x01, 0x02, 0x03, 0xff]), cfg()), 'not_image');
  const jpeg = await sharp(await bands(120, 90)).jpeg({ quality: 90 }).toBuffer();
  decoded(await decodeImage(jpeg, cfg()));
  const cutJpeg = dropped(await decodeImage(jpeg.subarray(0, jpeg.length >> 1), cfg()), 'decode_failed');
  assert.match(cutJpeg.detail, /jpeg/i);
  const png = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
  dropped(await decodeImage(png.subarray(0, png.length >> 1), cfg()), 'decode_failed');
  // A valid magic number with garbage behind it.
  dropped(await decodeImage(Buffer.concat([jpeg.subarray(0, 3), Buffer.alloc(200, 7)]), cfg()), 'decode_failed');
});

test('decodeImageText reads files, names the image by file name, rejects what is no file and fails on missing ones', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-decode-'));
  try {
    await writeFile(path.join(dir, 'cat.png'), await bands(60, 30));
    const base: ImageTextRaw = { id: 'cat', kind: IMAGE_TEXT, source: 'cat.png', caption: 'a cat', extra: { k: 'v' } };
    const sample = await decodeImageText({ ...base, imagePath: path.join(dir, 'cat.png') }, cfg({ image_size: 30 }));
    assert.ok(!isDrop(sample));
    assert.equal(sample.image.path, 'cat.png');
    assert.deepEqual([sample.width, sample.height, sample.originalWidth, sample.originalHeight], [60, 30, 60, 30]);
    assert.deepEqual(sample.extra, { k: 'v' });
    assert.equal(sample.caption, 'a cat');
    // A missing file is a read failure of the unit (retried on rerun), not a reject.
    await assert.rejects(decodeImageText({ ...base, imagePath: path.join(dir, 'nope.png') }, cfg()), (e: Error) => e instanceof UnitFailure && /nope\.png: ENOENT/.test(e.message));
    dropped(await decodeImageText({ ...base, imagePath: dir }, cfg()), 'not_regular_file');
    dropped(await decodeImageText({ ...base, url: 'http://127.0.0.1/x.jpg' }, cfg()), 'read_failed');
    const fromBytes = await decodeImageText({ ...base, url: 'http://127.0.0.1/x.png', imageBytes: await bands(60, 30) }, cfg({ image_size: 30 }));
    assert.ok(!isDrop(fromBytes));
    assert.equal(fromBytes.image.path, 'http://127.0.0.1/x.png');
    assert.equal(fromBytes.url, 'http://127.0.0.1/x.png');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the decode stage keeps order under concurrency and ledgers every drop', async () => {
  const good = await bands(60, 30);
  const items: ImageTextRaw[] = [
    { id: 'a', kind: IMAGE_TEXT, source: 'a', caption: 'a', imageBytes: good },
    { id: 'b', kind: IMAGE_TEXT, source: 'b', caption: 'b', imageBytes: new Uint8Array(0) },
    { id: 'c', kind: IMAGE_TEXT, source: 'c', caption: 'c', imageBytes: pngBombBytes() },
    { id: 'd', kind: IMAGE_TEXT, source: 'd', caption: 'd', imageBytes: Buffer.from('hello') },
    { id: 'e', kind: IMAGE_TEXT, source: 'e', caption: 'e', imageBytes: good },
  ];
  const ctx = makeCtx();
  async function* input() {
    yield* items;
  }
  const out: ImageTextSample[] = [];
  for await (const s of imageDecodeStage(cfg({ image_size: 30 }), 3)(input(), ctx)) out.push(s);
  assert.deepEqual(out.map((s) => s.id), ['a', 'e']);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]), [
    ['b', 'decode', 'empty_file'],
    ['c', 'decode', 'too_many_pixels'],
    ['d', 'decode', 'not_image'],
  ]);
  const stats = ctx.stats.stage('decode');
  assert.deepEqual([stats.in, stats.out, stats.droppedTotal], [5, 2, 3]);
});

test('keep_ratio_largest scales the longer side to image_size', async () => {
  const landscape = decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'keep_ratio_largest', image_size: 60 })));
  assert.deepEqual([landscape.width, landscape.height], [60, 20]);
  const portrait = decoded(await decodeImage(await bands(100, 300), cfg({ resize_mode: 'keep_ratio_largest', image_size: 60 })));
  assert.deepEqual([portrait.width, portrait.height], [20, 60]);
});

test('resize_only_if_bigger never scales up, and gates each mode on the side that mode scales', async () => {
  const size = (d: DecodedImage) => [d.width, d.height];
  const only = (resize_mode: DecodeConfig['resize_mode'], image_size: number) => cfg({ resize_mode, image_size, resize_only_if_bigger: true });
  // keep_ratio: shorter side 100 <= 120 stays; 100 > 50 scales down.
  assert.deepEqual(size(decoded(await decodeImage(await bands(300, 100), only('keep_ratio', 120)))), [300, 100]);
  assert.deepEqual(size(decoded(await decodeImage(await bands(300, 100), only('keep_ratio', 50)))), [150, 50]);
  // keep_ratio_largest: longer side 300 > 120 scales down; 300 <= 400 stays.
  assert.deepEqual(size(decoded(await decodeImage(await bands(300, 100), only('keep_ratio_largest', 120)))), [120, 40]);
  assert.deepEqual(size(decoded(await decodeImage(await bands(300, 100), only('keep_ratio_largest', 400)))), [300, 100]);
  // center_crop: not scaled (shorter 100 <= 120) but the longer side is still cropped to 120, from the centre.
  const cropped = decoded(await decodeImage(await bands(300, 100), only('center_crop', 120)));
  assert.deepEqual(size(cropped), [120, 100]);
  // Source columns 90..209 of red 0..99 | green 100..199 | blue 200..299.
  assertNear(await pixel(cropped.bytes, 3, 50), RED, 'cropped left edge');
  for (const x of [15, 60, 105]) assertNear(await pixel(cropped.bytes, x, 50), GREEN, `cropped pixel ${x}`);
  assertNear(await pixel(cropped.bytes, 116, 50), BLUE, 'cropped right edge');
  // border: not scaled (longer 300 <= 400) but padded to the 400 square around the unscaled image.
  const padded = decoded(await decodeImage(await bands(300, 100), { ...only('border', 400), border_color: [255, 0, 255] }));
  assert.deepEqual(size(padded), [400, 400]);
  assertNear(await pixel(padded.bytes, 200, 20), [255, 0, 255], 'padding above');
  assertNear(await pixel(padded.bytes, 10, 200), [255, 0, 255], 'padding left');
  assertNear(await pixel(padded.bytes, 60, 200), RED, 'content left at its own scale');
  // Without the switch the same image is scaled up.
  assert.deepEqual(size(decoded(await decodeImage(await bands(300, 100), cfg({ resize_mode: 'keep_ratio', image_size: 120 })))), [360, 120]);
});

test('png output is lossless', async () => {
  const input = await bands(90, 60);
  const out = decoded(await decodeImage(input, cfg({ encode_format: 'png', resize_mode: 'none' })));
  assert.equal((await sharp(out.bytes).metadata()).format, 'png');
  const raw = async (b: Uint8Array) => sharp(b).removeAlpha().raw().toBuffer();
  assert.ok((await raw(out.bytes)).equals(await raw(input)));
});

test('skip_reencode stores the original bytes only when nothing would change them', async () => {
  const jpeg = await sharp(await bands(120, 90)).jpeg({ quality: 80 }).toBuffer();
  const keep = cfg({ skip_reencode: true, resize_mode: 'none' });
  const kept = decoded(await decodeImage(jpeg, keep));
  assert.equal(kept.stored, 'original');
  assert.ok(Buffer.from(kept.bytes).equals(jpeg));
  assert.equal(kept.sha256, createHash('sha256').update(jpeg).digest('hex'));
  assert.deepEqual([kept.width, kept.height], [120, 90]);
  assert.ok(kept.pixelHash !== undefined);
  // resize_only_if_bigger leaves a small image alone, so it is kept too.
  assert.equal(decoded(await decodeImage(jpeg, cfg({ skip_reencode: true, resize_only_if_bigger: true, image_size: 256 }))).stored, 'original');
  // Re-encoded: a resize, another target format, an EXIF rotation, transparency.
  assert.equal(decoded(await decodeImage(jpeg, cfg({ skip_reencode: true, image_size: 45 }))).stored, 'reencoded');
  assert.equal(decoded(await decodeImage(jpeg, cfg({ skip_reencode: true, resize_mode: 'none', encode_format: 'webp' }))).stored, 'reencoded');
  const rotated = await sharp(await bands(120, 90)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  assert.equal(decoded(await decodeImage(rotated, keep)).stored, 'reencoded');
  const transparent = await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
  assert.equal(decoded(await decodeImage(transparent, cfg({ skip_reencode: true, resize_mode: 'none', encode_format: 'png' }))).stored, 'reencoded');
  // A truncated original is still rejected, not stored on the strength of its header.
  dropped(await decodeImage(jpeg.subarray(0, jpeg.length >> 1), keep), 'decode_failed');
  // The stage counts what it kept as it came.
  const ctx = makeCtx();
  async function* input() {
    yield { id: 'a', kind: IMAGE_TEXT, source: 'a', caption: 'a', imageBytes: jpeg } as ImageTextRaw;
    yield { id: 'b', kind: IMAGE_TEXT, source: 'b', caption: 'b', imageBytes: rotated } as ImageTextRaw;
  }
  for await (const _ of imageDecodeStage(keep, 2)(input(), ctx));
  assert.equal(ctx.stats.counters.get('decode')?.get('kept_original_bytes'), 1);
});

test('decoded samples carry the pHash of their pixels, close to the hash of the stored bytes', async () => {
  const sample = await decodeImageText({ id: 'x', kind: IMAGE_TEXT, source: 'x', caption: 'x', imageBytes: await bands(300, 200) }, cfg({ image_size: 64 }));
  assert.ok(!isDrop(sample) && sample.pixelHash !== undefined);
  assert.ok(hammingDistance(sample.pixelHash, await perceptualHash(sample.image.bytes)) <= 2);
});
