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
// min_p_aligned works the same way: the mixture behind p_aligned (stages/score/calibration.ts)
// is fitted on the same merged digest at finalise, every index row gets its `p_aligned_<id>`, and
// rows below the minimum leave the index (stage calibration, reason p_aligned_below_min).
//   - the shards keep the whole scored pool (committed shards are never rewritten: the commit
//     records and resume depend on them). `weft filter OUT --keep-top F --out OUT2` writes shards
//     holding only the selection.
import type { RunInfo, IndexRow } from './out-dir.ts';
import { applyFinaliseCuts, type FinaliseCut } from './finalise-cuts.ts';
import type { RunStats } from '../core/stats.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { hostOf, type RejectRecord, type RejectValues } from '../core/rejects.ts';
import { SpillFile } from '../core/external-sort.ts';
import type { ScoreConfig } from '../schemas/score-config.ts';
import type { TDigest } from '../core/sketch/tdigest.ts';
import { GROUNDING_RECALL_COLUMN, scoreColumnName, scoreStatName } from '../stages/score/score-columns.ts';
import { fitDigestMixture, pAligned, pAlignedColumnName, scoreWherePAligned, type ScoreMixture } from '../stages/score/calibration.ts';

const KEEP_TOP_STAGE = 'keep_top';
export const KEEP_TOP_REASON = 'score_below_top_fraction';
export const CALIBRATION_STAGE = 'calibration';
export const P_ALIGNED_REASON = 'p_aligned_below_min';

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
  /** The fitted score mixture, when the run has scores to fit; then every index row gets p_aligned. */
  readonly mixture: ScoreMixture | null = null;
  readonly pAlignedColumn: string | null = null;
  private readonly minPAligned: number | null = null;
  /** The cut's reject rows, spilled to a file as the index streams (see rejectsTo). */
  private below: SpillFile<RejectRecord> | null = null;
  private readonly belowByStage = new Map<string, number>();
  private passed = { keepTop: 0, calibration: 0 };
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
    const digest = stats.sketches.get(scoreStatName(column));
    if (!digest || digest.count === 0) return;
    this.column = column;
    this.poolSize = digest.count;
    const minP = score.min_p_aligned ?? null;
    try {
      this.mixture = fitDigestMixture(digest);
      this.pAlignedColumn = pAlignedColumnName(column);
      this.minPAligned = minP;
    } catch (err) {
      // Too few distinct scores to fit: no p_aligned column; a configured minimum cannot hold.
      if (minP !== null) throw new Error(`score.min_p_aligned: ${(err as Error).message}`);
    }
    if (score.keep_top === null) return;
    this.fraction = score.keep_top;
    this.cut = keepTopCut(digest, score.keep_top);
  }

  get active(): boolean {
    return this.cut !== null || this.minPAligned !== null;
  }

  /** The run info with this selection's rules added, for the manifest. */
  infoWithFilters(info: RunInfo): RunInfo {
    const entries = [...this.filters];
    if (this.mixture) {
      entries.push({
        column: this.pAlignedColumn,
        from: this.column,
        rule: this.minPAligned !== null ? 'min_p_aligned' : 'calibration',
        ...(this.minPAligned !== null ? { threshold: this.minPAligned, score_cut: scoreWherePAligned(this.mixture, this.minPAligned), stage: CALIBRATION_STAGE, reason: P_ALIGNED_REASON } : {}),
        mixture: this.mixture,
        sketch: 't-digest',
        count: this.poolSize,
        applied_to: 'index',
      });
    }
    if (this.cut !== null) entries.push({ ...keepTopEntryFromCut(this.column!, this.fraction!, this.cut, this.poolSize), stage: KEEP_TOP_STAGE, reason: KEEP_TOP_REASON, applied_to: 'index' });
    return { ...info, filters: [...info.filters, ...entries] };
  }

  /** Index rows with p_aligned added, passing min_p_aligned and the keep_top cut; the others become reject rows. */
  async *index(rows: AsyncIterable<IndexRow>): AsyncGenerator<IndexRow> {
    for await (const original of rows) {
      let row = original;
      const value = this.column ? row[this.column] : null;
      if (this.mixture) row = { ...row, [this.pAlignedColumn!]: typeof value === 'number' ? round6(pAligned(this.mixture, value)) : null };
      if (typeof value === 'number' && this.minPAligned !== null) {
        const p = row[this.pAlignedColumn!] as number;
        if (p < this.minPAligned) {
          await this.drop(row, CALIBRATION_STAGE, P_ALIGNED_REASON, `p_aligned ${p.toFixed(4)} < min_p_aligned ${this.minPAligned} (score ${value.toFixed(4)}; mixture means ${this.mixture!.low.mean.toFixed(3)} / ${this.mixture!.high.mean.toFixed(3)})`, { score: value, value: p, threshold: this.minPAligned });
          continue;
        }
        this.passed.calibration++;
      }
      if (typeof value === 'number' && this.cut !== null) {
        if (value < this.cut) {
          await this.drop(row, KEEP_TOP_STAGE, KEEP_TOP_REASON, `score ${value.toFixed(4)} < cut ${this.cut.toFixed(4)} (keep top ${this.fraction} of ${this.poolSize} scored)`, { score: value, threshold: this.cut });
          continue;
        }
        this.passed.keepTop++;
      }
      yield row;
    }
  }

  /** Where the cut's reject rows go (a file appended while `index` runs and read back by `rejects`); call before `index`. */
  rejectsTo(file: string): void {
    this.below = new SpillFile<RejectRecord>(file);
  }

  private async drop(row: IndexRow, stage: string, reason: string, detail: string, values: RejectValues): Promise<void> {
    if (!this.below) throw new Error('ScoreSelection: rejectsTo() before index()');
    const kind = String(row.kind);
    this.droppedByKind.set(kind, (this.droppedByKind.get(kind) ?? 0) + 1);
    this.belowByStage.set(stage, (this.belowByStage.get(stage) ?? 0) + 1);
    const url = typeof row.url === 'string' ? row.url : null;
    await this.below.append({ id: String(row.id), kind, source: String(row.source ?? row.unit), stage, reason, detail, url, host: hostOf(url), ...values });
  }

  /** The reject rows of the cut (after `index` has run). */
  async *rejects(): AsyncGenerator<RejectRecord> {
    if (this.below) yield* this.below.read();
  }

  /** Adds the calibration and keep_top stages to the stats and moves cut pairs from kept to dropped. */
  applyTo(stats: RunStats, manifest: Manifest): void {
    if (!this.active) return;
    const stages: [string, string, boolean, number][] = [
      [CALIBRATION_STAGE, P_ALIGNED_REASON, this.minPAligned !== null, this.passed.calibration],
      [KEEP_TOP_STAGE, KEEP_TOP_REASON, this.cut !== null, this.passed.keepTop],
    ];
    const cuts: FinaliseCut[] = [];
    for (const [name, reason, on, passed] of stages) {
      if (!on) continue;
      const dropped = this.belowByStage.get(name) ?? 0;
      cuts.push({ stage: name, reason, passed, dropped });
      const rule = name === KEEP_TOP_STAGE ? 'keep_top' : 'min_p_aligned';
      const entry = manifest.filters.find((f) => f.rule === rule && f.applied_to === 'index');
      if (entry) Object.assign(entry, { kept: passed, dropped });
    }
    applyFinaliseCuts(stats, manifest, cuts, this.droppedByKind, this.below?.length ?? 0);
  }
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

function keepTopEntryFromCut(column: string, fraction: number, cut: number, count: number): FilterEntry {
  return { column, rule: 'keep_top', fraction, threshold: cut, sketch: 't-digest', count };
}
