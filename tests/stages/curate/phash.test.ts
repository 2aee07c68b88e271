// The perceptual hash on real images rendered and transformed with sharp: resized,
// re-encoded and slightly brightened copies stay within a few bits, different pictures are
// far apart; the near-duplicate index is exact (checked against brute force).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { hammingDistance, hashOfGrey, parsePhash, perceptualHash, perceptualHashOfPixels, phashHex } from '../../../stages/decode/pixel-hash.ts';
import { markNearDuplicates, NearDuplicateIndex, phashStage } from '../../../stages/curate/phash.ts';
import { IMAGE_TEXT, type ImageTextSample } from '../../../schemas/image-text.ts';
import { testContext } from '../../helpers/context.ts';

/** A picture with structure at several scales: a gradient, shapes and a line, per seed. */
function scene(seed: number): Buffer {
  let s = seed * 7919 + 17;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const shapes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const colour = `rgb(${Math.floor(rnd() * 255)},${Math.floor(rnd() * 255)},${Math.floor(rnd() * 255)})`;
    if (rnd() < 0.5) shapes.push(`<circle cx="${rnd() * 320}" cy="${rnd() * 240}" r="${20 + rnd() * 60}" fill="${colour}"/>`);
    else shapes.push(`<rect x="${rnd() * 280}" y="${rnd() * 200}" width="${30 + rnd() * 120}" height="${30 + rnd() * 90}" fill="${colour}"/>`);
  }
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240">
      <defs><linearGradient id="g" x1="0" y1="0" x2="${rnd()}" y2="1"><stop offset="0" stop-color="#${Math.floor(rnd() * 0xffffff).toString(16).padStart(6, '0')}"/><stop offset="1" stop-color="#202020"/></linearGradient></defs>
      <rect width="320" height="240" fill="url(#g)"/>${shapes.join('')}
      <path d="M0 ${rnd() * 240} L320 ${rnd() * 240}" stroke="white" stroke-width="8"/>
    </svg>`,
  );
}

async function png(seed: number): Promise<Buffer> {
  return sharp(scene(seed)).png().toBuffer();
}

test('copies of a picture hash within a few bits; different pictures far apart', async () => {
  const originals = await Promise.all([1, 2, 3, 4, 5, 6].map(png));
  const hashes = await Promise.all(originals.map(perceptualHash));
  for (let i = 0; i < originals.length; i++) {
    const variants = {
      half: await sharp(originals[i]).resize(160).png().toBuffer(),
      upscaled: await sharp(originals[i]).resize(500).jpeg({ quality: 90 }).toBuffer(),
      jpeg40: await sharp(originals[i]).jpeg({ quality: 40 }).toBuffer(),
      webp: await sharp(originals[i]).webp({ quality: 50 }).toBuffer(),
      brighter: await sharp(originals[i]).modulate({ brightness: 1.08 }).png().toBuffer(),
    };
    for (const [name, bytes] of Object.entries(variants)) {
      const d = hammingDistance(hashes[i], await perceptualHash(bytes));
      assert.ok(d <= 4, `scene ${i + 1} ${name}: distance ${d}`);
    }
    for (let j = 0; j < i; j++) {
      const d = hammingDistance(hashes[i], hashes[j]);
      assert.ok(d >= 16, `scenes ${i + 1} and ${j + 1}: distance ${d}`);
    }
  }
});

test('hash basics: 64 bits as 16 hex digits; flat images; distance', () => {
  const flat = hashOfGrey(new Float64Array(32 * 32).fill(128));
  assert.equal(phashHex(flat), '0000000000000000');
  const ramp = hashOfGrey(Float64Array.from({ length: 1024 }, (_, i) => i % 32));
  assert.equal(phashHex(ramp).length, 16);
  assert.equal(parsePhash(phashHex(ramp)), ramp);
  assert.throws(() => parsePhash('xyz'), /64-bit hex/);
  assert.equal(hammingDistance(0n, 0xffffffffffffffffn), 64);
  assert.equal(hammingDistance(0x8000000000000001n, 1n), 1);
  assert.equal(hammingDistance(0x00000000ffffffffn, 0xffffffff00000000n), 64);
});

/** The 32x32 area average computed the slow, obvious way: integrate every pixel over every cell. */
function bruteForceGrey(data: Uint8Array, width: number, height: number, channels: number): Float64Array {
  const grey = new Float64Array(32 * 32);
  const cw = width / 32;
  const ch = height / 32;
  for (let v = 0; v < 32; v++) {
    for (let u = 0; u < 32; u++) {
      let sum = 0;
      for (let y = Math.floor(v * ch); y < Math.min(height, Math.ceil((v + 1) * ch)); y++) {
        const oy = Math.min(y + 1, (v + 1) * ch) - Math.max(y, v * ch);
        for (let x = Math.floor(u * cw); x < Math.min(width, Math.ceil((u + 1) * cw)); x++) {
          const ox = Math.min(x + 1, (u + 1) * cw) - Math.max(x, u * cw);
          const o = (y * width + x) * channels;
          const luma = channels >= 3 ? 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2] : data[o];
          sum += luma * ox * oy;
        }
      }
      grey[v * 32 + u] = sum / (cw * ch);
    }
  }
  return grey;
}

test('perceptualHashOfPixels is the pHash of the exact area average, for large, odd and tiny sizes', async () => {
  for (const [seed, width, height, channels] of [[1, 256, 341, 3], [2, 97, 45, 4], [3, 20, 7, 1], [4, 32, 32, 3], [5, 33, 600, 3]]) {
    const image = sharp(await png(seed)).resize(width, height, { fit: 'fill' }).toColourspace(channels === 1 ? 'b-w' : 'srgb');
    const { data, info } = await (channels === 4 ? image.ensureAlpha() : image.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, channels);
    const fast = perceptualHashOfPixels(data, info.width, info.height, info.channels);
    const slow = hashOfGrey(bruteForceGrey(data, info.width, info.height, info.channels));
    assert.equal(phashHex(fast), phashHex(slow), `${width}x${height}x${info.channels}`);
  }
  // The hash from pixels and the hash from an encoded copy of them agree within a few bits.
  const { data, info } = await sharp(await png(7)).raw().toBuffer({ resolveWithObject: true });
  const fromPixels = perceptualHashOfPixels(data, info.width, info.height, info.channels);
  const fromJpeg = await perceptualHash(await sharp(data, { raw: info }).jpeg({ quality: 80 }).toBuffer());
  assert.ok(hammingDistance(fromPixels, fromJpeg) <= 2, `distance ${hammingDistance(fromPixels, fromJpeg)}`);
});

test('the near-duplicate index finds exactly what brute force finds, for every distance', () => {
  let s = 12345n;
  const rnd64 = () => (s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn);
  const flip = (h: bigint, bits: number) => {
    let out = h;
    const used = new Set<number>();
    while (used.size < bits) used.add(Number(rnd64() >> 58n));
    for (const b of used) out ^= 1n << BigInt(b);
    return out;
  };
  for (const maxDistance of [0, 1, 3, 4, 7, 10]) {
    const index = new NearDuplicateIndex(maxDistance);
    const roots: { id: string; hash: bigint }[] = [];
    const seeds: bigint[] = [];
    for (let i = 0; i < 400; i++) {
      // Half fresh random hashes, half near copies of an earlier one.
      const hash = i % 2 === 0 || seeds.length === 0 ? rnd64() : flip(seeds[Number(rnd64() % BigInt(seeds.length))], Number(rnd64() % 12n));
      seeds.push(hash);
      let want: { id: string; distance: number } | undefined;
      for (const r of roots) {
        const d = hammingDistance(hash, r.hash);
        if (d <= maxDistance && (!want || d < want.distance)) want = { id: r.id, distance: d };
      }
      const got = index.matchOrAdd(`h${i}`, hash);
      assert.deepEqual(got, want, `max ${maxDistance}, item ${i}`);
      if (!want) roots.push({ id: `h${i}`, hash });
    }
  }
  assert.throws(() => new NearDuplicateIndex(33), /\[0, 32\]/);
});

test('markNearDuplicates: later rows point at the earliest root, never at another near duplicate', () => {
  const a = 0x0f0f0f0f0f0f0f0fn;
  const rows = [
    { id: 'a', phash: phashHex(a) },
    { id: 'b', phash: phashHex(a ^ 0b11n) }, // 2 bits from a
    { id: 'c', phash: phashHex(a ^ 0b11111n) }, // 5 from a, 3 from b
    { id: 'd', phash: phashHex(~a & 0xffffffffffffffffn) },
    { id: 'e', phash: phashHex(a) },
  ];
  assert.deepEqual([...markNearDuplicates(rows, 4)], [['b', 'a'], ['e', 'a']]);
  assert.deepEqual([...markNearDuplicates(rows, 5)], [['b', 'a'], ['c', 'a'], ['e', 'a']]);
  assert.deepEqual([...markNearDuplicates(rows, 0)], [['e', 'a']]);
});

test('phashStage adds phash and near_dup_of in input order, whatever order hashes finish in', async () => {
  const [one, two] = await Promise.all([png(11), png(12)]);
  const oneSmall = await sharp(one).resize(200).jpeg({ quality: 70 }).toBuffer();
  const images = [one, two, oneSmall, Buffer.from('not an image'), one];
  async function* input(): AsyncGenerator<ImageTextSample> {
    let i = 0;
    for (const bytes of images) {
      yield { id: `p${i}`, kind: IMAGE_TEXT, source: `t:${i++}`, caption: 'x', image: { bytes, path: 'x.png' }, width: 1, height: 1, originalWidth: 1, originalHeight: 1, sha256: 'x' };
    }
  }
  const ctx = testContext();
  const out = [];
  for await (const s of phashStage({ maxDistance: 4, concurrency: 3 })(input(), ctx)) out.push(s);
  assert.deepEqual(out.map((s) => [s.id, s.nearDupOf]), [['p0', null], ['p1', null], ['p2', 'p0'], ['p4', 'p0']]);
  assert.equal(out[3].nearDupDistance, 0);
  assert.match(out[0].phash, /^[0-9a-f]{16}$/);
  assert.equal('phashValue' in out[0], false);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]), [['p3', 'phash', 'phash_failed']]);
  assert.deepEqual(ctx.stats.toJSON().counters.near_dup, { marked: 2 });
});
