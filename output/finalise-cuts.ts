// The counters of a cut made at finalise (min_p_aligned, keep_top, semantic dedup, balance):
// the pairs it drops were counted kept when their units committed, so each cut becomes a stage
// of its own in the stats and its pairs move from kept to dropped, per kind and in the totals.
import type { RunStats } from '../core/stats.ts';
import type { Manifest } from '../schemas/manifest.ts';

export interface FinaliseCut {
  stage: string;
  reason: string;
  passed: number;
  dropped: number;
}

export function applyFinaliseCuts(stats: RunStats, manifest: Manifest, cuts: readonly FinaliseCut[], droppedByKind: ReadonlyMap<string, number>, droppedTotal: number): void {
  for (const cut of cuts) {
    const stage = stats.stage(cut.stage);
    stage.in = cut.passed + cut.dropped;
    stage.out = cut.passed;
    stage.droppedByReason = cut.dropped ? { [cut.reason]: cut.dropped } : {};
  }
  for (const [kind, n] of droppedByKind) {
    const k = stats.kind(kind);
    k.kept -= n;
    k.dropped += n;
  }
  manifest.totals.kept -= droppedTotal;
  manifest.totals.dropped += droppedTotal;
}
