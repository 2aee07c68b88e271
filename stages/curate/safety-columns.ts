// Shard and index columns of the safety stage: one per class probability, and `nsfw`.
import * as arrow from 'apache-arrow';
import { hf, type ColumnSpec, type IndexColumnSpec } from '../../schemas/kind-schema.ts';
import { NSFW_CLASSES } from '../../scorer/backbone/nsfwjs-mobilenet.ts';
import type { SafetyFields } from './safety-stage.ts';

export const NSFW_COLUMN = 'nsfw';
const classColumn = (c: string) => `nsfw_${c}`;

export function safetyColumns<S extends SafetyFields>(): ColumnSpec<S>[] {
  return [...NSFW_CLASSES.map((c) => ({ key: c, name: classColumn(c) })), { key: 'nsfw' as const, name: NSFW_COLUMN }].map(({ key, name }) => ({
    name,
    type: new arrow.Float64(),
    nullable: true,
    hf: hf.float64,
    get: (s: S) => s.safety?.[key] ?? null,
  }));
}

export function safetyIndexColumns<S extends SafetyFields>(): IndexColumnSpec<S>[] {
  return [...NSFW_CLASSES.map((c) => ({ key: c, name: classColumn(c) })), { key: 'nsfw' as const, name: NSFW_COLUMN }].map(({ key, name }) => ({
    name,
    type: 'DOUBLE' as const,
    get: (s: S) => s.safety?.[key] ?? null,
  }));
}
