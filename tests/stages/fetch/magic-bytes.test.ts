import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { sniffImageType, describeStart } from '../../../stages/fetch/magic-bytes.ts';

test('real encodings are recognised by their bytes', async () => {
  const img = () => sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } });
  assert.equal(sniffImageType(await img().jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffImageType(await img().png().toBuffer()), 'png');
  assert.equal(sniffImageType(await img().webp().toBuffer()), 'webp');
  assert.equal(sniffImageType(await img().gif().toBuffer()), 'gif');
  assert.equal(sniffImageType(await img().tiff().toBuffer()), 'tiff');
  assert.equal(sniffImageType(await img().avif({ effort: 0 }).toBuffer()), 'avif');
});

test('hand-built headers: BMP needs a real DIB header, HEIF by brand, JPEG XL both forms', () => {
  const bmp = Buffer.alloc(54);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(40, 14);
  assert.equal(sniffImageType(bmp), 'bmp');
  assert.equal(sniffImageType(Buffer.from('BM is a band name, not a bitmap header at all')), null);
  const heic = Buffer.alloc(24);
  heic.writeUInt32BE(24, 0);
  heic.write('ftypheic', 4, 'latin1');
  assert.equal(sniffImageType(heic), 'heif');
  const mp4 = Buffer.from(heic);
  mp4.write('isom', 8, 'latin1');
  assert.equal(sniffImageType(mp4), null, 'an MP4 is not an image');
  assert.equal(sniffImageType(Buffer.from([0xff, 0x0a, 0x00])), 'jxl');
  assert.equal(sniffImageType(Buffer.from([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])), 'jxl');
});

test('HTML, SVG, JSON, empty and truncated bodies are not images', () => {
  for (const text of ['<!DOCTYPE html><html>', '<svg xmlns="http://www.w3.org/2000/svg"/>', '{"error":"nope"}', '', 'GIF8', 'RIFF\0\0\0\0WAVE']) {
    assert.equal(sniffImageType(Buffer.from(text, 'latin1')), null, JSON.stringify(text));
  }
  assert.equal(describeStart(Buffer.from('<html>\n<body>')), 'body starts with "<html>.<body>"');
  assert.equal(describeStart(Buffer.alloc(0)), 'empty body');
});
