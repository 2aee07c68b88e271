// weft bench web --tail | --hosts: the web pipeline on URL mixes with slow, hanging and failing
// hosts, each figure a ratio against a clean run of the same URLs in the same bench run.
//
//   --tail   the same N URLs four times: no slow responses; 1% answering after 2 s; 1% never
//            answering (they time out at first_byte_timeout_ms); no slow responses again (the
//            clean reference is the mean of the first and last run). A slow item must not idle the
//            others, so the 1%-slow throughput should stay near the clean one, and the hanging run
//            should cost about one timeout, not N x timeout / concurrency.
//   --hosts  the N URLs spread over 32 hosts, each a server on its own loopback address
//            (127.0.0.2 ... 127.0.0.33) with its own latency, polite defaults (per-host slots,
//            adaptive rate, robots.txt): all healthy, and with 2 hosts failing (one refusing
//            connections, one answering 503), run healthy, failing, failing, healthy so that a
//            drifting load weighs on both alike. The healthy hosts' throughput should not move.
// Each pipeline run is a child process (run/bench/web.ts --child pipeline); the HTTP
// servers run here, in the parent.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { runChildMeasurement, type BenchOptions, type BenchReport, type PipelineMeasurement } from './harness.ts';
import { IMAGE_CACHE, ensureBenchImages, writeUrls } from './bench-inputs.ts';

const DEFAULT_SAMPLES = 2000;
const SCRIPT = 'run/bench/web.ts';
const SLOW_MS = 2000;
/** What a hanging URL costs: it times out at first_byte_timeout_ms. */
const HANG_TIMEOUT_MS = 5000;
const TAIL_FRACTION = 0.01;
const FETCH_CONCURRENCY = 32;
const HOSTS = 32;

type Measured = PipelineMeasurement & { samples: number };

export async function benchWebFaults({ n, workDir, log, flags }: BenchOptions): Promise<BenchReport> {
  const samples = n || DEFAULT_SAMPLES;
  log(`generating ${samples} distinct JPEGs (cached)`);
  const names = await ensureBenchImages(IMAGE_CACHE, samples);
  const lines: string[] = [];
  const metrics: Record<string, number> = { samples, cpus: availableParallelism() };
  if (flags?.tail) await tail(names, workDir, log, lines, metrics);
  if (flags?.hosts) await hosts(names, workDir, log, lines, metrics);
  return { name: 'web', lines, metrics };
}

// ---------------------------------------------------------------------------------------------
// --tail

async function tail(names: string[], workDir: string, log: (l: string) => void, lines: string[], metrics: Record<string, number>): Promise<void> {
  const server = await serveImages('127.0.0.1', 0);
  try {
    const picked = pickFraction(names.length, TAIL_FRACTION, 12345);
    const list = (route: 'slow' | 'hang' | null) => names.map((name, i) => `${server.base}/${route && picked.has(i) ? route : 'img'}/${name}`);
    const fetch = `{ allow_private_addresses: true, respect_robots_txt: false, concurrency: ${FETCH_CONCURRENCY}, per_host_concurrency: ${FETCH_CONCURRENCY}, per_host_rate: 1000000, per_host_burst: 1000000, retries: 0, first_byte_timeout_ms: ${HANG_TIMEOUT_MS}, total_timeout_ms: ${2 * HANG_TIMEOUT_MS} }`;
    const runs: Record<string, Measured> = {};
    // Clean, slow, hanging, clean again: the load on a shared machine drifts over minutes, and the
    // two clean runs around the others bound what that drift does to each ratio.
    for (const [label, route] of [['clean', null], ['slow', 'slow'], ['hang', 'hang'], ['clean-2', null]] as const) {
      const dir = path.join(workDir, `tail-${label}`);
      await writeUrls(`${dir}.parquet`, list(route));
      await writeFile(`${dir}.yaml`, `name: bench-tail-${label}\nrun: { concurrency: 4, log_level: warn }\nsource: { kind: web, path: ${path.basename(dir)}.parquet }\nfetch: ${fetch}\n`);
      log(`tail: ${label}: ${names.length} URLs${route ? `, ${picked.size} of them ${route === 'slow' ? `answering after ${SLOW_MS} ms` : 'never answering'}` : ''}`);
      runs[label] = await runChildMeasurement<Measured>(SCRIPT, ['--child', 'pipeline', `${dir}.yaml`, path.join(workDir, `out-tail-${label}`)]);
    }
    const rate = (m: Measured) => (m.samples * 1000) / m.wall_ms;
    // The clean reference: the mean wall time of the first and the last run.
    const cleanWallMs = (runs.clean.wall_ms + runs['clean-2'].wall_ms) / 2;
    const clean: Measured = { ...runs.clean, wall_ms: cleanWallMs };
    const driftMs = runs['clean-2'].wall_ms - runs.clean.wall_ms;
    const slowRatio = rate(runs.slow) / rate(clean);
    const hangExtraMs = runs.hang.wall_ms - clean.wall_ms;
    // What head-of-line blocking costs at worst: every window of `concurrency` URLs waits out a timeout.
    const holBoundMs = (names.length * HANG_TIMEOUT_MS) / FETCH_CONCURRENCY;
    lines.push(
      `tail: ${names.length} URLs on 127.0.0.1, fetch concurrency ${FETCH_CONCURRENCY}, ${picked.size} URLs (${(TAIL_FRACTION * 100).toFixed(0)}%) slow or hanging`,
      `tail: no slow responses: ${rate(clean).toFixed(1)} URLs/s (kept ${clean.kept}; first run ${(runs.clean.wall_ms / 1000).toFixed(1)} s, last run ${(runs['clean-2'].wall_ms / 1000).toFixed(1)} s: the load moved the same run by ${(driftMs / 1000).toFixed(1)} s = ${(driftMs / HANG_TIMEOUT_MS).toFixed(2)} x the timeout)`,
      `tail: 1% slow (${SLOW_MS} ms): ${rate(runs.slow).toFixed(1)} URLs/s (kept ${runs.slow.kept}), ratio to no slow ${slowRatio.toFixed(3)} (aim >= 0.9)`,
      `tail: 1% never answering (timeout ${HANG_TIMEOUT_MS} ms): ${rate(runs.hang).toFixed(1)} URLs/s (kept ${runs.hang.kept}, dropped ${runs.hang.dropped}), ${(runs.hang.wall_ms / 1000).toFixed(1)} s = no-slow run + ${(hangExtraMs / 1000).toFixed(1)} s (${(hangExtraMs / HANG_TIMEOUT_MS).toFixed(2)} x the timeout; the head-of-line bound N x timeout / concurrency is ${(holBoundMs / 1000).toFixed(1)} s)`,
    );
    Object.assign(metrics, {
      tail_clean_urls_per_s: rate(clean),
      tail_clean_drift_s: driftMs / 1000,
      tail_slow_urls_per_s: rate(runs.slow),
      tail_slow_ratio: slowRatio,
      tail_hang_urls_per_s: rate(runs.hang),
      tail_hang_ratio: rate(runs.hang) / rate(clean),
      tail_hang_extra_s: hangExtraMs / 1000,
      tail_hang_extra_in_timeouts: hangExtraMs / HANG_TIMEOUT_MS,
      tail_hang_hol_bound_s: holBoundMs / 1000,
      tail_peak_rss_mib_clean: Math.max(runs.clean.peak_rss_mib, runs['clean-2'].peak_rss_mib),
      tail_peak_rss_mib_slow: runs.slow.peak_rss_mib,
      tail_peak_rss_mib_hang: runs.hang.peak_rss_mib,
    });
  } finally {
    await server.close();
  }
}

/** `round(n * fraction)` distinct indices below n, the same for a seed. */
function pickFraction(n: number, fraction: number, seed: number): Set<number> {
  const random = mulberry32(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return new Set(order.slice(0, Math.max(1, Math.round(n * fraction))));
}

// ---------------------------------------------------------------------------------------------
// --hosts

async function hosts(names: string[], workDir: string, log: (l: string) => void, lines: string[], metrics: Record<string, number>): Promise<void> {
  // Latencies 0..21 ms, varied per host; hosts 7 and 20 fail in the failing runs.
  const latencyOf = (h: number) => (h * 7) % 22;
  const failing = new Map<number, 'refuse' | '503'>([[7, 'refuse'], [20, '503']]);
  const runs: Record<'healthy' | 'failing', Measured[]> = { healthy: [], failing: [] };
  // Healthy, failing, failing, healthy: a load that drifts during the bench (other work on the
  // machine) weighs on both variants alike.
  const order = ['healthy', 'failing', 'failing', 'healthy'] as const;
  for (const [k, variant] of order.entries()) {
    const servers: ImageServer[] = [];
    try {
      for (let h = 0; h < HOSTS; h++) {
        const fault = variant === 'failing' ? failing.get(h) : undefined;
        const s = await serveImages(`127.0.0.${h + 2}`, latencyOf(h), fault === '503');
        if (fault === 'refuse') await s.close(); // nothing listens there any more: connections are refused
        servers.push(s);
      }
      const urls = names.map((name, i) => `${servers[i % HOSTS].base}/img/${name}`);
      const dir = path.join(workDir, `hosts-${variant}-${k}`);
      await writeUrls(`${dir}.parquet`, urls);
      // Polite defaults (per-host slots, adaptive rate from 5 req/s, robots.txt, retries), a wider global pool.
      await writeFile(`${dir}.yaml`, `name: bench-hosts-${variant}\nrun: { concurrency: 4, log_level: warn }\nsource: { kind: web, path: ${path.basename(dir)}.parquet }\nfetch: { allow_private_addresses: true, concurrency: 128 }\n`);
      log(`hosts: run ${k + 1} of ${order.length}, ${variant}: ${names.length} URLs over ${HOSTS} hosts${variant === 'failing' ? ' (host 7 refuses connections, host 20 answers 503)' : ''}`);
      runs[variant].push(await runChildMeasurement<Measured>(SCRIPT, ['--child', 'pipeline', `${dir}.yaml`, path.join(workDir, `out-hosts-${variant}-${k}`)]));
    } finally {
      await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    }
  }
  const sum = (ms: Measured[], f: (m: Measured) => number) => ms.reduce((t, m) => t + f(m), 0);
  // Rates over both runs of a variant: all its rows over all its wall time.
  const keptRate = (ms: Measured[]) => (sum(ms, (m) => m.kept) * 1000) / sum(ms, (m) => m.wall_ms);
  const urlRate = (ms: Measured[]) => (sum(ms, (m) => m.samples) * 1000) / sum(ms, (m) => m.wall_ms);
  const { healthy, failing: withFailing } = runs;
  const walls = (ms: Measured[]) => ms.map((m) => `${(m.wall_ms / 1000).toFixed(1)} s`).join(' and ');
  lines.push(
    `hosts: ${names.length} URLs round-robin over ${HOSTS} hosts on 127.0.0.2-${HOSTS + 1}, latency 0-21 ms, polite defaults; runs healthy, failing, failing, healthy`,
    `hosts: 32 healthy: kept ${healthy[0].kept} per run in ${walls(healthy)}, ${keptRate(healthy).toFixed(1)} kept/s, ${urlRate(healthy).toFixed(1)} URLs/s`,
    `hosts: 30 healthy + 2 failing: kept ${withFailing[0].kept}, dropped ${withFailing[0].dropped} per run in ${walls(withFailing)}, ${keptRate(withFailing).toFixed(1)} kept/s (ratio ${(keptRate(withFailing) / keptRate(healthy)).toFixed(3)}), ${urlRate(withFailing).toFixed(1)} URLs/s (ratio ${(urlRate(withFailing) / urlRate(healthy)).toFixed(3)}); aim: within 10%`,
    `hosts: URLs/s ratio per pair of neighbouring runs: ${(urlRate([withFailing[0]]) / urlRate([healthy[0]])).toFixed(3)} (runs 1-2), ${(urlRate([withFailing[1]]) / urlRate([healthy[1]])).toFixed(3)} (runs 3-4)`,
  );
  Object.assign(metrics, {
    hosts_healthy_kept_per_s: keptRate(healthy),
    hosts_failing_kept_per_s: keptRate(withFailing),
    hosts_kept_ratio: keptRate(withFailing) / keptRate(healthy),
    hosts_healthy_urls_per_s: urlRate(healthy),
    hosts_failing_urls_per_s: urlRate(withFailing),
    hosts_urls_ratio: urlRate(withFailing) / urlRate(healthy),
    hosts_failing_dropped: withFailing[0].dropped,
  });
}

// ---------------------------------------------------------------------------------------------
// Servers

interface ImageServer {
  base: string;
  close(): Promise<void>;
}

/**
 * Serves the cached bench images on `host`: /img/<name> after `latencyMs`, /slow/<name> after
 * SLOW_MS, /hang/<name> never; robots.txt is 404 (no rules). `always503` answers every image 503.
 */
async function serveImages(host: string, latencyMs: number, always503 = false): Promise<ImageServer> {
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const server: Server = createServer((req, res) => {
    const [, route, file] = new URL(req.url ?? '/', 'http://x').pathname.split('/');
    if (route === 'robots.txt') return void res.writeHead(404).end();
    if (route === 'hang') return;
    if (always503) return void later(latencyMs, () => res.writeHead(503).end('unavailable'));
    later(route === 'slow' ? SLOW_MS : latencyMs, () => void sendImage(res, file));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  let closed: Promise<void> | undefined;
  return {
    base: `http://${host}:${address.port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}

async function sendImage(res: ServerResponse, file: string | undefined): Promise<void> {
  const body = file ? await readFile(path.join(IMAGE_CACHE, path.basename(decodeURIComponent(file)))).catch(() => undefined) : undefined;
  if (!body) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  if (!res.destroyed) res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length }).end(body);
}
