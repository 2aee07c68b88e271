// The run's scorer (the `score:` section) and NSFW classifier (the `safety:` section), loaded
// once per run and handed to the image kinds; the plugin's close() closes them.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { Stage } from '../core/stage.ts';
import type { Scorer } from '../scorer/scorer.ts';
import type { ScoredSample } from '../stages/score/score-columns.ts';
import type { ColumnSpec, IndexColumnSpec } from '../schemas/kind-schema.ts';
import type { ImageTextSample } from '../schemas/image-text.ts';
import type { ScorerEntry } from '../schemas/manifest.ts';
import type { SafetyFields } from '../stages/curate/safety-stage.ts';
import { UsageError } from '../core/usage-error.ts';
import { corpusEmbeddingsNeeded, corpusSidecarNeeded } from '../schemas/curate-config.ts';
import { corpusSidecarSchema } from '../stages/curate/corpus-sidecar.ts';
import type { KindSchema } from '../schemas/kind-schema.ts';
import type { DecontaminatedSample } from '../stages/curate/decontaminate.ts';

/** The corpus sidecar schema when curate.corpus needs one (embedding columns sized by the scorer). */
export function runSidecars(config: LoadedConfig['config'], scoring: RunScorer | null): KindSchema<ScoredSample>[] | undefined {
  if (!corpusSidecarNeeded(config.curate.corpus, config.curate.decontaminate)) return undefined;
  return [corpusSidecarSchema(corpusEmbeddingsNeeded(config.curate.corpus, config.curate.decontaminate) && scoring ? scoring.scorer.dim : null)];
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Where `scorer: reference` (the default) and `scorer: reference-random` point: the reference
 * scorer on fixed random image features, no third-party weights. It meets more bars than the
 * backbone one (models/reference/TRAINING.md), so it stays the default.
 */
export const REFERENCE_SCORER_DIR = path.join(REPO_ROOT, 'models', 'reference');
export const REFERENCE_RANDOM_SCORER_DIR = REFERENCE_SCORER_DIR;
/** Where `scorer: reference-backbone` points: learned image features (the frozen nsfwjs MobileNetV2) with a trained projection. */
export const REFERENCE_BACKBONE_SCORER_DIR = path.join(REPO_ROOT, 'models', 'reference-backbone');

/** What an image kind needs to score its samples: the stage, its columns, and the manifest entry. */
export interface RunScorer {
  scorer: Scorer;
  column: string;
  stage: Stage<ImageTextSample, ScoredSample>;
  columns: ColumnSpec<ScoredSample>[];
  index: IndexColumnSpec<ScoredSample>[];
  entry: ScorerEntry;
  close(): Promise<void>;
}

export function scorerDir(setting: string, baseDir: string): string {
  if (setting === 'reference') return REFERENCE_SCORER_DIR;
  if (setting === 'reference-random') return REFERENCE_RANDOM_SCORER_DIR;
  if (setting === 'reference-backbone') return REFERENCE_BACKBONE_SCORER_DIR;
  return path.resolve(baseDir, setting);
}

/** Loads the configured scorer, or null for `scorer: none`. */
export async function openRunScorer({ config, baseDir }: LoadedConfig): Promise<RunScorer | null> {
  const s = config.score;
  if (s.scorer === 'none') {
    if (s.threshold !== null || s.keep_top !== null || s.grounding.enabled) throw new Error('score: threshold, keep_top and grounding need a scorer (score.scorer is none)');
    return null;
  }
  const dir = scorerDir(s.scorer, baseDir);
  const { loadScorer } = await import('../scorer/scorer.ts');
  const { scorerImageGeometry } = await import('../scorer/grounding.ts');
  const [{ scoreColumnName, scoreColumns, scoreIndexColumns }, { scoreStage }] = await Promise.all([import('../stages/score/score-columns.ts'), import('../stages/score/score-stage.ts')]);
  let scorer: Scorer;
  try {
    scorer = await loadScorer(dir, { batchSize: s.batch_size });
  } catch (err) {
    const hint = s.scorer.startsWith('reference') ? ' (the reference scorers are trained by scripts/train-reference-scorer.ts into models/)' : '';
    // A missing scorer folder is a config error (exit 2); a broken model in it stays a run failure.
    const Err = err instanceof UsageError ? UsageError : Error;
    throw new Err(`score.scorer: ${(err as Error).message}${hint}`);
  }
  const column = scoreColumnName(scorer.id);
  const grounding = s.grounding.enabled
    ? { geometry: await scorerImageGeometry(dir), phraseThreshold: s.grounding.phrase_threshold, minRecall: s.grounding.min_recall, maxPhrases: s.grounding.max_phrases }
    : null;
  return {
    scorer,
    column,
    stage: scoreStage<ImageTextSample>({ scorer, column, batchSize: s.batch_size, threshold: s.threshold, grounding, reportExamples: config.output.report_examples, keepEmbeddings: corpusEmbeddingsNeeded(config.curate.corpus, config.curate.decontaminate) }),
    columns: scoreColumns(column, grounding !== null),
    index: scoreIndexColumns(column, grounding !== null),
    entry: scorer.entry(),
    close: () => scorer.close(),
  };
}

/** What an image kind needs for the safety filter: the stage, its columns, and close. */
export interface RunSafety {
  stage: Stage<ImageTextSample, ImageTextSample & SafetyFields>;
  columns: ColumnSpec<SafetyFields>[];
  index: IndexColumnSpec<SafetyFields>[];
  close(): Promise<void>;
}

/** Opens the NSFW classifier when `safety.enabled`; null otherwise. */
export async function openRunSafety({ config }: LoadedConfig): Promise<RunSafety | null> {
  const s = config.safety;
  if (!s.enabled) return null;
  const [{ openSafetyClassifier, safetyStage }, { safetyColumns, safetyIndexColumns }] = await Promise.all([import('../stages/curate/safety-stage.ts'), import('../stages/curate/safety-columns.ts')]);
  let classifier;
  try {
    classifier = await openSafetyClassifier();
  } catch (err) {
    throw new Error(`safety: ${(err as Error).message}`);
  }
  return {
    stage: safetyStage<ImageTextSample>({ classifier, batchSize: s.batch_size, maxNsfw: s.max_nsfw }),
    columns: safetyColumns(),
    index: safetyIndexColumns(),
    close: () => classifier.close(),
  };
}

/** What an image kind needs for eval-set decontamination (curate.decontaminate), or null. */
export interface RunDecontamination {
  stage: Stage<ImageTextSample, ImageTextSample & DecontaminatedSample>;
  index: IndexColumnSpec<DecontaminatedSample>[];
}

export async function openRunDecontamination({ config }: LoadedConfig): Promise<RunDecontamination | null> {
  const d = config.curate.decontaminate;
  if (d.eval_images === null) return null;
  const { decontaminateStage, decontaminationIndexColumns, evalImageHashes } = await import('../stages/curate/decontaminate.ts');
  const evalHashes = await evalImageHashes(d.eval_images);
  return {
    stage: decontaminateStage<ImageTextSample>({ evalHashes, maxDistance: d.max_distance, drop: d.drop, concurrency: config.run.concurrency }),
    index: d.drop ? [] : decontaminationIndexColumns,
  };
}
