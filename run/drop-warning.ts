// The warning a run prints when it kept nothing: exiting 0 with an empty output and no word
// about why hides a misconfiguration (timeouts, an address guard, robots.txt) behind a
// summary line nobody reads.

/** Reasons the warning names. */
const TOP_REASONS = 3;

/** The warning for a run that dropped every item it saw, or null when it kept any (or saw none). */
export function everythingDroppedWarning(totals: { kept: number; dropped: number; droppedByReason: Record<string, number> }): string | null {
  if (totals.kept > 0 || totals.dropped === 0) return null;
  const top = Object.entries(totals.droppedByReason)
    .sort(([ra, a], [rb, b]) => b - a || (ra < rb ? -1 : 1))
    .slice(0, TOP_REASONS)
    .map(([reason, n]) => `${reason} ${n} (${((100 * n) / totals.dropped).toFixed(0)}%)`);
  return `every item was dropped (${totals.dropped}); top reasons: ${top.join(', ')}; see rejects.parquet and report.html for details`;
}
