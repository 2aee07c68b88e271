// Loads, validates and fingerprints a run config (YAML or JSON).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, SCHEMA_VERSION, type WeftConfig } from './config.ts';

/** A config the run cannot use. The CLI prints the message on one line and exits 2. */
export class ConfigError extends Error {}

export interface LoadedConfig {
  config: WeftConfig;
  /** Folder relative paths in the config resolve against (the config file's folder). */
  baseDir: string;
}

export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const baseDir = path.dirname(path.resolve(file));
  const config = parseConfig(raw, file);
  // The entries list is read at finalise, which knows no config folder: resolve it here.
  const balance = config.curate.corpus.balance;
  if (balance.entries_file !== null) {
    balance.entries_file = path.resolve(baseDir, balance.entries_file);
    if (!existsSync(balance.entries_file)) throw new ConfigError(`${file}: curate.corpus.balance.entries_file: got ${JSON.stringify(balance.entries_file)}; no such file`);
  }
  const decon = config.curate.decontaminate;
  if (decon.eval_images !== null) {
    decon.eval_images = path.resolve(baseDir, decon.eval_images);
    if (!existsSync(decon.eval_images)) throw new ConfigError(`${file}: curate.decontaminate.eval_images: got ${JSON.stringify(decon.eval_images)}; no such folder`);
  }
  const filter = config.curate.corpus.image_cluster_filter;
  if (filter.reference !== null) {
    filter.reference = path.resolve(baseDir, filter.reference);
    if (!existsSync(filter.reference)) throw new ConfigError(`${file}: curate.corpus.image_cluster_filter.reference: got ${JSON.stringify(filter.reference)}; no such folder`);
  }
  // The embedding passes load the scorer again at finalise (weft merge, weft report), which
  // knows no config folder: a scorer given as a relative path is resolved here.
  if ((filter.reference !== null || decon.embedding_min_cosine !== null) && !['none', 'reference', 'reference-random', 'reference-backbone'].includes(config.score.scorer)) {
    config.score.scorer = path.resolve(baseDir, config.score.scorer);
  }
  return { config, baseDir };
}

export function parseConfig(raw: unknown, label = 'config'): WeftConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${label}: expected a mapping of sections (source, decode, ...)`);
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(`${label}: ${result.error.issues.map((i) => describeIssue(i, raw)).join('; ')}`);
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  const value = valueAt(raw, issue.path);
  const got = value === undefined ? 'nothing' : JSON.stringify(value);
  switch (issue.code) {
    case 'invalid_value':
      return `${key}: got ${got}; allowed: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `${key === '(top level)' ? '' : key + ': '}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_union':
      return `${key}: got ${got}; ${issue.message}`;
    default:
      return `${key}: got ${got}; ${issue.message.replace(/^Invalid input: /, '')}`;
  }
}

function valueAt(raw: unknown, p: PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/**
 * Keys that change no byte of the shards, index or rejects: the run's label, how many report
 * examples to show, and the run knobs (concurrency, logging). They are left out of the
 * fingerprint, so changing them resumes a run instead of refusing it.
 */
export const COSMETIC_CONFIG_KEYS = ['name', 'output.report_examples', 'run'] as const;

/** The config without its cosmetic keys (a deep copy of what remains). */
export function outputAffectingConfig(config: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(config ?? {})) as Record<string, unknown>;
  for (const key of COSMETIC_CONFIG_KEYS) {
    const parts = key.split('.');
    let cur: Record<string, unknown> | undefined = copy;
    for (const p of parts.slice(0, -1)) cur = cur && typeof cur[p] === 'object' && cur[p] !== null ? (cur[p] as Record<string, unknown>) : undefined;
    if (cur) delete cur[parts[parts.length - 1]];
  }
  return copy;
}

/**
 * Hash of what determines the output: the normalised config minus its cosmetic keys
 * (COSMETIC_CONFIG_KEYS), the schema version, and the hashes of any models used.
 */
export function configFingerprint(config: WeftConfig, modelHashes: string[] = []): string {
  return createHash('sha256')
    .update(canonicalJson({ schema_version: SCHEMA_VERSION, config: outputAffectingConfig(config), models: [...modelHashes].sort() }))
    .digest('hex');
}

/** Dotted paths of the output-affecting keys whose values differ between two configs (`decode.image_size`). */
export function differingConfigKeys(a: unknown, b: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, at: string) => {
    const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (isObj(x) && isObj(y)) {
      const keys = [...new Set([...Object.keys(x as object), ...Object.keys(y as object)])].sort();
      for (const k of keys) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], at ? `${at}.${k}` : k);
    } else if (canonicalJson(x) !== canonicalJson(y)) {
      out.push(at || '(whole config)');
    }
  };
  walk(outputAffectingConfig(a), outputAffectingConfig(b), '');
  return out;
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
