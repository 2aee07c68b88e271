// Run-wide dedup marks, computed when the outputs are finalised. Within a unit, exact
// duplicates are dropped and near duplicates marked as samples stream by; across units (and
// processes) nothing is shared while running, so this pass reads every kept sample's sha256
// and phash from the index rows, in unit order, and marks:
//   duplicate_of  the earlier sample with the same stored bytes (exact), or null
//   near_dup_of   the earliest sample within the perceptual-hash distance, or null
// Shards are never rewritten: training jobs filter on these index.parquet columns. The marks
// depend only on the committed units in unit order, so one process and a merge of many agree.
import { findContentDuplicates } from './content-dedup.ts';
import { markNearDuplicates } from './phash.ts';

export interface DedupRow {
  id: string;
  sha256?: unknown;
  url?: unknown;
  phash?: unknown;
}

export interface RunWideMarks {
  duplicateOf: Map<string, string>;
  nearDupOf: Map<string, string>;
}

export function runWideDedupMarks(rows: DedupRow[], phashMaxDistance: number | null): RunWideMarks {
  const withSha = rows.filter((r) => typeof r.sha256 === 'string') as { id: string; sha256: string; url?: string }[];
  const duplicateOf = findContentDuplicates(withSha.map((r) => ({ id: r.id, sha256: r.sha256, url: typeof r.url === 'string' ? r.url : undefined })));
  const withPhash = rows.filter((r) => typeof r.phash === 'string' && !duplicateOf.has(r.id)) as { id: string; phash: string }[];
  const nearDupOf = phashMaxDistance === null ? new Map<string, string>() : markNearDuplicates(withPhash, phashMaxDistance);
  return { duplicateOf, nearDupOf };
}
