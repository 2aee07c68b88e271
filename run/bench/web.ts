// weft bench web: image-caption samples per second through the whole web pipeline (URL-list
// parquet -> fetch over HTTP -> decode/resize/re-encode -> exact dedup -> perceptual hash ->
// Arrow shards, index, report) against sharp decoding, resizing and re-encoding the same JPEG
// bytes alone at the same concurrency, measured in the same run on the same files. The
// pipeline runs again on the first fifth of the list to show whether peak RSS grows with N.
// Each measurement runs in its own child process, so each peak RSS is its own; the HTTP server
// runs here, in the parent.
//
//   weft bench web [--n SAMPLES]        (default 2000 JPEGs at 640x480)
//   node --import tsx run/bench/web.ts --child <limit|pipeline> ...   (used by the bench)
//
// Politeness is switched off for the one local host (rate, per-host slots, robots.txt): the
// benchmark measures the pipeline, not the waits a polite crawl adds on purpose.
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { decodeSchema } from '../../schemas/config.ts';
import { measurePipeline, ratioLine, reportFromChild, runChildMeasurement, threadCpuMs, threadCpuSince, type Bench, type PipelineMeasurement, type ThreadCpu } from './harness.ts';
import { benchImageName, ensureBenchImages, IMAGE_CACHE, writeUrls } from './bench-inputs.ts';

const DEFAULT_SAMPLES = 2000;
const WIDTH = 640;
const HEIGHT = 480;
/** The pipeline's default run.concurrency; the limit decodes with the same parallelism. */
const CONCURRENCY = 4;
/** The smaller run for the RSS comparison is this fraction of N. */
const SMALL_FRACTION = 5;
const SCRIPT = 'run/bench/web.ts';
/** Generated JPEGs are deterministic per index, so they are kept between benchmark runs. */

interface LimitResult {
  samples: number;
  wall_ms: number;
  cpu_ms: number;
  bytes_in: number;
  peak_rss_mib: number;
  cpu_by_thread?: ThreadCpu;
}

type PipelineResult = PipelineMeasurement & { samples: number };

export const bench: Bench = async (options) => {
  if (options.flags?.tail || options.flags?.hosts) return (await import('./web-tail.ts')).benchWebFaults(options);
  const { n, workDir, log } = options;
  const samples = n || DEFAULT_SAMPLES;
  const small = Math.max(1, Math.round(samples / SMALL_FRACTION));
  log(`generating ${samples} distinct ${WIDTH}x${HEIGHT} JPEGs (cached in ${path.relative(process.cwd(), IMAGE_CACHE)})`);
  const files = await ensureBenchImages(IMAGE_CACHE, samples);
  const server = await serveFolder(IMAGE_CACHE);
  try {
    await writeUrlList(path.join(workDir, 'urls.parquet'), server.base, files);
    await writeUrlList(path.join(workDir, 'urls-small.parquet'), server.base, files.slice(0, small));
    await writeConfig(path.join(workDir, 'web.yaml'), 'urls.parquet');
    await writeConfig(path.join(workDir, 'web-small.yaml'), 'urls-small.parquet');

    log(`limit: sharp decode + resize + re-encode of the same ${samples} JPEGs alone, concurrency ${CONCURRENCY}`);
    const limit = await runChildMeasurement<LimitResult>(SCRIPT, ['--child', 'limit', IMAGE_CACHE, String(samples)]);
    log(`pipeline: ${samples} URLs through weft run`);
    const serverCpuBefore = process.cpuUsage();
    const full = await runChildMeasurement<PipelineResult>(SCRIPT, ['--child', 'pipeline', path.join(workDir, 'web.yaml'), path.join(workDir, 'out')]);
    const serverCpu = cpuMs(serverCpuBefore);
    log(`pipeline: the first ${small} URLs, for the peak RSS comparison`);
    const smallRun = await runChildMeasurement<PipelineResult>(SCRIPT, ['--child', 'pipeline', path.join(workDir, 'web-small.yaml'), path.join(workDir, 'out-small')]);

    const rate = (count: number, ms: number) => (count * 1000) / ms;
    const limitRate = rate(limit.samples, limit.wall_ms);
    const pipelineRate = rate(full.samples, full.wall_ms);
    const rssGrowth = full.peak_rss_mib / smallRun.peak_rss_mib - 1;
    const busy = Object.entries(full.busy_ms)
      .map(([stage, ms]) => `${stage} ${(ms / full.samples).toFixed(2)}`)
      .join(', ');
    const lines = [
      `web: ${samples} JPEGs at ${WIDTH}x${HEIGHT} (mean ${(limit.bytes_in / limit.samples / 1024).toFixed(0)} KiB), ${availableParallelism()} CPUs, run.concurrency ${CONCURRENCY}, resize to ${decodeSchema.parse({}).image_size} px`,
      ratioLine('end to end (HTTP fetch, decode, resize, dedup, pHash, shards) vs sharp decode + resize + encode alone', pipelineRate, limitRate, 'samples'),
      `CPU ms per sample: pipeline ${(full.cpu_ms / full.samples).toFixed(2)} + HTTP server ${(serverCpu / full.samples).toFixed(2)}, limit ${(limit.cpu_ms / limit.samples).toFixed(2)}`,
      ...threadSplitLine(full, limit),
      `kept ${full.kept}, dropped ${full.dropped}; stage busy ms per sample (summed over concurrent items): ${busy}`,
      `peak RSS: pipeline ${full.peak_rss_mib.toFixed(0)} MiB at ${samples} samples, ${smallRun.peak_rss_mib.toFixed(0)} MiB at ${small} (${rssGrowth >= 0 ? '+' : ''}${(rssGrowth * 100).toFixed(1)}%: ${Math.abs(rssGrowth) <= 0.2 ? 'flat' : 'NOT flat'}), limit alone ${limit.peak_rss_mib.toFixed(0)} MiB`,
    ];
    return {
      name: 'web',
      lines,
      metrics: {
        samples,
        cpus: availableParallelism(),
        pipeline_samples_per_s: pipelineRate,
        limit_samples_per_s: limitRate,
        pipeline_cpu_ms_per_sample: full.cpu_ms / full.samples,
        server_cpu_ms_per_sample: serverCpu / full.samples,
        limit_cpu_ms_per_sample: limit.cpu_ms / limit.samples,
        ratio: pipelineRate / limitRate,
        kept: full.kept,
        dropped: full.dropped,
        pipeline_peak_rss_mib: full.peak_rss_mib,
        small_samples: small,
        small_pipeline_samples_per_s: rate(smallRun.samples, smallRun.wall_ms),
        small_pipeline_peak_rss_mib: smallRun.peak_rss_mib,
        peak_rss_growth: rssGrowth,
        limit_peak_rss_mib: limit.peak_rss_mib,
      },
    };
  } finally {
    await server.close();
  }
};

// ---------------------------------------------------------------------------------------------
// Inputs

async function writeUrlList(file: string, base: string, names: string[]): Promise<void> {
  await writeUrls(file, names.map((name) => `${base}/img/${name}`));
}

async function writeConfig(file: string, list: string): Promise<void> {
  await writeFile(
    file,
    [
      `name: bench-web`,
      `run: { concurrency: ${CONCURRENCY}, log_level: warn }`,
      `source: { kind: web, path: ${list} }`,
      // One local host: no rate limit, every global slot usable for it, no robots.txt.
      `fetch: { allow_private_addresses: true, respect_robots_txt: false, concurrency: 32, per_host_concurrency: 32, per_host_rate: 1000000, per_host_burst: 1000000, retries: 0 }`,
      '',
    ].join('\n'),
  );
}

interface FolderServer {
  base: string;
  close(): Promise<void>;
}

/** Serves `folder` under /img/ on 127.0.0.1 with keep-alive, as a static image host would. */
async function serveFolder(folder: string): Promise<FolderServer> {
  const server: Server = createServer(async (req, res) => {
    const name = path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const body = await readFile(path.join(folder, name)).catch(() => undefined);
    if (!body) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length }).end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    base: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement children

/** The limit: what any image-caption pipeline must do per image, with the decode stage's defaults. */
async function limitChild(folder: string, count: number): Promise<void> {
  const cfg = decodeSchema.parse({});
  const names = Array.from({ length: count }, (_, i) => benchImageName(i));
  const limit = pLimit(CONCURRENCY);
  let bytesIn = 0;
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpuMs();
  const started = performance.now();
  await Promise.all(
    names.map((name) =>
      limit(async () => {
        const bytes = await readFile(path.join(folder, name));
        bytesIn += bytes.length;
        const meta = await sharp(bytes).metadata();
        const resize = meta.width <= meta.height ? { width: cfg.image_size } : { height: cfg.image_size };
        await sharp(bytes).resize(resize).jpeg({ quality: cfg.encode_quality }).toBuffer();
      }),
    ),
  );
  const cpu = cpuMs(cpuBefore);
  const byThread = threadCpuSince(threadsBefore, cpu);
  reportFromChild({ samples: count, wall_ms: performance.now() - started, cpu_ms: cpu, bytes_in: bytesIn, ...(byThread ? { cpu_by_thread: byThread } : {}) });
}

/** Where the CPU went, per sample: the JS main thread (HTTP client, hashing, stages, shards),
 *  libvips' workers, the rest (libuv's pool, where sharp calls start and end, and V8), and
 *  threads that ended before the run did. */
function threadSplitLine(full: PipelineResult, limit: LimitResult): string[] {
  const p = full.cpu_by_thread;
  const l = limit.cpu_by_thread;
  if (!p || !l) return [];
  const fmt = (t: ThreadCpu, n: number) => `main ${(t.main / n).toFixed(2)}, libvips ${(t.libvips / n).toFixed(2)}, pool and V8 ${(t.other / n).toFixed(2)}, ended threads ${(t.ended / n).toFixed(2)}`;
  return [`CPU ms per sample by thread: pipeline ${fmt(p, full.samples)}; limit ${fmt(l, limit.samples)}`];
}

/** CPU time (user + system, all threads) of this process since `before`, in ms. */
function cpuMs(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

async function pipelineChild(configPath: string, outDir: string): Promise<void> {
  const m = await measurePipeline(configPath, outDir);
  reportFromChild({ ...m, samples: m.stage_in.source ?? 0 });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--child') {
  const [mode, ...args] = process.argv.slice(3);
  if (mode === 'limit') await limitChild(args[0], Number(args[1]));
  else if (mode === 'pipeline') await pipelineChild(args[0], args[1]);
  else throw new Error(`unknown child mode ${mode}`);
}
