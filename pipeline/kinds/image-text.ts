// Local image-caption data: source -> caption rules -> decode/resize/re-encode -> [score] -> sink.
import type { LoadedConfig } from '../config.ts';
import type { SourcePlugin } from '../source-plugin.ts';
import type { RunSafety, RunScorer } from '../plugins.ts';
import type { Stage, Traceable } from '../stage.ts';
import { pipe } from '../stage.ts';
import { imageTextSchema, optionalImageTextColumns, type ImageTextSample } from '../../schemas/image-text.ts';
import type { ColumnSpec, IndexColumnSpec, KindSchema } from '../../schemas/kind-schema.ts';
import { listImageTextUnits, readImageTextUnit } from '../../stages/sources/image-text-local.ts';
import { captionRulesStage } from '../../stages/curate/caption-rules.ts';
import { imageDecodeStage } from '../../stages/decode/image-decode.ts';
import { scoredExample, type ScoredSample } from '../../stages/score/score-columns.ts';

/** The image-caption schema plus the optional decode columns and the scorer's when the run scores. */
export function scoredImageTextSchema(scoring: RunScorer | null, optional: ColumnSpec<ImageTextSample>[] = [], safety: RunSafety | null = null): KindSchema<ScoredSample> {
  if (!scoring && !safety && optional.length === 0) return imageTextSchema;
  return {
    ...imageTextSchema,
    columns: [
      ...(imageTextSchema.columns as ColumnSpec<ScoredSample>[]),
      ...(optional as ColumnSpec<ScoredSample>[]),
      ...((safety?.columns ?? []) as ColumnSpec<ScoredSample>[]),
      ...(scoring?.columns ?? []),
    ],
    index: [...(imageTextSchema.index as IndexColumnSpec<ScoredSample>[]), ...((safety?.index ?? []) as IndexColumnSpec<ScoredSample>[]), ...(scoring?.index ?? [])],
  };
}

export function imageTextPlugin({ config, baseDir }: LoadedConfig, scoring: RunScorer | null = null, safety: RunSafety | null = null): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'image_text') throw new Error(`imageTextPlugin given source kind ${src.kind}`);
  return {
    kinds: [scoredImageTextSchema(scoring, optionalImageTextColumns(config.decode, false), safety)],
    listUnits: () => listImageTextUnits(src, baseDir),
    processUnit: (unit, ctx) => {
      const stages: Stage<any, any>[] = [captionRulesStage(config.caption), imageDecodeStage(config.decode, config.run.concurrency)];
      if (safety) stages.push(safety.stage);
      if (scoring) stages.push(scoring.stage);
      return pipe(readImageTextUnit(unit, src, ctx), ctx, ...stages) as AsyncIterable<Traceable>;
    },
    approxBytes: (s: Traceable) => (s as ImageTextSample).image.bytes.byteLength + (s as ImageTextSample).caption.length + 200,
    example: (s: Traceable) => scoredExample(s as ScoredSample),
    ...(scoring ? { scorers: [scoring.entry] } : {}),
    close: async () => {
      await safety?.close();
      await scoring?.close();
    },
  };
}
