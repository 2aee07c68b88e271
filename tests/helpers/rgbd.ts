// RGB-D test helpers: a real StageContext for a named unit and parsed RGB-D config sections.
import { testContext } from './context.ts';
import type { RejectLedger } from '../../core/rejects.ts';
import { rgbdQualitySchema, rgbdSourceSchema, type RgbdReadConfig } from '../../schemas/rgbd-config.ts';

export function makeContext(unit = { id: 'test', source: 'test' }): ReturnType<typeof testContext> {
  return { ...testContext(), unit };
}

export function rgbdConfig(path: string, source: Record<string, unknown> = {}, rgbd: Record<string, unknown> = {}): RgbdReadConfig {
  return { source: rgbdSourceSchema.parse({ kind: 'rgbd', path, ...source }), rgbd: rgbdQualitySchema.parse(rgbd) };
}

/** Filters that keep every decodable pair, for tests about reading and pairing. */
export const KEEP_ALL = { min_registration_confidence: 0, max_registration_shift: 64, min_valid_ratio: 0, max_skew_ms: 1e9 };

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

export function reasons(ledger: RejectLedger): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of ledger.rows) out[r.reason] = (out[r.reason] ?? 0) + 1;
  return out;
}
