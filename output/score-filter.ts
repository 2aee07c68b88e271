// Filtering on stored scores: the rules of the `score:` section as manifest.filters entries, and
// keep_top's cut.
//
// keep_top keeps the top fraction F of the scored pool, as DataComp does. The cut is the (1 - F)
// quantile of the run-wide t-digest `score:<column>`, merged from every unit's digest in unit
// order, so one process and many processes plus `weft merge` get the same cut (within the
// digest's error). The cut is only known once every unit is scored, so `weft run` writes every
// scored pair to the shards and the cut is applied when the OUT folder is finalised:
//   - index.parquet lists only the pairs at or above the cut (it is the selection);
//   - rejects.parquet gets a row per pair below it (stage keep_top, reason score_below_top_fraction);
//   - stats.json gets a keep_top stage, manifest.json the rule, the cut and the counts, and its
//     totals count the selection;
//   - the shards keep the whole scored pool (committed shards are never rewritten: the commit
//     records and resume depend on them). `weft filter OUT --keep-top F --out OUT2` writes shards
//     holding only the selection.
import type { RunInfo, IndexRow } from './out-dir.ts';
import type { RunStats } from '../core/stats.ts';
import type { Manifest } from '../schemas/manifest.ts';
import type { RejectRecord } from '../core/rejects.ts';
import type { ScoreConfig } from '../schemas/score-config.ts';
import type { TDigest } from '../core/sketch/tdigest.ts';
import { GROUNDING_RECALL_COLUMN, scoreColumnName, scoreStatName } from '../stages/score/score-columns.ts';

const KEEP_TOP_STAGE = 'keep_top';
export const KEEP_TOP_REASON = 'score_below_top_fraction';

export type FilterEntry = Record<string, unknown>;

/** The cut that keeps the top `fraction` of the values in `digest`. */
function keepTopCut(digest: TDigest, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`keep_top fraction ${fraction} is not in (0, 1]`);
  if (digest.count === 0) return NaN;
  return fraction >= 1 ? digest.min : digest.quantile(1 - fraction);
}

export function keepTopEntry(column: string, fraction: number, digest: TDigest, extra: FilterEntry = {}): FilterEntry {
  return { column, rule: 'keep_top', fraction, threshold: keepTopCut(digest, fraction), sketch: 't-digest', count: digest.count, ...extra };
}

export function thresholdEntry(column: string, threshold: number, extra: FilterEntry = {}): FilterEntry {
  return { column, rule: 'threshold', threshold, ...extra };
}

function scoreConfigOf(info: RunInfo): ScoreConfig | null {
  const score = (info.config as { score?: ScoreConfig } | null)?.score;
  return score && info.scorers.length ? score : null;
}

/**
 * Applies the run's finalise-time score rules while the index and rejects are rebuilt.
 * Without a keep_top rule it only adds the threshold rules to the manifest.
 */
export class ScoreSelection {
  readonly filters: FilterEntry[] = [];
  private readonly column: string | null = null;
  private readonly cut: number | null = null;
  private readonly fraction: number | null = null;
  private readonly poolSize: number = 0;
  private readonly below: RejectRecord[] = [];
  private passed = 0;
  private readonly droppedByKind = new Map<string, number>();

  constructor(info: RunInfo, stats: RunStats) {
    const score = scoreConfigOf(info);
    // An OUT written by `weft filter` carries its rules, already applied to its shards.
    if (!score || info.filters.some((f) => f.materialised === true)) return;
    const column = scoreColumnName(info.scorers[0].id);
    if (score.threshold !== null) this.filters.push(thresholdEntry(column, score.threshold, { stage: 'score', reason: 'score_below_threshold' }));
    if (score.grounding.enabled && score.grounding.min_recall !== null) {
      this.filters.push({ column: GROUNDING_RECALL_COLUMN, rule: 'min_recall', threshold: score.grounding.min_recall, phrase_threshold: score.grounding.phrase_threshold, stage: 'grounding', reason: 'low_grounding_recall' });
    }
    if (score.keep_top === null) return;
    const digest = stats.sketches.get(scoreStatName(column));
    if (!digest || digest.count === 0) return;
    this.column = column;
    this.fraction = score.keep_top;
    this.cut = keepTopCut(digest, score.keep_top);
    this.poolSize = digest.count;
  }

  get active(): boolean {
    return this.cut !== null;
  }

  /** The run info with this selection's rules added, for the manifest. */
  infoWithFilters(info: RunInfo): RunInfo {
    const entries = [...this.filters];
    if (this.active) entries.push({ ...keepTopEntryFromCut(this.column!, this.fraction!, this.cut!, this.poolSize), stage: KEEP_TOP_STAGE, reason: KEEP_TOP_REASON, applied_to: 'index' });
    return { ...info, filters: [...info.filters, ...entries] };
  }

  /** Index rows at or above the cut; the others become reject rows. */
  async *index(rows: AsyncIterable<IndexRow>): AsyncGenerator<IndexRow> {
    for await (const row of rows) {
      const value = this.active ? row[this.column!] : null;
      if (typeof value === 'number' && value < this.cut!) {
        const kind = String(row.kind);
        this.droppedByKind.set(kind, (this.droppedByKind.get(kind) ?? 0) + 1);
        this.below.push({
          id: String(row.id),
          kind,
          source: String(row.source ?? row.unit),
          stage: KEEP_TOP_STAGE,
          reason: KEEP_TOP_REASON,
          detail: `score ${value.toFixed(4)} < cut ${this.cut!.toFixed(4)} (keep top ${this.fraction} of ${this.poolSize} scored)`,
        });
        continue;
      }
      if (this.active) this.passed++;
      yield row;
    }
  }

  /** The reject rows of the cut (after `index` has run). */
  rejects(): RejectRecord[] {
    return this.below;
  }

  /** Adds the keep_top stage to the stats and moves cut pairs from kept to dropped. */
  applyTo(stats: RunStats, manifest: Manifest): void {
    if (!this.active) return;
    const stage = stats.stage(KEEP_TOP_STAGE);
    stage.in = this.passed + this.below.length;
    stage.out = this.passed;
    stage.droppedByReason = this.below.length ? { [KEEP_TOP_REASON]: this.below.length } : {};
    for (const [kind, n] of this.droppedByKind) {
      const k = stats.kind(kind);
      k.kept -= n;
      k.dropped += n;
    }
    manifest.totals.kept -= this.below.length;
    manifest.totals.dropped += this.below.length;
    const entry = manifest.filters.find((f) => f.rule === 'keep_top' && f.applied_to === 'index');
    if (entry) Object.assign(entry, { kept: this.passed, dropped: this.below.length });
  }
}

function keepTopEntryFromCut(column: string, fraction: number, cut: number, count: number): FilterEntry {
  return { column, rule: 'keep_top', fraction, threshold: cut, sketch: 't-digest', count };
}
