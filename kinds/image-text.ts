// Local image-caption data: source -> caption rules -> [caption language] -> decode/resize/re-encode -> [decontaminate] -> [safety] -> [score] -> sink.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { SourcePlugin } from './plugin.ts';
import { openRunDecontamination, openRunSafety, openRunScorer, runSidecars, type RunDecontamination, type RunSafety, type RunScorer } from './run-scorer.ts';
import { passThrough, pipe, readSource, type Stage } from '../core/stage.ts';
import { imageTextSchema, optionalImageTextColumns, type ImageTextRaw, type ImageTextSample } from '../schemas/image-text.ts';
import type { ColumnSpec, KindSchema } from '../schemas/kind-schema.ts';
import { imageTextUnitFingerprints, listImageTextUnits, readImageTextUnit, type ImageTextUnitSpec } from '../stages/sources/image-text-local.ts';
import { captionRulesStage } from '../stages/curate/caption-rules.ts';
import { captionLanguageStage, languageIdOn, languageIndexColumns } from '../stages/curate/caption-language.ts';
import { imageDecodeStage } from '../stages/decode/image-decode.ts';
import { scoredExample, type ScoredSample } from '../stages/score/score-columns.ts';
import type { KindDefinition } from './definition.ts';
import { dropExample } from './drop-example.ts';
import type { SafetyFields } from '../stages/curate/safety-stage.ts';
import type { DecontaminatedSample } from '../stages/curate/decontaminate.ts';

/** The image-caption schema plus the optional decode columns and the scorer's when the run scores. */
type ImageTextOutput = ScoredSample & SafetyFields & DecontaminatedSample;

/** The image-caption schema plus the optional decode columns, the classifier's and the scorer's when the run has them. */
function scoredImageTextSchema(scoring: RunScorer | null, optional: ColumnSpec<ImageTextSample>[] = [], safety: RunSafety | null = null, language = false, decon: RunDecontamination | null = null): KindSchema<ImageTextOutput> {
  if (!scoring && !safety && optional.length === 0 && !language && !decon?.index.length) return imageTextSchema;
  return {
    ...imageTextSchema,
    columns: [...imageTextSchema.columns, ...optional, ...(safety?.columns ?? []), ...(scoring?.columns ?? [])],
    index: [...imageTextSchema.index, ...(language ? languageIndexColumns : []), ...(decon?.index ?? []), ...(safety?.index ?? []), ...(scoring?.index ?? [])],
  };
}

function imageTextPlugin({ config, baseDir }: LoadedConfig, scoring: RunScorer | null = null, safety: RunSafety | null = null, decon: RunDecontamination | null = null): SourcePlugin<ImageTextOutput, ImageTextUnitSpec> {
  const src = config.source;
  if (src.kind !== 'image_text') throw new Error(`imageTextPlugin given source kind ${src.kind}`);
  const sidecars = runSidecars(config, scoring);
  return {
    kinds: [scoredImageTextSchema(scoring, optionalImageTextColumns(config.decode, false), safety, languageIdOn(config.caption), decon)],
    listUnits: () => listImageTextUnits(src, baseDir),
    inputFingerprints: (units) => imageTextUnitFingerprints(units, src),
    processUnit: (unit, ctx) => {
      const decontaminate: Stage<ImageTextSample, ImageTextSample> = decon ? decon.stage : passThrough();
      const classify: Stage<ImageTextSample, ImageTextSample & SafetyFields> = safety ? safety.stage : passThrough();
      const score: Stage<ImageTextSample & SafetyFields, ImageTextOutput> = scoring ? scoring.stage : passThrough();
      const language: Stage<ImageTextRaw, ImageTextRaw> = languageIdOn(config.caption) ? captionLanguageStage(config.caption) : passThrough();
      return pipe(
        readSource('source', (c) => readImageTextUnit(unit, src, c), ctx),
        ctx,
        captionRulesStage(config.caption),
        language,
        imageDecodeStage(config.decode, config.run.concurrency),
        decontaminate,
        classify,
        score,
      );
    },
    approxBytes: (s) => s.image.bytes.byteLength + s.caption.length + 200,
    example: (s) => scoredExample(s),
    dropExample: (item) => dropExample(item),
    ...(scoring ? { scorers: [scoring.entry] } : {}),
    ...(sidecars ? { sidecars } : {}),
    close: async () => {
      await safety?.close();
      await scoring?.close();
    },
  };
}

/** Local image-caption data: exact dedup by sha256 across the run at finalise. */
export const definition: KindDefinition = {
  source: 'image_text',
  createPlugin: async (loaded) => imageTextPlugin(loaded, await openRunScorer(loaded), await openRunSafety(loaded), await openRunDecontamination(loaded)),
  report: [],
  runWideDedup: () => ({ phashMaxDistance: null }),
};
