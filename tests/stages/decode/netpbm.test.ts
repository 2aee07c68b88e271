import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeNetpbm, parseNetpbm, NetpbmError } from '../../../stages/decode/netpbm.ts';

const ascii = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

test('16-bit PGM round-trips in both byte orders, and the order matters', () => {
  const data = Uint16Array.from([0, 1, 256, 4660, 65535, 2047]);
  for (const order of ['big', 'little'] as const) {
    const bytes = encodeNetpbm({ width: 3, height: 2, channels: 1, maxval: 65535, data }, order);
    const img = parseNetpbm(bytes, { byteOrder: order });
    assert.equal(img.magic, 'P5');
    assert.deepEqual([img.width, img.height, img.channels, img.maxval], [3, 2, 1, 65535]);
    assert.deepEqual(Array.from(img.data), Array.from(data));
  }
  const big = encodeNetpbm({ width: 3, height: 2, channels: 1, maxval: 65535, data }, 'big');
  assert.equal(parseNetpbm(big, { byteOrder: 'little' }).data[3], 0x3412);
});

test('8-bit PPM with header comments parses to RGB bytes', () => {
  const raster = Uint8Array.from([255, 0, 0, 0, 255, 0]);
  const bytes = concat(ascii('P6\n# made by a camera\n2 # width\n1\n255\n'), raster);
  const img = parseNetpbm(bytes);
  assert.equal(img.channels, 3);
  assert.ok(img.data instanceof Uint8Array);
  assert.deepEqual(Array.from(img.data), Array.from(raster));
});

test('malformed files are refused with a reason, never read out of bounds', () => {
  const good = encodeNetpbm({ width: 4, height: 4, channels: 1, maxval: 65535, data: new Uint16Array(16) });
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /magic/],
    ['ascii PGM', ascii('P2\n1 1\n255\n0\n'), /magic/],
    ['truncated raster', good.subarray(0, good.length - 1), /truncated/],
    ['header only', ascii('P5\n4 4\n65535\n'), /truncated/],
    ['missing height', ascii('P5\n4\n'), /maxval|height/],
    ['zero width', concat(ascii('P5\n0 4\n255\n'), new Uint8Array(4)), /bad size/],
    ['maxval 0', concat(ascii('P5\n1 1\n0\n'), new Uint8Array(1)), /maxval/],
    ['maxval too big', concat(ascii('P5\n1 1\n70000\n'), new Uint8Array(4)), /maxval/],
    ['huge size', ascii('P6\n60000 60000\n255\n'), /exceeds/],
    ['overflowing number', ascii('P5\n99999999999999 1\n255\n'), /too large/],
    ['no space before raster', ascii('P5\n1 1\n255'), /whitespace/],
    ['sample above maxval', concat(ascii('P5\n2 1\n100\n'), Uint8Array.from([5, 200])), /exceeds maxval/],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(() => parseNetpbm(bytes, { maxPixels: 10_000_000 }), (err: unknown) => err instanceof NetpbmError && message.test(err.message), name);
  }
});

test('an 8-bit PGM decodes to bytes (callers tell 8- from 16-bit by the array type)', () => {
  const img = parseNetpbm(concat(ascii('P5 2 1 255\n'), Uint8Array.from([7, 9])));
  assert.ok(img.data instanceof Uint8Array);
  assert.equal(img.maxval, 255);
});
