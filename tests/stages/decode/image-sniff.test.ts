// Formats the installed sharp cannot decode are their own reject; unknown bytes are described
// by type, never quoted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeSchema } from '../../../schemas/config.ts';
import { isDrop } from '../../../core/stage.ts';
import { decodeImage } from '../../../stages/decode/image-decode.ts';
import { decodableBySharp, describeLeadingBytes, sniffImageFormat } from '../../../stages/decode/image-sniff.ts';

/** A valid 2x2 24-bit BMP. */
function bmp(): Buffer {
  const rowBytes = 8; // 2 px * 3 bytes, padded to 4
  const pixels = Buffer.alloc(rowBytes * 2, 0x80);
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + pixels.length, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(2, 18);
  header.writeInt32LE(2, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(pixels.length, 34);
  return Buffer.concat([header, pixels]);
}

/** The start of an ISO-BMFF file with the given brand (HEIC, AVIF). */
function ftyp(brand: string): Buffer {
  const box = Buffer.alloc(24);
  box.writeUInt32BE(24, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(brand, 8, 'latin1');
  box.write('mif1', 16, 'latin1');
  return Buffer.concat([box, Buffer.alloc(64)]);
}

test('BMP and HEIC are unsupported_format when sharp has no decoder for them, never decode_failed', async () => {
  const cfg = decodeSchema.parse({});
  for (const [bytes, format] of [[bmp(), 'bmp'], [ftyp('heic'), 'heif']] as const) {
    assert.equal(sniffImageFormat(bytes), format);
    const result = await decodeImage(bytes, cfg);
    if (decodableBySharp(format, sharp.format as never)) continue; // a libvips build with the loader
    assert.ok(isDrop(result));
    assert.equal(result.reason, 'unsupported_format', `${format}: ${result.detail}`);
  }
  // What the prebuilt libvips says about itself.
  assert.equal(decodableBySharp('bmp', { magick: { input: { buffer: false } } }), false);
  assert.equal(decodableBySharp('heif', { heif: { input: { buffer: true, fileSuffix: ['.avif'] } } }), false);
  assert.equal(decodableBySharp('avif', { heif: { input: { buffer: true, fileSuffix: ['.avif'] } } }), true);
  assert.equal(decodableBySharp('png', sharp.format as never), true);
});

test('unknown leading bytes are named by type, not quoted', () => {
  const cases: [string | Buffer, RegExp][] = [
    ['root:x:0:0:root:/root:/bin/bash\n', /^plain text$/],
    ['<!DOCTYPE html><html>secret</html>', /HTML/],
    ['%PDF-1.7 secret', /PDF/],
    [Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), /gzip/],
    [Buffer.from([0x00, 0x13, 0x37, 0x42, 0x99]), /unrecognised header/],
  ];
  for (const [input, want] of cases) {
    const detail = describeLeadingBytes(Buffer.from(input));
    assert.match(detail, want);
    assert.doesNotMatch(detail, /root|secret|13 37/);
  }
});
