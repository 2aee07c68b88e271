// The rejects ledger: every item a stage drops lands here with stage, reason and detail.
// One ledger per unit; its rows are committed with the unit's shards, so a killed run never
// leaves a reject without its unit or a unit without its rejects.
export interface RejectRecord {
  /** The dropped item's id, sample kind and source (see Traceable in stage.ts). */
  id: string;
  kind: string;
  source: string;
  /** Stage that dropped the item. */
  stage: string;
  /** Short stable code, e.g. `decode_failed`, `http_404`, `score_below_threshold`. */
  reason: string;
  /** Human-readable specifics: the error message, the measured value and the limit. */
  detail: string;
}

export class RejectLedger {
  readonly rows: RejectRecord[] = [];
  /** Told of every drop with the dropped item itself (the executor samples report examples from it). */
  onItem?: (row: RejectRecord, item: unknown) => void;

  /** `item` is the dropped item as the stage saw it, when the caller has it. */
  reject(row: RejectRecord, item?: unknown): void {
    if (item !== undefined) this.onItem?.(row, item);
    this.rows.push({
      id: row.id,
      kind: row.kind,
      source: row.source,
      stage: row.stage,
      reason: row.reason,
      detail: row.detail.slice(0, 2000),
    });
  }
}
