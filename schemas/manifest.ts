// manifest.json: what a training job and an auditor read first.

export interface ShardEntry {
  /** Path relative to OUT, e.g. shards/image_text-list-00000-0000.arrow */
  path: string;
  kind: string;
  rows: number;
  bytes: number;
  sha256: string;
  /** Unit that produced the shard. */
  unit: string;
}

export interface UnitEntry {
  id: string;
  source: string;
  /** Items kept / dropped in this unit. */
  kept: number;
  dropped: number;
  committed_at: string;
}

export interface ScorerEntry {
  id: string;
  model_sha256: string;
  preprocessing_hash: string;
}

export interface Manifest {
  schema_version: number;
  weft_version: string;
  config_fingerprint: string;
  /** Normalised config the run used. */
  config: unknown;
  scorers: ScorerEntry[];
  /** Filter rules applied on scores (threshold, keep_top) and the cuts they used. */
  filters: Record<string, unknown>[];
  units: UnitEntry[];
  shards: ShardEntry[];
  /** Per-unit sidecar files (OUT/sidecars/: the corpus sidecar of curate.corpus); absent when none. */
  sidecars?: ShardEntry[];
  /** Set on an OUT merged with --allow-partial: the planned units no part committed. */
  partial?: { missing_units: string[] };
  totals: { kept: number; dropped: number; shards: number; bytes: number };
}
