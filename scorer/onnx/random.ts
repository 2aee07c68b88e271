// Seeded random numbers, so a model built twice with the same seed is byte-identical.

import { mulberry32 } from '../../core/random.ts';

/** Uniform floats in [0, 1) from a seed (mulberry32). */
export const seededRandom = mulberry32;

/** `count` normal(0, std) samples (Box-Muller). */
export function gaussian(random: () => number, count: number, std = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(random(), 1e-12);
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}
