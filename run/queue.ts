// The work-queue executor: units become BullMQ jobs in Redis, and any number of workers on
// any machines pull them until the queue is empty. Each worker writes its own OUT with the
// usual commit protocol; `weft merge` combines them.
//
// Delivery is at least once: a worker that dies after committing a unit but before
// acknowledging it has its job handed to another worker, which commits the same unit again in
// its own OUT. Processing is deterministic, so both commits hold identical shards, and merge
// keeps one of them: the merged output holds every sample exactly once.
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { inputPaths, openUnitSession, plannedUnits, totalsOf, type OutTotals } from './executor.ts';
import { portableCommand } from '../output/invocations.ts';
import { WEFT_VERSION } from '../core/version.ts';
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { Logger } from '../core/logger.ts';
import type { Unit } from '../core/units.ts';
import { errorMessage } from '../core/stage.ts';
import { configFingerprint } from '../schemas/config-file.ts';
import { createSourcePlugin } from '../kinds/registry.ts';
import { UsageError } from './usage.ts';

export interface RedisTarget {
  /** redis://host:port[/db] */
  url: string;
  /** Queue name; default: derived from the config fingerprint, so two configs never share one. */
  queue?: string;
}

interface UnitJob {
  unit: Unit;
  fingerprint: string;
}

function connectionOf(url: string): { host: string; port: number; db?: number; password?: string; username?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--redis: ${JSON.stringify(url)} is not a URL like redis://127.0.0.1:6379`);
  }
  if (u.protocol !== 'redis:') throw new UsageError(`--redis: expected a redis:// URL, got ${url}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
  };
}

/** The Redis URL: --redis, else WEFT_REDIS_URL; neither is a usage error (no silent default host). */
export function redisUrlFrom(flag: string | undefined, env = process.env): string {
  const url = flag ?? (env.WEFT_REDIS_URL || undefined);
  if (!url) throw new UsageError('--redis <url> is required (or set WEFT_REDIS_URL), e.g. redis://127.0.0.1:6379');
  connectionOf(url);
  return url;
}

/** One ping with a short timeout and no retries: an unreachable Redis is one clear error within seconds, never a hang. */
export async function checkRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const client = new Redis({ ...connectionOf(url), lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => undefined);
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs).unref()),
    ]);
  } catch (err) {
    throw new RedisUnreachableError(`cannot reach Redis at ${url}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  } finally {
    client.disconnect();
  }
}

export class RedisUnreachableError extends Error {}

export function queueNameFor(fingerprint: string, explicit?: string): string {
  return explicit ?? `weft-${fingerprint.slice(0, 16)}`;
}

/** Enqueues every unit of the config (idempotent: a unit already queued or done is not added twice). */
export async function pushUnits(loaded: LoadedConfig, target: RedisTarget): Promise<{ queue: string; units: number; added: number; fingerprint: string }> {
  const plugin = await createSourcePlugin(loaded);
  let newUnits = 0;
  try {
    const units = await plannedUnits(plugin, loaded);
    const fingerprint = configFingerprint(loaded.config, (plugin.scorers ?? []).map((s) => s.model_sha256));
    const name = queueNameFor(fingerprint, target.queue);
    await checkRedisReachable(target.url);
    const queue = new Queue<UnitJob>(name, { connection: connectionOf(target.url) });
    try {
      // Job ids are unit ids: count the ones the queue does not hold yet, then add (a job id
      // already present, in any state, is left as it is).
      let added = 0;
      for (const unit of units) if (!(await queue.getJob(unit.id))) added++;
      newUnits = added;
      await queue.addBulk(
        units.map((unit) => ({
          name: 'unit',
          data: { unit, fingerprint },
          // The unit id as job id makes pushing twice harmless.
          opts: { jobId: unit.id, attempts: 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: false, removeOnFail: false },
        })),
      );
    } finally {
      await queue.close();
    }
    return { queue: name, units: units.length, added: newUnits, fingerprint };
  } finally {
    await plugin.close?.();
  }
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/** Failed jobs (failed for good: their attempts are used up) with their last error. */
export async function failedUnits(target: RedisTarget & { queue: string }): Promise<{ unit: string; attempts: number; error: string }[]> {
  const queue = new Queue(target.queue, { connection: connectionOf(target.url) });
  try {
    const jobs = await queue.getFailed(0, -1);
    return jobs.map((j) => ({ unit: String(j.id), attempts: j.attemptsMade, error: j.failedReason ?? '' })).sort((a, b) => (a.unit < b.unit ? -1 : 1));
  } finally {
    await queue.close();
  }
}

/** Requeues every failed job with fresh attempts; the number requeued. */
export async function retryFailed(target: RedisTarget & { queue: string }): Promise<number> {
  const queue = new Queue(target.queue, { connection: connectionOf(target.url) });
  try {
    const jobs = await queue.getFailed(0, -1);
    for (const j of jobs) await j.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return jobs.length;
  } finally {
    await queue.close();
  }
}

export async function queueCounts(target: RedisTarget & { queue: string }): Promise<QueueCounts> {
  const queue = new Queue(target.queue, { connection: connectionOf(target.url) });
  try {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
  } finally {
    await queue.close();
  }
}

export interface WorkOptions {
  loaded: LoadedConfig;
  outDir: string;
  target: RedisTarget;
  /** Exit once the queue has had no waiting, delayed or active job for this long. */
  idleExitMs: number;
  /** How long a job stays locked without renewal before another worker may take it. */
  lockMs: number;
  /** See RunOptions.redoChanged. */
  redoChanged?: boolean;
  signal: AbortSignal;
  log: Logger;
}

export interface WorkSummary extends OutTotals {
  outDir: string;
  queue: string;
  unitsRun: number;
  /** Every attempt failed (those stay failed in the queue until `weft queue retry`). */
  unitsFailedForGood: { unit: string; error: string }[];
  unitsFailed: { unit: string; error: string }[];
  aborted: boolean;
}

/** Pulls unit jobs until the queue stays empty for idleExitMs, committing each into outDir. */
export async function workQueue(o: WorkOptions): Promise<WorkSummary> {
  const startedAt = new Date().toISOString();
  await checkRedisReachable(o.target.url);
  const session = await openUnitSession(o.loaded, o.outDir, o.signal, o.log, { redoChanged: o.redoChanged });
  const taken: string[] = [];
  const name = queueNameFor(session.fingerprint, o.target.queue);
  const connection = connectionOf(o.target.url);
  const failed: WorkSummary['unitsFailed'] = [];
  const failedForGood: WorkSummary['unitsFailed'] = [];
  let unitsRun = 0;
  try {
    const worker = new Worker<UnitJob>(
      name,
      async (job: Job<UnitJob>) => {
        if (job.data.fingerprint !== session.fingerprint) {
          throw new Error(`job ${job.id} was queued by another config (fingerprint ${job.data.fingerprint.slice(0, 12)}); this worker runs ${session.fingerprint.slice(0, 12)}`);
        }
        try {
          taken.push(job.data.unit.id);
          const completion = await session.runUnit(job.data.unit);
          if (completion) unitsRun++;
          else if (o.signal.aborted) throw new Error('interrupted before the unit committed');
          return { kept: completion?.kept ?? 0, dropped: completion?.dropped ?? 0 };
        } catch (err) {
          failed.push({ unit: job.data.unit.id, error: errorMessage(err) });
          o.log.error(`unit ${job.data.unit.id} failed: ${errorMessage(err)}`);
          throw err; // BullMQ retries it (attempts) on any worker
        }
      },
      { connection, concurrency: 1, lockDuration: o.lockMs, stalledInterval: Math.max(500, Math.floor(o.lockMs / 2)), maxStalledCount: 5, autorun: true },
    );
    worker.on('error', (err) => o.log.warn(`queue: ${errorMessage(err)}`));
    // A job whose attempts are used up has failed for good: the worker's exit code says so.
    worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) failedForGood.push({ unit: String(job.id), error: errorMessage(err) });
    });
    o.log.info(`worker on queue ${name}, writing ${o.outDir}`);
    await waitUntilIdle({ ...o.target, queue: name }, o.idleExitMs, o.signal);
    await worker.close(o.signal.aborted);
    // A queue worker is given the units it took off the queue.
    const final = await session.finish({
      started_at: startedAt,
      weft_version: WEFT_VERSION,
      command: portableCommand(process.argv),
      inputs: inputPaths(o.loaded.config),
      rank: 0,
      world_size: 1,
      units_in_input: session.allUnits.length,
      units_given: taken,
    });
    return {
      outDir: o.outDir,
      queue: name,
      unitsRun,
      unitsFailed: failed,
      unitsFailedForGood: failedForGood,
      aborted: o.signal.aborted,
      ...totalsOf(final),
    };
  } finally {
    await session.close();
  }
}

async function waitUntilIdle(target: RedisTarget & { queue: string }, idleMs: number, signal: AbortSignal): Promise<void> {
  let idleSince: number | null = null;
  while (!signal.aborted) {
    const c = await queueCounts(target);
    const busy = c.waiting + c.active + c.delayed > 0;
    if (busy) idleSince = null;
    else if (idleSince === null) idleSince = Date.now();
    else if (Date.now() - idleSince >= idleMs) return;
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(50, idleMs / 4))));
  }
}
