// weft bench rgbd: RGB-D pairs per second end to end (list, pair, decode, registration, quality,
// shards, report) against decoding the same 16-bit depth PNGs alone with sharp, measured in the
// same run on the same files. The pipeline runs three ways: with the default registration (on 2
// CPUs the main thread, handing over to workers after a run's first 100 pairs), on the main
// thread (registration_workers: 0), and with one worker per CPU from the first pair, to show
// what the worker threads buy. Each measurement runs in its
// own child process, so each peak RSS is its own.
//
//   weft bench rgbd [--n PAIRS]        (default 400 pairs at 640x480)
//   node --import tsx run/bench/rgbd.ts --child <decode|pipeline> ...   (used by the bench)
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import { makeRgbdFixtures } from '../fixtures/rgbd-fixtures.ts';
import { decodeDepthPng } from '../../stages/decode/depth-png.ts';
import { decodeRgb } from '../../stages/decode/rgb-image.ts';
import { defaultRegistration } from '../../stages/align/registration-handover.ts';
import { measurePipeline, ratioLine, reportFromChild, runChildMeasurement, type Bench, type PipelineMeasurement } from './harness.ts';

// Enough pairs that the run's fixed costs (loading, the first pairs' compilation, finalise and
// the report: about 0.4 s) do not decide a throughput figure: at 60 pairs they were half the run.
const DEFAULT_PAIRS = 400;
const WIDTH = 640;
const HEIGHT = 480;
/** The pipeline's default run.concurrency; the decode limit gets the same parallelism. */
const CONCURRENCY = 4;
const SCRIPT = 'run/bench/rgbd.ts';
/** Pipeline measurements per variant; the fastest counts. */
const ROUNDS = 2;

interface DecodeResult {
  pairs: number;
  depth_ms: number;
  rgb_depth_ms: number;
  /** CPU of the whole process (all threads) over the depth + colour decode. */
  rgb_depth_cpu_ms: number;
  peak_rss_mib: number;
}

type PipelineResult = PipelineMeasurement & { pairs: number };

export const bench: Bench = async ({ n, workDir, log }) => {
  const pairs = n || DEFAULT_PAIRS;
  // Other processes on the machine move pairs/s far more than CPU per pair: the load goes with the figures.
  const loadAtStart = loadavg()[0];
  const dataDir = path.join(workDir, 'data');
  log(`rendering ${pairs} RGB-D frames at ${WIDTH}x${HEIGHT} (TUM layout, 30% with an injected shift)`);
  // No dropped frames: every rendered frame becomes a pair, so all measurements see the same files.
  await makeRgbdFixtures(dataDir, { frames: pairs, width: WIDTH, height: HEIGHT, layouts: ['tum'], seed: 11, shiftedFraction: 0.3, dropRate: 0 });
  const sequenceDir = path.join(dataDir, 'tum', 'seq00');

  const decodeRun = (round: number) => {
    log(`limit: sharp decoding the same 16-bit depth PNGs (and then depth + colour) alone, round ${round}`);
    return runChildMeasurement<DecodeResult>(SCRIPT, ['--child', 'decode', sequenceDir]);
  };
  const decodeRuns: DecodeResult[] = [];

  const pipelineRun = async (label: string, workers: number | null, round: number) => {
    const config = path.join(workDir, `rgbd-${label}.yaml`);
    const workersLine = workers === null ? '' : `, registration_workers: ${workers}`;
    await writeFile(config, `name: bench-rgbd-${label}\nrun: { concurrency: ${CONCURRENCY} }\nsource: { kind: rgbd, path: data/tum, layout: tum${workersLine} }\n`);
    log(`pipeline, registration ${label}, round ${round}`);
    return runChildMeasurement<PipelineResult>(SCRIPT, ['--child', 'pipeline', config, path.join(workDir, `out-${label}-${round}`)]);
  };
  // Best of ROUNDS, alternating the variants and the limit, so a burst of load from other
  // processes on a shared machine does not decide the comparison (a limit measured once, in a
  // slow moment, made the ratio look better than it was).
  const cpus = availableParallelism();
  const plan = defaultRegistration(CONCURRENCY, cpus);
  const perCpuWorkers = Math.min(CONCURRENCY, cpus);
  const defaultName =
    plan.workers === 0 ? 'by default (main thread)' : plan.mainThreadPairs === 0 ? `by default (${plan.workers} workers)` : `by default (main thread, ${plan.workers} workers after ${plan.mainThreadPairs} pairs)`;
  const variants = [
    { label: 'default', workers: null as number | null, name: defaultName, runs: [] as PipelineResult[] },
    { label: 'on-main-thread', workers: 0, name: 'on the main thread', runs: [] as PipelineResult[] },
    { label: `in-${perCpuWorkers}-workers`, workers: perCpuWorkers, name: `in ${perCpuWorkers} worker thread${perCpuWorkers === 1 ? '' : 's'}`, runs: [] as PipelineResult[] },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    decodeRuns.push(await decodeRun(round));
    for (const v of variants) v.runs.push(await pipelineRun(v.label, v.workers, round));
  }
  // The fastest depth decode and the fastest depth + colour decode (with its CPU), each the best of its rounds.
  const fastestDecode = decodeRuns.reduce((a, b) => (b.rgb_depth_ms < a.rgb_depth_ms ? b : a));
  const decode: DecodeResult = { ...fastestDecode, depth_ms: Math.min(...decodeRuns.map((d) => d.depth_ms)) };
  const fastest = (runs: PipelineResult[]) => runs.reduce((a, b) => (b.wall_ms < a.wall_ms ? b : a));
  const rate = (count: number, ms: number) => (count * 1000) / ms;
  const depthRate = rate(decode.pairs, decode.depth_ms);
  const bothRate = rate(decode.pairs, decode.rgb_depth_ms);
  const measured = variants.map((v) => {
    const best = fastest(v.runs);
    return { ...v, best, rate: rate(best.pairs, best.wall_ms) };
  });
  const [byDefault, mainThread, perCpu] = measured;
  const loadAtEnd = loadavg()[0];
  const allRates = (runs: PipelineResult[]) => runs.map((r) => rate(r.pairs, r.wall_ms).toFixed(1)).join(', ');
  const lines = [
    `rgbd: ${pairs} pairs at ${WIDTH}x${HEIGHT}, ${cpus} CPUs, run.concurrency ${CONCURRENCY}, load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${loadAtEnd.toFixed(1)} at the end`,
    ...measured.map((m) => ratioLine(`end to end, registration ${m.name} vs 16-bit depth PNG decode alone`, m.rate, depthRate, 'pairs')),
    `decode alone: depth ${depthRate.toFixed(1)} pairs/s, depth + colour ${bothRate.toFixed(1)} pairs/s; end to end of depth + colour (the aim is 0.5): ${measured.map((m) => `${m.name} ${(m.rate / bothRate).toFixed(3)}`).join(', ')}`,
    `vs the main thread: default ${(byDefault.rate / mainThread.rate).toFixed(2)}x, ${perCpu.name} ${(perCpu.rate / mainThread.rate).toFixed(2)}x (best of ${ROUNDS}; all rounds, pairs/s: depth + colour decode alone ${decodeRuns.map((d) => rate(d.pairs, d.rgb_depth_ms).toFixed(1)).join(', ')}; ${measured.map((m) => `${m.name} ${allRates(m.runs)}`).join('; ')})`,
    `kept ${byDefault.best.kept}, dropped ${byDefault.best.dropped} (same in every variant: ${measured.every((m) => m.best.kept === byDefault.best.kept && m.best.dropped === byDefault.best.dropped)})`,
    // CPU per pair does not depend on what else the machine runs as much as pairs/s does: with
    // every core busy, the end-to-end ratio would approach the CPU ratio.
    `CPU per pair (all threads): depth + colour decode ${cpuPerPair(decode.rgb_depth_cpu_ms, decode.pairs)} ms; ${measured.map((m) => `registration ${m.name} ${cpuPerPair(m.best.cpu_ms, m.best.pairs)} ms (main thread ${cpuPerPair(m.best.cpu_by_thread?.main, m.best.pairs)})`).join(', ')}; CPU ratio (decode / pipeline) ${((decode.rgb_depth_cpu_ms / decode.pairs) / (byDefault.best.cpu_ms / byDefault.best.pairs)).toFixed(3)} by default`,
    `full collections of the main thread's heap per 100 pairs: ${measured.map((m) => `${m.name} ${((100 * m.best.full_gcs) / m.best.pairs).toFixed(1)}`).join(', ')} (core/heap-growth.ts; WEFT_V8_HEAP_GROWTH=default for V8's own rule)`,
    `peak RSS: ${measured.map((m) => `registration ${m.name} ${m.best.peak_rss_mib.toFixed(0)} MiB`).join(', ')} (workers share the process), decode alone ${decode.peak_rss_mib.toFixed(0)} MiB`,
  ];
  return {
    name: 'rgbd',
    lines,
    metrics: {
      pairs,
      cpus,
      registration_workers: plan.workers,
      registration_main_thread_pairs: plan.mainThreadPairs,
      pipeline_pairs_per_s: byDefault.rate,
      pipeline_main_thread_pairs_per_s: mainThread.rate,
      depth_decode_pairs_per_s: depthRate,
      rgb_depth_decode_pairs_per_s: bothRate,
      ratio_to_depth_decode: byDefault.rate / depthRate,
      ratio_to_rgb_depth_decode: byDefault.rate / bothRate,
      main_thread_ratio_to_rgb_depth_decode: mainThread.rate / bothRate,
      rgb_depth_decode_cpu_ms_per_pair: decode.rgb_depth_cpu_ms / decode.pairs,
      pipeline_cpu_ms_per_pair: byDefault.best.cpu_ms / byDefault.best.pairs,
      pipeline_main_thread_cpu_ms_per_pair: mainThread.best.cpu_ms / mainThread.best.pairs,
      pipeline_peak_rss_mib: byDefault.best.peak_rss_mib,
      pipeline_full_gcs_per_100_pairs: (100 * byDefault.best.full_gcs) / byDefault.best.pairs,
      pipeline_main_thread_peak_rss_mib: mainThread.best.peak_rss_mib,
      per_cpu_workers: perCpuWorkers,
      per_cpu_workers_speedup: perCpu.rate / mainThread.rate,
      pipeline_per_cpu_workers_pairs_per_s: perCpu.rate,
      pipeline_per_cpu_workers_cpu_ms_per_pair: perCpu.best.cpu_ms / perCpu.best.pairs,
      pipeline_per_cpu_workers_peak_rss_mib: perCpu.best.peak_rss_mib,
      decode_peak_rss_mib: decode.peak_rss_mib,
      load_average_start: loadAtStart,
      load_average_end: loadAtEnd,
    },
  };
};

const cpuPerPair = (ms: number | undefined, pairs: number) => (ms === undefined ? 'n/a' : (ms / pairs).toFixed(1));

// ---------------------------------------------------------------------------------------------
// Measurement children

async function decodeChild(sequenceDir: string): Promise<void> {
  const files = async (sub: string) => (await readdir(path.join(sequenceDir, sub))).filter((f) => f.endsWith('.png')).sort().map((f) => path.join(sequenceDir, sub, f));
  const depthFiles = await files('depth');
  const rgbFiles = await files('rgb');
  const limit = pLimit(CONCURRENCY);
  let cpuMs = 0;
  const timed = async (work: (i: number) => Promise<unknown>) => {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    // Each result is dropped as it arrives: holding every decoded frame until the end (as
    // Promise.all of the results would) grows the heap with the count and slows the limit.
    await Promise.all(depthFiles.map((_, i) => limit(async () => void (await work(i)))));
    const used = process.cpuUsage(cpuBefore);
    cpuMs = (used.user + used.system) / 1000;
    return performance.now() - started;
  };
  // Files are read inside the timed work, as the pipeline reads them.
  const depth_ms = await timed(async (i) => decodeDepthPng(await readFile(depthFiles[i])));
  const rgb_depth_ms = await timed(async (i) => Promise.all([decodeDepthPng(await readFile(depthFiles[i])), decodeRgb(await readFile(rgbFiles[i]), rgbFiles[i])]));
  reportFromChild({ pairs: depthFiles.length, depth_ms, rgb_depth_ms, rgb_depth_cpu_ms: cpuMs });
}

async function pipelineChild(configPath: string, outDir: string): Promise<void> {
  const m = await measurePipeline(configPath, outDir);
  // Pairs = candidates that entered decoding: the pairing stage's output, counted in pairs.
  reportFromChild({ ...m, pairs: m.stage_in.rgbd_decode ?? 0 });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--child') {
  const [mode, ...args] = process.argv.slice(3);
  if (mode === 'decode') await decodeChild(args[0]);
  else if (mode === 'pipeline') await pipelineChild(args[0], args[1]);
  else throw new Error(`unknown child mode ${mode}`);
}
