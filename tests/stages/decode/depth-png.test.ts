import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { DropError } from '../../../core/stage.ts';
import { decodeDepthPng, encodeDepthPng, sunrgbdDecodeBits, sunrgbdEncodeBits } from '../../../stages/decode/depth-png.ts';

const dropReason = (reason: string) => (err: unknown) => err instanceof DropError && err.reason === reason;

test('16-bit depth PNG round-trips exactly through sharp', async () => {
  const data = new Uint16Array(37 * 11);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2749) % 65536;
  const png = await encodeDepthPng({ width: 37, height: 11, data });
  assert.equal((await sharp(png).metadata()).depth, 'ushort');
  const back = await decodeDepthPng(png);
  assert.deepEqual([back.width, back.height], [37, 11]);
  assert.deepEqual(Array.from(back.data), Array.from(data));
});

test('8-bit depth is depth_not_16bit; garbage and truncated PNGs are decode_failed', async () => {
  const eightBit = await sharp(Buffer.alloc(16, 9), { raw: { width: 4, height: 4, channels: 1 } }).png().toBuffer();
  await assert.rejects(decodeDepthPng(eightBit), dropReason('depth_not_16bit'));
  await assert.rejects(decodeDepthPng(new TextEncoder().encode('not a png at all')), dropReason('decode_failed'));
  const noisy = new Uint16Array(64 * 64).map((_, i) => (i * 7919) % 65536);
  const png = await encodeDepthPng({ width: 64, height: 64, data: noisy });
  await assert.rejects(decodeDepthPng(png.subarray(0, png.length >> 1)), dropReason('decode_failed'));
  const jpeg = await sharp(Buffer.alloc(48, 100), { raw: { width: 4, height: 4, channels: 3 } }).jpeg().toBuffer();
  await assert.rejects(decodeDepthPng(jpeg), dropReason('decode_failed'));
});

test('SUN RGB-D bit rotation: (d >> 3) | (d << 13) inverts the stored encoding', () => {
  const mm = Uint16Array.from([0, 1, 1000, 8191, 65535]);
  const stored = sunrgbdEncodeBits(mm);
  assert.equal(stored[2], 8000); // 1000 mm is stored as 1000 << 3
  assert.equal(stored[3], 65528);
  assert.deepEqual(Array.from(sunrgbdDecodeBits(stored)), Array.from(mm));
});
