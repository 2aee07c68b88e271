// RGB-D captures: list -> timestamp pairing -> decode -> registration -> quality -> sink.
import type { LoadedConfig } from '../config.ts';
import type { SourcePlugin } from '../source-plugin.ts';
import type { Traceable } from '../stage.ts';
import { rgbdSchema, type RgbdSample } from '../../schemas/rgbd.ts';
import { listRgbdUnits } from '../../stages/sources/rgbd/units.ts';
import { readRgbdUnit } from '../../stages/sources/rgbd/read.ts';
import { makeThumbnail } from '../../stages/report/thumbnails.ts';

export function rgbdPlugin({ config, baseDir }: LoadedConfig): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'rgbd') throw new Error(`rgbdPlugin given source kind ${src.kind}`);
  const readConfig = { source: src, rgbd: config.rgbd };
  return {
    kinds: [rgbdSchema],
    listUnits: () => listRgbdUnits(src, baseDir),
    processUnit: (unit, ctx) => readRgbdUnit(unit, readConfig, ctx, { concurrency: config.run.concurrency }),
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
