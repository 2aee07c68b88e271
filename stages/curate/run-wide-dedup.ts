// Run-wide dedup marks, computed when the outputs are finalised. Within a unit, exact
// duplicates are dropped and near duplicates marked as samples stream by; across units (and
// processes) nothing is shared while running, so this pass reads every kept sample's sha256,
// url and phash from the index rows, in unit order, and marks:
//   url_sibling_of  the earliest sample with the same normalised URL (another caption of the
//                   same image, in this unit or an earlier one), or null
//   duplicate_of    the earlier sample with the same stored bytes and another URL, or null
//   near_dup_of     the earliest sample within the perceptual-hash distance, or null; a URL
//                   sibling carries its first row's mark, never that row itself, so a filter on
//                   near_dup_of keeps or drops all captions of one image together
// Shards are never rewritten: training jobs filter on these index.parquet columns. The marks
// depend only on the committed units in unit order, so one process and a merge of many agree.
// This module computes them in memory (maps over every row); finalise computes exactly the same
// marks in bounded memory from external-sorted runs on disk (output/run-wide-marks.ts), and the
// tests compare the two.
import { findContentDuplicates } from './content-dedup.ts';
import { markNearDuplicates } from './phash.ts';
import { normaliseUrl } from './url-dedup.ts';

export interface DedupRow {
  id: string;
  sha256?: unknown;
  url?: unknown;
  phash?: unknown;
}

export interface RunWideMarks {
  urlSiblingOf: Map<string, string>;
  duplicateOf: Map<string, string>;
  nearDupOf: Map<string, string>;
}

export function runWideDedupMarks(rows: DedupRow[], phashMaxDistance: number | null): RunWideMarks {
  const urlSiblingOf = findUrlSiblings(rows);
  const withSha = rows.filter((r) => typeof r.sha256 === 'string') as { id: string; sha256: string; url?: string }[];
  const duplicateOf = findContentDuplicates(withSha.map((r) => ({ id: r.id, sha256: r.sha256, url: typeof r.url === 'string' ? r.url : undefined })));
  const withPhash = rows
    .filter((r) => typeof r.phash === 'string' && !duplicateOf.has(r.id))
    .map((r) => ({ id: r.id, phash: r.phash as string, urlSiblingOf: urlSiblingOf.get(r.id) ?? null }));
  const nearDupOf = phashMaxDistance === null ? new Map<string, string>() : markNearDuplicates(withPhash, phashMaxDistance);
  return { urlSiblingOf, duplicateOf, nearDupOf };
}

/** Row id -> id of the first row with the same normalised URL; first rows are absent. */
function findUrlSiblings(rows: DedupRow[]): Map<string, string> {
  const first = new Map<string, string>();
  const siblings = new Map<string, string>();
  for (const r of rows) {
    if (typeof r.url !== 'string') continue;
    const key = normaliseUrl(r.url) ?? r.url;
    const leader = first.get(key);
    if (leader === undefined) first.set(key, r.id);
    else siblings.set(r.id, leader);
  }
  return siblings;
}
