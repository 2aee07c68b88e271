// Per-frame signals of decoded video, computed once at decode (clip-media.ts) for the sync
// search and the scene detector: a subsampled grey frame, motion energy between consecutive
// frames, and structure energy (outlines) of one frame.

/** Grey levels (0-255) of every `step`-th pixel in both directions; enough for motion energy. */
export function greyOf(rgb: Uint8Array, width: number, height: number, step = 2): Float32Array {
  const cols = Math.ceil(width / step);
  const rows = Math.ceil(height / step);
  const grey = new Float32Array(cols * rows);
  let o = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x < width; x += step) {
      const i = (y * width + x) * 3;
      grey[o++] = 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
    }
  }
  return grey;
}

/** Mean absolute difference between two grey frames of the same size. */
export function motionEnergy(previous: Float32Array, current: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < current.length; i++) sum += Math.abs(current[i] - previous[i]);
  return current.length ? sum / current.length : 0;
}

/**
 * Structure energy of a grey frame: mean absolute difference between horizontal and vertical
 * neighbours. Something appearing adds its outline (energy rises); something disappearing takes
 * it away (energy falls), while both make the same motion energy.
 */
export function structureEnergy(grey: Float32Array, width: number, height: number): number {
  let sum = 0;
  for (let y = 0; y + 1 < height; y++) {
    for (let x = 0, i = y * width; x + 1 < width; x++, i++) sum += Math.abs(grey[i + 1] - grey[i]) + Math.abs(grey[i + width] - grey[i]);
  }
  return width > 1 && height > 1 ? sum / ((width - 1) * (height - 1)) : 0;
}
