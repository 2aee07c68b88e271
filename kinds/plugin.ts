// What the executor needs from a source kind: how to split the input into units, how to turn
// one unit into samples (running its stages), and the schemas of the samples it emits.
import type { Unit } from '../core/units.ts';
import type { StageContext, Traceable } from '../core/stage.ts';
import type { KindSchema } from '../schemas/kind-schema.ts';
import type { Example } from '../core/stats.ts';

// A kind's plugin is typed by the samples its pipeline emits (S); the executor holds any plugin
// as SourcePlugin<Traceable>, which the method signatures below allow.
export interface SourcePlugin<S extends Traceable = Traceable, Spec = unknown> {
  /** Sample kinds this source emits (each kind gets its own shards). */
  kinds: KindSchema<S>[];
  listUnits(): Promise<Unit<Spec>[]>;
  /** Input fingerprint of each unit (stamps of its files, a hash of its rows): recorded in its
   *  commit, so a rerun can tell units whose input changed since (stages/sources/unit-fingerprint.ts). */
  inputFingerprints(units: Unit<Spec>[]): Promise<Map<string, string>>;
  /** The kind's pipeline, declared in flow order: source -> fetch -> decode -> pair -> align ->
   *  score -> curate, each step a stage of core/stage.ts. Every dropped item reaches the ledger. */
  processUnit(unit: Unit<Spec>, ctx: StageContext): AsyncIterable<S>;
  /** Per-unit sidecar files written beside the shards (OUT/sidecars/, one row per kept sample):
   *  the corpus sidecar of curate.corpus. Absent: none. */
  sidecars?: KindSchema<S>[];
  /** Rough stored size of a sample, for the shard byte cap. */
  approxBytes(sample: S): number;
  /** A kept example for the report (thumbnail, caption, scores). Called for a bounded sample. */
  example?(sample: S): Promise<Example>;
  /** A dropped item's picture and caption for the report, from whatever the item held when it was dropped. */
  dropExample?(item: unknown): Promise<Example>;
  /** Scorers the plugin runs, for the manifest and fingerprint. */
  scorers?: { id: string; model_sha256: string; preprocessing_hash: string }[];
  close?(): Promise<void>;
}
