// What a source kind declares, besides its pipeline: how to make its plugin for a run, its
// report sections, and what finalise does across the whole run for it. The registry finds a
// kind's definition by name (kinds/<kind>.ts exports `definition`), so adding a kind edits no
// table here or in output/ and report/.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { KindReportSection } from '../report/report-html.ts';
import type { SourcePlugin } from './plugin.ts';

export interface KindDefinition {
  /** The `source.kind` it serves. */
  source: string;
  createPlugin(loaded: LoadedConfig): Promise<SourcePlugin>;
  /** Its sections of report.html, in page order. */
  report: readonly KindReportSection[];
  /**
   * Run-wide dedup at finalise (exact by sha256, perceptual by phash within the distance):
   * null when the kind's samples carry no content hash.
   */
  runWideDedup(config: unknown): { phashMaxDistance: number | null } | null;
}
