// The report's edge overlay: registered depth puts its edges on the colour edges; a shifted
// depth draws its outline offset by the shift, in its own colour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overlayPixels, registrationOverlay, OVERLAY_COLOURS } from '../../../stages/align/rgbd-overlay.ts';
import { registerDepthToRgb, translateDepth } from '../../../stages/align/rgbd-registration.ts';
import { safeThumb } from '../../../stages/decode/thumbnails.ts';

const W = 96;
const H = 72;

/** A bright box on a dark background; its depth is nearer than the wall behind it. */
function scene() {
  const rgb = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  const depth = { width: W, height: H, data: new Uint16Array(W * H) };
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inBox = x >= 30 && x < 60 && y >= 20 && y < 50;
      rgb.data.fill(inBox ? 220 : 40, (y * W + x) * 3, (y * W + x) * 3 + 3);
      depth.data[y * W + x] = inBox ? 1500 : 4000;
    }
  }
  return { rgb, depth };
}

type Px = { width: number; height: number; data: Uint8Array };
const colourAt = (px: Px, i: number) => [px.data[i * 3], px.data[i * 3 + 1], px.data[i * 3 + 2]].join(',');
function pixelsOf(px: Px, c: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < px.width * px.height; i++) if (colourAt(px, i) === c.join(',')) out.push(i);
  return out;
}
/** Distance in pixels from a pixel to the nearest pixel of a set (Chebyshev). */
function nearest(px: Px, i: number, set: number[]): number {
  const x = i % px.width;
  const y = Math.floor(i / px.width);
  return Math.min(...set.map((j) => Math.max(Math.abs((j % px.width) - x), Math.abs(Math.floor(j / px.width) - y))));
}

test('registered depth edges coincide with colour edges; shifted ones are drawn offset by the shift', async () => {
  const { rgb, depth } = scene();
  const aligned = await overlayPixels(rgb, depth, { maxSide: W });
  assert.deepEqual([aligned.width, aligned.height], [W, H]);
  const colourAligned = [...pixelsOf(aligned, OVERLAY_COLOURS.rgbEdge), ...pixelsOf(aligned, OVERLAY_COLOURS.both)];
  const depthOnly = pixelsOf(aligned, OVERLAY_COLOURS.depthEdge);
  assert.ok(pixelsOf(aligned, OVERLAY_COLOURS.both).length > 20, 'coinciding edges are drawn white');
  for (const i of depthOnly) assert.ok(nearest(aligned, i, colourAligned) <= 1, 'a registered depth edge lies within 1 px of a colour edge');

  const shifted = await overlayPixels(rgb, translateDepth(depth, 6, 0), { maxSide: W });
  const colourEdges = [...pixelsOf(shifted, OVERLAY_COLOURS.rgbEdge), ...pixelsOf(shifted, OVERLAY_COLOURS.both)];
  const depthEdges = pixelsOf(shifted, OVERLAY_COLOURS.depthEdge);
  const far = depthEdges.filter((i) => nearest(shifted, i, colourEdges) >= 5);
  // The box's left and right sides (30 px each) move 6 px away from their colour edges.
  assert.ok(far.length >= 50, `${far.length} of ${depthEdges.length} depth edge pixels sit >= 5 px from colour edges`);
  // Dimmed background: nothing but edges is brighter than 0.38 of the original.
  assert.ok(colourAt(shifted, 5 * W + 5).split(',').every((v) => Number(v) <= Math.ceil(40 * 0.38)));
});

test('the overlay is an inline JPEG the report accepts, scaled down, the same with edges passed in', async () => {
  const { rgb, depth } = scene();
  const uri = await registrationOverlay(rgb, depth, { maxSide: 48 });
  const thumb = safeThumb(uri);
  assert.ok(thumb);
  assert.deepEqual([thumb.mime, thumb.width, thumb.height], ['image/jpeg', 48, 36]);
  const { edges } = registerDepthToRgb(rgb, depth, { keepEdges: true });
  assert.ok(edges);
  assert.deepEqual(await overlayPixels(rgb, depth, { edges }), await overlayPixels(rgb, depth));
  await assert.rejects(overlayPixels(rgb, { width: 10, height: 10, data: new Uint16Array(100) }), RangeError);
});
