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

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where `scorer: reference` points: the reference scorer shipped with weft. */
export const REFERENCE_SCORER_DIR = path.join(REPO_ROOT, 'models', 'reference');

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
  return setting === 'reference' ? REFERENCE_SCORER_DIR : path.resolve(baseDir, setting);
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
    const hint = s.scorer === 'reference' ? ' (the reference scorer is trained by scripts/train-reference-scorer.ts into models/reference)' : '';
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
    stage: scoreStage<ImageTextSample>({ scorer, column, batchSize: s.batch_size, threshold: s.threshold, grounding, reportExamples: config.output.report_examples }),
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
