// What the executor needs from a source kind: how to split the input into units, how to turn
// one unit into samples (running its stages), and the schemas of the samples it emits.
import type { Unit } from '../core/units.ts';
import type { StageContext, Traceable } from '../core/stage.ts';
import type { KindSchema } from '../schemas/kind-schema.ts';
import type { Example } from '../core/stats.ts';

export interface SourcePlugin {
  /** Sample kinds this source emits (each kind gets its own shards). */
  kinds: KindSchema<any>[];
  listUnits(): Promise<Unit[]>;
  /** Source -> stages -> kept samples. Every dropped item must reach ctx.rejects. */
  processUnit(unit: Unit, ctx: StageContext): AsyncIterable<Traceable>;
  /** Rough stored size of a sample, for the shard byte cap. */
  approxBytes(sample: Traceable): number;
  /** A kept example for the report (thumbnail, caption, scores). Called for a bounded sample. */
  example?(sample: Traceable): Promise<Example>;
  /** Scorers the plugin runs, for the manifest and fingerprint. */
  scorers?: { id: string; model_sha256: string; preprocessing_hash: string }[];
  close?(): Promise<void>;
}
