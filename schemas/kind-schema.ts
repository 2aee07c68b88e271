// How a sample kind maps to Arrow columns, Hugging Face features and index.parquet columns.
// The Arrow shard writer and index writer are generic over this description.
import * as arrow from 'apache-arrow';

export interface ColumnSpec<S> {
  name: string;
  type: arrow.DataType;
  /** Whether the value may be missing. Documentation only: shards write every field (and every
   *  field inside a struct or list) nullable, as Hugging Face `datasets` does. */
  nullable?: boolean;
  /** Hugging Face `datasets` feature for this column, e.g. { _type: 'Value', dtype: 'string' }. */
  hf: unknown;
  get(sample: S): unknown;
}

/** index.parquet is flat: one row per kept sample with a few scalar columns per kind. */
/** Integer columns use the shard's width (INT32 for Int32 fields), so joins and casts agree. */
export type IndexColumnType = 'UTF8' | 'DOUBLE' | 'INT32' | 'INT64' | 'BOOLEAN';

export interface IndexColumnSpec<S> {
  name: string;
  type: IndexColumnType;
  get(sample: S): string | number | boolean | null | undefined;
}

export interface KindSchema<S> {
  kind: string;
  columns: ColumnSpec<S>[];
  /** Extra flat columns for index.parquet besides id, kind, shard, row, unit. */
  index: IndexColumnSpec<S>[];
  /** Media kinds keep record batches at or below this many rows. */
  maxRowsPerBatch: number;
}

// Field constructors and their Hugging Face features, so schemas read as a list of columns.
export const hf = {
  string: { _type: 'Value', dtype: 'string' },
  int32: { _type: 'Value', dtype: 'int32' },
  int64: { _type: 'Value', dtype: 'int64' },
  float32: { _type: 'Value', dtype: 'float32' },
  float64: { _type: 'Value', dtype: 'float64' },
  bool: { _type: 'Value', dtype: 'bool' },
  image: { _type: 'Image' },
  audio: { _type: 'Audio' },
};

/** Arrow type of a Hugging Face media struct: struct{bytes: binary, path: string}. */
export function mediaType(): arrow.Struct {
  return new arrow.Struct([
    new arrow.Field('bytes', new arrow.Binary(), true),
    new arrow.Field('path', new arrow.Utf8(), true),
  ]);
}
