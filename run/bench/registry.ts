// weft bench <name>: throughput against a limit measured in the same run, and peak RSS.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Bench, BenchOptions, BenchReport } from './harness.ts';
import { UsageError } from '../usage.ts';

/** Benchmarks by name; each module exports `bench`. */
const BENCHES: Record<string, { describe: string; load: () => Promise<Bench> }> = {};

export function registerBench(name: string, describe: string, load: () => Promise<Bench>): void {
  BENCHES[name] = { describe, load };
}

export function benchNames(): { name: string; describe: string }[] {
  return Object.entries(BENCHES).map(([name, b]) => ({ name, describe: b.describe }));
}

export async function runBench(name: string, n: number, keep: boolean, log: (l: string) => void, flags: BenchOptions['flags'] = {}): Promise<BenchReport> {
  const entry = BENCHES[name];
  if (!entry) throw new UsageError(`unknown benchmark ${JSON.stringify(name)}; available: ${Object.keys(BENCHES).join(', ') || 'none'}`);
  const workDir = await mkdtemp(path.join(os.tmpdir(), `weft-bench-${name}-`));
  try {
    return await (await entry.load())({ n, workDir, log, flags });
  } finally {
    if (!keep) await rm(workDir, { recursive: true, force: true });
    else log(`kept scratch folder ${workDir}`);
  }
}
