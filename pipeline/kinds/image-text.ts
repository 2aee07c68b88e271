// Local image-caption data: source -> caption rules -> decode/resize/re-encode -> sink.
import type { LoadedConfig } from '../config.ts';
import type { SourcePlugin } from '../source-plugin.ts';
import type { Traceable } from '../stage.ts';
import { pipe } from '../stage.ts';
import { imageTextSchema, type ImageTextSample } from '../../schemas/image-text.ts';
import { listImageTextUnits, readImageTextUnit } from '../../stages/sources/image-text-local.ts';
import { captionRulesStage } from '../../stages/curate/caption-rules.ts';
import { imageDecodeStage } from '../../stages/decode/image-decode.ts';
import { makeThumbnail } from '../../stages/report/thumbnails.ts';

export function imageTextPlugin({ config, baseDir }: LoadedConfig): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'image_text') throw new Error(`imageTextPlugin given source kind ${src.kind}`);
  return {
    kinds: [imageTextSchema],
    listUnits: () => listImageTextUnits(src, baseDir),
    processUnit: (unit, ctx) =>
      pipe(readImageTextUnit(unit, src, ctx), ctx, captionRulesStage(config.caption), imageDecodeStage(config.decode, config.run.concurrency)),
    approxBytes: (s: Traceable) => (s as ImageTextSample).image.bytes.byteLength + (s as ImageTextSample).caption.length + 200,
    example: async (s: Traceable) => {
      const sample = s as ImageTextSample;
      return { id: sample.id, source: sample.source, caption: sample.caption, thumb: await makeThumbnail(sample.image.bytes) };
    },
  };
}
