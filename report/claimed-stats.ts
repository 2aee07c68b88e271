// Names of stats.json entries that a kind's own report section shows, so the generic sections
// (counters, distributions, worst examples) leave them out rather than show them twice.
export interface ClaimedStats {
  histograms: ReadonlySet<string>;
  sketches: ReadonlySet<string>;
  counters: ReadonlySet<string>;
  worst: ReadonlySet<string>;
}

export const NOTHING_CLAIMED: ClaimedStats = { histograms: new Set(), sketches: new Set(), counters: new Set(), worst: new Set() };
