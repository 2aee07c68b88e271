// The average-pooling windows of one spatial pyramid level over a side x side feature map.
// A level that divides the map tiles it (window side / level, no overlap); one that does not
// uses equal windows overlapping by the same amount, the windows of adaptive average pooling
// where those are all one size (7x7 into 2x2: windows of 4 at 0 and 3; into 3x3: windows of 3
// at 0, 2 and 4), so the backbone's 7x7 grid can still say where in the image a thing is.

export interface PyramidWindow {
  /** Window side. */
  kernel: number;
  /** Step between window origins. */
  stride: number;
  /** True when the windows tile the map (no position in two windows). */
  tiles: boolean;
}

export function pyramidWindow(side: number, level: number): PyramidWindow {
  if (!Number.isInteger(level) || level < 1 || level > side) throw new Error(`a ${level}x${level} pyramid level does not fit a ${side}x${side} feature map`);
  if (side % level === 0) return { kernel: side / level, stride: side / level, tiles: true };
  const kernel = Math.ceil(side / level);
  const stride = (side - kernel) / (level - 1);
  if (!Number.isInteger(stride)) throw new Error(`feature map ${side}x${side} does not split into a ${level}x${level} pyramid level (neither tiles nor equal overlapping windows)`);
  return { kernel, stride, tiles: false };
}
