// What the score stage writes, apart from the stage itself: the score column's name and specs,
// the stats names, and the report example of a scored sample. Kept apart from score-stage.ts so
// that finalising, filtering and the kind plugins can name score columns without loading the
// scoring and grounding code (and its NLP library).
import * as arrow from 'apache-arrow';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { hf, type ColumnSpec, type IndexColumnSpec } from '../../schemas/kind-schema.ts';
import type { PhraseGrounding } from '../../scorer/grounding.ts';
import { makeThumbnail, safeThumb } from '../decode/thumbnails.ts';

export interface ScoreFields {
  score?: number;
  phrases?: PhraseGrounding[];
  groundingRecall?: number | null;
  /** Pooled, L2-normalised embeddings (only with the score stage's keepEmbeddings). */
  imageEmbedding?: Float32Array;
  textEmbedding?: Float32Array;
}

export type ScoredSample = ImageTextSample & ScoreFields;

export const GROUNDING_RECALL_COLUMN = 'grounding_recall';

/** `score_<id>`, the id lower-cased with runs of other characters as `_`. */
export function scoreColumnName(scorerId: string): string {
  const slug = scorerId.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return `score_${slug || 'scorer'}`;
}

/** Stats names: the digest and histogram of a column are both `score:<column>`. */
export const scoreStatName = (column: string) => `score:${column}`;
export const lowestKeptSet = (column: string) => `kept:lowest ${column}`;
export const highestDroppedSet = (column: string) => `dropped:highest ${column}`;

const phraseType = () =>
  new arrow.List(
    new arrow.Field(
      'item',
      new arrow.Struct([
        new arrow.Field('phrase', new arrow.Utf8(), false),
        new arrow.Field('box', new arrow.List(new arrow.Field('item', new arrow.Float64(), false)), false),
        new arrow.Field('score', new arrow.Float64(), false),
      ]),
      false,
    ),
  );

/** Shard columns the score stage adds. */
export function scoreColumns(column: string, grounding: boolean): ColumnSpec<ScoredSample>[] {
  const cols: ColumnSpec<ScoredSample>[] = [{ name: column, type: new arrow.Float64(), nullable: true, hf: hf.float64, get: (s) => s.score ?? null }];
  if (grounding) {
    cols.push({
      name: 'phrases',
      type: phraseType(),
      nullable: true,
      hf: [{ phrase: hf.string, box: { _type: 'Sequence', feature: hf.float64 }, score: hf.float64 }],
      get: (s) => s.phrases ?? null,
    });
    cols.push({ name: GROUNDING_RECALL_COLUMN, type: new arrow.Float64(), nullable: true, hf: hf.float64, get: (s) => s.groundingRecall ?? null });
  }
  return cols;
}

export function scoreIndexColumns(column: string, grounding: boolean): IndexColumnSpec<ScoredSample>[] {
  const cols: IndexColumnSpec<ScoredSample>[] = [{ name: column, type: 'DOUBLE', get: (s) => s.score ?? null }];
  if (grounding) cols.push({ name: GROUNDING_RECALL_COLUMN, type: 'DOUBLE', get: (s) => s.groundingRecall ?? null });
  return cols;
}

/** A report example of a scored sample: grounding boxes scaled to the thumbnail's pixels. */
export async function scoredExample(sample: ScoredSample): Promise<Record<string, unknown>> {
  const example: Record<string, unknown> = { id: sample.id, source: sample.url ?? sample.source, caption: sample.caption };
  try {
    example.thumb = await makeThumbnail(sample.image.bytes);
  } catch {
    // no thumbnail: the card says so
  }
  if (sample.score !== undefined) example.score = sample.score;
  if (sample.groundingRecall !== undefined && sample.groundingRecall !== null) example.grounding_recall = sample.groundingRecall;
  const thumb = safeThumb(example.thumb);
  if (sample.phrases?.length && thumb?.width && sample.width) {
    const s = thumb.width / sample.width;
    example.boxes = sample.phrases.map((p) => ({ label: p.phrase, box: p.box.map((v) => Math.round(v * s * 10) / 10), score: p.score }));
  }
  return example;
}

