// weft queue push | work | status: the Redis work-queue executor (elastic workers).
import type { Command } from 'commander';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { createLogger, type LogLevel } from '../../core/logger.ts';
import { configFingerprint } from '../../schemas/config-file.ts';
import { createSourcePlugin } from '../../kinds/registry.ts';

// bullmq is loaded only when a queue command runs.
const queueModule = () => import('../queue.ts');
import { positiveInt } from '../usage.ts';

const REDIS_HELP = 'Redis URL, e.g. redis://127.0.0.1:6379 (default: $WEFT_REDIS_URL; one of them is required)';

export function register(program: Command): void {
  const queue = program
    .command('queue')
    .description('run units from a Redis work queue: push them once, then start any number of workers on any machines (each with its own --out), then weft merge')
    .exitOverride();

  queue
    .command('push')
    .description('enqueue every unit of a config (pushing again adds nothing twice)')
    .argument('<config>', 'YAML or JSON config')
    .option('--redis <url>', REDIS_HELP)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .exitOverride()
    .action(async (configPath: string, o: { redis?: string; queue?: string }) => {
      const { pushUnits, redisUrlFrom } = await queueModule();
      const url = redisUrlFrom(o.redis);
      const r = await pushUnits(await loadConfigFile(configPath), { url, queue: o.queue });
      process.stdout.write(`queued ${r.added} new units on ${r.queue} (${r.units - r.added} of ${r.units} were already there)\n`);
    });

  queue
    .command('work')
    .description('pull units until the queue stays empty, committing them into --out; resumable like weft run')
    .argument('<config>', 'the same config the units were pushed with')
    .requiredOption('--out <dir>', 'this worker\'s output folder (one per worker; combine with weft merge)')
    .option('--redis <url>', REDIS_HELP)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .option('--idle-exit <seconds>', 'exit after the queue has been empty this long', '10')
    .option('--lock-ms <ms>', 'a job whose worker stops renewing its lock this long is handed to another worker', '30000')
    .option('--log-level <level>', 'debug | info | warn | error | silent')
    .option('--redo-changed', 'discard and redo committed units of --out whose input changed since, instead of refusing')
    .exitOverride()
    .action(async (configPath: string, o: { out: string; redis?: string; queue?: string; idleExit: string; lockMs: string; logLevel?: string; redoChanged?: boolean }) => {
      const { redisUrlFrom } = await queueModule();
      const url = redisUrlFrom(o.redis);
      const loaded = await loadConfigFile(configPath);
      const log = createLogger((o.logLevel ?? loaded.config.run.log_level) as LogLevel);
      const controller = new AbortController();
      const stop = () => {
        if (controller.signal.aborted) process.exit(130);
        log.warn('stopping: the open unit stays uncommitted and goes back to the queue');
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        const { workQueue } = await queueModule();
        const s = await workQueue({
          loaded,
          outDir: o.out,
          target: { url, queue: o.queue },
          idleExitMs: positiveInt(o.idleExit, '--idle-exit') * 1000,
          lockMs: positiveInt(o.lockMs, '--lock-ms'),
          redoChanged: !!o.redoChanged,
          signal: controller.signal,
          log,
        });
        log.info(`${s.unitsRun} units run from ${s.queue}; this worker's OUT holds kept ${s.kept}, dropped ${s.dropped}, ${s.shards} shard(s)`);
        for (const f of s.unitsFailedForGood) log.error(`unit ${f.unit} failed for good (all attempts used; weft queue retry requeues it): ${f.error}`);
        process.exitCode = s.aborted ? 130 : s.unitsFailedForGood.length ? 1 : 0;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  /** The queue name of a config (its fingerprint), without running anything. */
  const queueNameOf = async (configPath: string, explicit?: string) => {
    const loaded = await loadConfigFile(configPath);
    const plugin = await createSourcePlugin(loaded);
    const { queueNameFor } = await queueModule();
    const name = queueNameFor(configFingerprint(loaded.config, (plugin.scorers ?? []).map((s) => s.model_sha256)), explicit);
    await plugin.close?.();
    return name;
  };

  queue
    .command('status')
    .description('queued, active, completed and failed units of a config\'s queue, and each failed unit\'s last error')
    .argument('<config>', 'YAML or JSON config')
    .option('--redis <url>', REDIS_HELP)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .exitOverride()
    .action(async (configPath: string, o: { redis?: string; queue?: string }) => {
      const { queueCounts, failedUnits, redisUrlFrom, checkRedisReachable } = await queueModule();
      const url = redisUrlFrom(o.redis);
      const name = await queueNameOf(configPath, o.queue);
      await checkRedisReachable(url);
      const c = await queueCounts({ url, queue: name });
      process.stdout.write(`${name}: queued ${c.waiting + c.delayed}, active ${c.active}, completed ${c.completed}, failed ${c.failed}\n`);
      for (const f of await failedUnits({ url, queue: name })) process.stdout.write(`failed ${f.unit} after ${f.attempts} attempt(s): ${f.error}\n`);
    });

  queue
    .command('retry')
    .description('requeue every failed unit of a config\'s queue with fresh attempts')
    .argument('<config>', 'YAML or JSON config')
    .option('--redis <url>', REDIS_HELP)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .exitOverride()
    .action(async (configPath: string, o: { redis?: string; queue?: string }) => {
      const { retryFailed, redisUrlFrom, checkRedisReachable } = await queueModule();
      const url = redisUrlFrom(o.redis);
      const name = await queueNameOf(configPath, o.queue);
      await checkRedisReachable(url);
      process.stdout.write(`requeued ${await retryFailed({ url, queue: name })} failed units on ${name}\n`);
    });
}
