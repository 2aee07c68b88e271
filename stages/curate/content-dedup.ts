// Exact content dedup: two samples whose stored image bytes have the same sha256 show a
// training run the same image twice. The first occurrence is kept; later ones are dropped.
//
// Caption siblings are not duplicates: rows that named the same normalised URL share one
// download on purpose (url-dedup.ts) and each caption stays a sample, so a later sample whose
// normalised URL equals the first occurrence's is kept.
//
// Scope: contentDedupStage sees one unit (units run in separate processes and on separate
// machines, with no shared memory). Across units, run findContentDuplicates over the rows of
// index.parquet in canonical order (unit id, then row) after the run: it answers, for every
// duplicate, the id of the first occurrence, so the result is the same whatever ran where.
import { drop, filterStage, type Stage } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { normaliseUrl } from './url-dedup.ts';

const CONTENT_DEDUP_STAGE = 'dedup';

interface FirstSeen {
  id: string;
  urlKey: string | undefined;
}

/**
 * Consumes decoded samples, emits those whose sha256 was not seen earlier in the unit.
 * Drops `duplicate_content`, the detail naming the first sample with the same bytes.
 */
export function contentDedupStage<S extends ImageTextSample>(): Stage<S, S> {
  return (input, ctx) => {
    const index = new ContentIndex();
    return filterStage<S>(CONTENT_DEDUP_STAGE, (sample) => {
      const first = index.firstOf(sample);
      if (first === undefined) return true;
      return drop('duplicate_content', `same image bytes (sha256 ${sample.sha256.slice(0, 16)}) as ${first}`);
    })(input, ctx);
  };
}

/** What has been seen so far; shared by the stage and the final pass. */
class ContentIndex {
  private readonly first = new Map<string, FirstSeen>();

  /** The id of an earlier row with the same bytes and a different URL, or undefined (and the row is recorded). */
  firstOf(row: { id: string; sha256: string; url?: string | null }): string | undefined {
    const urlKey = row.url ? (normaliseUrl(row.url) ?? row.url) : undefined;
    const seen = this.first.get(row.sha256);
    if (seen === undefined) {
      this.first.set(row.sha256, { id: row.id, urlKey });
      return undefined;
    }
    if (urlKey !== undefined && urlKey === seen.urlKey) return undefined; // a caption sibling
    return seen.id;
  }
}

export interface ContentRow {
  id: string;
  sha256: string;
  url?: string | null;
}

/**
 * The final pass over all units: rows in canonical order (unit id, then row within unit) ->
 * duplicate id -> id of the first row with the same bytes. Rows absent from the map are kept.
 * Memory: one entry per distinct sha256 (about 150 bytes). Finalise does not use this: it
 * computes the same marks from sorted runs on disk (output/run-wide-marks.ts); this is the
 * in-memory reference those are tested against.
 */
export function findContentDuplicates(rows: Iterable<ContentRow>): Map<string, string> {
  const index = new ContentIndex();
  const duplicates = new Map<string, string>();
  for (const row of rows) {
    const first = index.firstOf(row);
    if (first !== undefined) duplicates.set(row.id, first);
  }
  return duplicates;
}
