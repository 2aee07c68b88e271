// The rejects ledger: every item a stage drops lands here with stage, reason and detail.
// One ledger per unit; its rows are committed with the unit's shards, so a killed run never
// leaves a reject without its unit or a unit without its rejects.
import { sep } from 'node:path';

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
  /** Typed columns where the reason has them (rejects.parquet columns of the same names). */
  url?: string | null;
  /** Host of `url`, lower case. */
  host?: string | null;
  /** Score of a pair dropped on a score rule. */
  score?: number | null;
  /** Measured value a quality rule dropped the item on (caption chars, skew ms, confidence...). */
  value?: number | null;
  /** The limit `score` or `value` was held against. */
  threshold?: number | null;
}

/** The typed values a Drop may carry into its reject row. */
export interface RejectValues {
  score?: number;
  value?: number;
  threshold?: number;
}

/** Host of a URL for the rejects table; null when it does not parse. */
export function hostOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).hostname.toLowerCase() || null;
  } catch {
    return null;
  }
}

export class RejectLedger {
  readonly rows: RejectRecord[] = [];
  /**
   * Folders whose absolute paths are cut from details (tool messages such as ffmpeg's quote the
   * whole input path): a reject row, rejects.parquet and the report name inputs relative to the
   * source, and never the machine's folder layout.
   */
  private readonly rootPrefixes: string[];

  constructor(pathRoots: string[] = []) {
    // Longest first, so a root inside another is cut whole.
    this.rootPrefixes = [...new Set(pathRoots.filter(Boolean).map((r) => r.replace(/[\\/]+$/, '') + sep))].sort((a, b) => b.length - a.length);
  }

  /** Told of every drop with the dropped item itself (the executor samples report examples from it). */
  onItem?: (row: RejectRecord, item: unknown) => void;

  /** `item` is the dropped item as the stage saw it, when the caller has it. */
  reject(row: RejectRecord, item?: unknown): void {
    if (item !== undefined) this.onItem?.(row, item);
    const record: RejectRecord = {
      id: row.id,
      kind: row.kind,
      source: row.source,
      stage: row.stage,
      reason: row.reason,
      detail: this.relativeDetail(row.detail).slice(0, 2000),
    };
    // Typed columns only where the reason has them (absent reads back as null).
    const typed = { url: row.url ?? null, host: row.host ?? hostOf(row.url), score: finite(row.score), value: finite(row.value), threshold: finite(row.threshold) };
    for (const [k, v] of Object.entries(typed)) if (v !== null) (record as unknown as Record<string, unknown>)[k] = v;
    this.rows.push(record);
  }

  private relativeDetail(detail: string): string {
    let out = detail;
    for (const prefix of this.rootPrefixes) out = out.split(prefix).join('');
    return out;
  }
}

const finite = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
