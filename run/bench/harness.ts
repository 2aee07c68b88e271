// Shared benchmark plumbing. Benchmarks report throughput as a ratio against a limit measured
// in the same run on the same machine (never an absolute time), and peak RSS measured in a
// fresh child process per measurement (a process's peak RSS only ever grows).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { isFullCollection } from '../../core/heap-growth.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../executor.ts';

export interface BenchOptions {
  /** Samples (pairs, clips) per measurement. */
  n: number;
  /** Scratch folder for generated inputs and outputs. */
  workDir: string;
  /** Variant switches from the command line (e.g. `--tail`, `--hosts` for web). */
  flags?: { tail?: boolean; hosts?: boolean };
  log: (line: string) => void;
}

export interface BenchReport {
  name: string;
  /** Human-readable lines, printed as they are. */
  lines: string[];
  /** Machine-readable figures (also printed as JSON with --json). */
  metrics: Record<string, number | string | boolean>;
}

export type Bench = (o: BenchOptions) => Promise<BenchReport>;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Runs `node --import tsx <script> <args>` and parses the last stdout line as JSON. The child
 * reports its own peak RSS (process.resourceUsage().maxRSS) alongside its figures.
 */
/** `nodeArgs`: options for the child's node (e.g. a heap cap). */
export function runChildMeasurement<T>(script: string, args: string[], nodeArgs: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.resolve(repoRoot, script), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${script} exited ${code}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no JSON result: ${last.slice(0, 200)}`));
      }
    });
  });
}

/** This process's peak RSS so far, MiB. */
export function peakRssMib(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** For measurement children: print the result with this process's peak RSS in MiB (`peakMib`:
 *  one taken earlier, when the child checks its output after the measured work). */
export function reportFromChild(result: Record<string, unknown>, peakMib: number = peakRssMib()): void {
  process.stdout.write(JSON.stringify({ ...result, peak_rss_mib: peakMib }) + '\n');
}

export function ratioLine(what: string, pipelineRate: number, limitRate: number, unit: string): string {
  return `${what}: pipeline ${pipelineRate.toFixed(1)} ${unit}/s, limit ${limitRate.toFixed(1)} ${unit}/s, ratio ${(pipelineRate / limitRate).toFixed(3)}`;
}

/** What a measurement child reports for one `weft run` of the pipeline. */
export interface PipelineMeasurement {
  kept: number;
  dropped: number;
  wall_ms: number;
  /** User + system CPU of this process (not of child processes such as ffmpeg). */
  cpu_ms: number;
  /** cpu_ms split by thread kind (threadCpuMs), where the OS reports it. */
  cpu_by_thread?: ThreadCpu;
  /** Busy time and items in, per stage, from the run's stats.json. */
  busy_ms: Record<string, number>;
  stage_in: Record<string, number>;
  /** Full (mark-compact) collections of the main thread's heap during the run. */
  full_gcs: number;
  peak_rss_mib: number;
}

/** Runs the pipeline on a config in this (child) process and measures it; the caller reports. */
export async function measurePipeline(configPath: string, outDir: string): Promise<Omit<PipelineMeasurement, 'peak_rss_mib'>> {
  const loaded = await loadConfigFile(configPath);
  let fullGcs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (isFullCollection(e)) fullGcs++;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpuMs();
  const started = performance.now();
  const summary = await runPipeline({ loaded, outDir });
  const wall_ms = performance.now() - started;
  const used = process.cpuUsage(cpuBefore);
  const byThread = threadCpuSince(threadsBefore, (used.user + used.system) / 1000);
  // Entries are delivered asynchronously: let the last ones arrive before counting.
  await new Promise((resolve) => setImmediate(resolve));
  gcObserver.disconnect();
  const stats = JSON.parse(await readFile(path.join(outDir, 'stats.json'), 'utf8')) as { stages: Record<string, { in: number; busy_ms: number }> };
  const stages = Object.entries(stats.stages);
  return {
    kept: summary.kept,
    dropped: summary.dropped,
    wall_ms,
    cpu_ms: (used.user + used.system) / 1000,
    ...(byThread ? { cpu_by_thread: byThread } : {}),
    busy_ms: Object.fromEntries(stages.map(([name, st]) => [name, st.busy_ms])),
    stage_in: Object.fromEntries(stages.map(([name, st]) => [name, st.in])),
    full_gcs: fullGcs,
  };
}

/** CPU ms of this process by thread kind: the JS main thread, libvips' own workers, and the rest
 *  (libuv's pool, where sharp and fs calls run, and V8's helpers, all named after the process). */
export interface ThreadCpu {
  main: number;
  libvips: number;
  other: number;
  /** Threads that ended before the second snapshot (libvips starts and ends some per call). */
  ended: number;
}

/** Per-thread CPU ms from /proc (Linux), keyed by thread id; null where there is no /proc. */
export function threadCpuMs(): Map<string, { name: string; ms: number }> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const msPerTick = 10; // /proc counts CPU in USER_HZ ticks, 100 per second on Linux
  const out = new Map<string, { name: string; ms: number }>();
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, ms: (Number(fields[11]) + Number(fields[12])) * msPerTick });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU by thread kind since a threadCpuMs() snapshot; `totalMs` is the process's CPU over the
 *  same span, so what threads that have ended since used is the remainder. */
export function threadCpuSince(before: ReturnType<typeof threadCpuMs>, totalMs: number): ThreadCpu | null {
  const after = threadCpuMs();
  if (!before || !after) return null;
  const split: ThreadCpu = { main: 0, libvips: 0, other: 0, ended: 0 };
  for (const [tid, t] of after) {
    const ms = t.ms - (before.get(tid)?.ms ?? 0);
    if (tid === String(process.pid)) split.main += ms;
    else if (t.name.startsWith('libvips')) split.libvips += ms;
    else split.other += ms;
  }
  // /proc counts in 10 ms ticks, so a small negative remainder is rounding.
  split.ended = Math.max(0, totalMs - split.main - split.libvips - split.other);
  return split;
}
