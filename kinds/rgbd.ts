// RGB-D captures: list -> timestamp pairing -> decode -> registration (worker threads) -> quality -> sink.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { SourcePlugin } from './plugin.ts';
import type { Traceable } from '../core/stage.ts';
import { rgbdSchema, type RgbdSample } from '../schemas/rgbd.ts';
import { listRgbdUnits } from '../stages/sources/rgbd/units.ts';
import { readRgbdUnit } from '../stages/pair/rgbd-pairing.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';
import { RegistrationPool } from '../stages/align/registration-pool.ts';
import { availableParallelism } from 'node:os';

export function rgbdPlugin({ config, baseDir }: LoadedConfig): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'rgbd') throw new Error(`rgbdPlugin given source kind ${src.kind}`);
  const readConfig = { source: src, rgbd: config.rgbd };
  const workers = src.registration_workers ?? Math.min(config.run.concurrency, availableParallelism());
  // Created on first use, so listing units (or a run with nothing to do) starts no threads.
  let pool: RegistrationPool | null = null;
  const registrationPool = () => (workers > 0 ? (pool ??= new RegistrationPool(workers).warm()) : null);
  return {
    kinds: [rgbdSchema],
    listUnits: () => listRgbdUnits(src, baseDir),
    processUnit: (unit, ctx) => readRgbdUnit(unit, readConfig, ctx, { concurrency: config.run.concurrency, registrationPool: registrationPool() }),
    close: async () => {
      await pool?.close();
      pool = null;
    },
    approxBytes: (s: Traceable) => (s as RgbdSample).rgb.bytes.byteLength + (s as RgbdSample).depth.bytes.byteLength + 400,
    example: async (s: Traceable) => {
      const sample = s as RgbdSample;
      return {
        id: sample.id,
        source: sample.source,
        caption: `skew ${sample.skewMs?.toFixed(1) ?? 'n/a'} ms, shift (${sample.registration.dx}, ${sample.registration.dy}), valid ${(sample.validRatio * 100).toFixed(0)}%`,
        thumb: await makeThumbnail(sample.rgb.bytes),
      };
    },
  };
}
