import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imageSize, makeThumbnail, safeThumb } from '../../../stages/decode/thumbnails.ts';

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } });

function dataBytes(uri: string): Buffer {
  return Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
}

test('makeThumbnail shrinks to maxSide on the long side and returns a JPEG data URI', async () => {
  const uri = await makeThumbnail(await picture(400, 300).png().toBuffer());
  assert.match(uri, /^data:image\/jpeg;base64,[A-Za-z0-9+/]+=*$/);
  const meta = await sharp(dataBytes(uri)).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.deepEqual([meta.width, meta.height], [96, 72]);
  assert.ok(uri.length < 4000, `thumbnail is small (${uri.length} chars)`);
});

test('makeThumbnail honours maxSide, keeps portrait orientation and never enlarges', async () => {
  const tall = await sharp(dataBytes(await makeThumbnail(await picture(300, 600).jpeg().toBuffer(), 64))).metadata();
  assert.deepEqual([tall.width, tall.height], [32, 64]);
  const small = await sharp(dataBytes(await makeThumbnail(await picture(40, 30).png().toBuffer()))).metadata();
  assert.deepEqual([small.width, small.height], [40, 30]);
});

test('makeThumbnail flattens transparency onto white', async () => {
  const transparent = await sharp({ create: { width: 50, height: 50, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const { data } = await sharp(dataBytes(await makeThumbnail(transparent))).raw().toBuffer({ resolveWithObject: true });
  assert.ok(data[0] > 240 && data[1] > 240 && data[2] > 240, `pixel ${data[0]},${data[1]},${data[2]}`);
});

test('makeThumbnail rejects bytes that are not an image', async () => {
  await assert.rejects(makeThumbnail(new TextEncoder().encode('<html>not an image</html>')));
});

test('imageSize reads JPEG, PNG, WebP and GIF headers as sharp does', async () => {
  for (const [format, w, h] of [['jpeg', 96, 72], ['png', 33, 17], ['webp', 50, 70], ['gif', 12, 9]] as const) {
    const bytes = await picture(w, h).toFormat(format).toBuffer();
    assert.deepEqual(imageSize(bytes), { width: w, height: h }, format);
  }
  const lossless = await picture(41, 23).webp({ lossless: true }).toBuffer();
  assert.deepEqual(imageSize(lossless), { width: 41, height: 23 });
  assert.deepEqual(imageSize(new Uint8Array([1, 2, 3])), {});
});

test('safeThumb accepts inline raster data URIs only', async () => {
  const ok = safeThumb(await makeThumbnail(await picture(80, 40).png().toBuffer()));
  assert.deepEqual(ok && { mime: ok.mime, width: ok.width, height: ok.height }, { mime: 'image/jpeg', width: 80, height: 40 });
  for (const bad of [
    'https://example.com/a.jpg',
    '//example.com/a.jpg',
    'javascript:alert(1)',
    'data:text/html;base64,PHNjcmlwdD4=',
    `data:image/svg+xml;base64,${Buffer.from('<svg onload="alert(1)"/>').toString('base64')}`,
    'data:image/png;base64,AAAA" onerror="alert(1)',
    'data:image/png,rawbytes',
    42,
    undefined,
  ]) {
    assert.equal(safeThumb(bad), undefined, String(bad));
  }
});
