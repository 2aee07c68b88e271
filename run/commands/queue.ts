// weft queue push | work | status: the Redis work-queue executor (elastic workers).
import type { Command } from 'commander';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { createLogger, type LogLevel } from '../../core/logger.ts';
import { configFingerprint } from '../../schemas/config-file.ts';
import { createSourcePlugin } from '../../kinds/registry.ts';

// bullmq is loaded only when a queue command runs.
const queueModule = () => import('../queue.ts');
import { positiveInt } from '../usage.ts';

const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

export function register(program: Command): void {
  const queue = program
    .command('queue')
    .description('run units from a Redis work queue: push them once, then start any number of workers on any machines (each with its own --out), then weft merge')
    .exitOverride();

  queue
    .command('push')
    .description('enqueue every unit of a config (pushing again adds nothing twice)')
    .argument('<config>', 'YAML or JSON config')
    .option('--redis <url>', 'Redis URL', DEFAULT_REDIS)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .exitOverride()
    .action(async (configPath: string, o: { redis: string; queue?: string }) => {
      const { pushUnits } = await queueModule();
      const r = await pushUnits(await loadConfigFile(configPath), { url: o.redis, queue: o.queue });
      process.stdout.write(`queued ${r.units} units on ${r.queue}\n`);
    });

  queue
    .command('work')
    .description('pull units until the queue stays empty, committing them into --out; resumable like weft run')
    .argument('<config>', 'the same config the units were pushed with')
    .requiredOption('--out <dir>', 'this worker\'s output folder (one per worker; combine with weft merge)')
    .option('--redis <url>', 'Redis URL', DEFAULT_REDIS)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .option('--idle-exit <seconds>', 'exit after the queue has been empty this long', '10')
    .option('--lock-ms <ms>', 'a job whose worker stops renewing its lock this long is handed to another worker', '30000')
    .option('--log-level <level>', 'debug | info | warn | error | silent')
    .exitOverride()
    .action(async (configPath: string, o: { out: string; redis: string; queue?: string; idleExit: string; lockMs: string; logLevel?: string }) => {
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
          target: { url: o.redis, queue: o.queue },
          idleExitMs: positiveInt(o.idleExit, '--idle-exit') * 1000,
          lockMs: positiveInt(o.lockMs, '--lock-ms'),
          signal: controller.signal,
          log,
        });
        log.info(`${s.unitsRun} units run from ${s.queue}; this worker's OUT holds kept ${s.kept}, dropped ${s.dropped}, ${s.shards} shard(s)`);
        process.exitCode = s.aborted ? 130 : 0;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  queue
    .command('status')
    .description('job counts of a config\'s queue')
    .argument('<config>', 'YAML or JSON config')
    .option('--redis <url>', 'Redis URL', DEFAULT_REDIS)
    .option('--queue <name>', 'queue name (default: weft-<config fingerprint>)')
    .exitOverride()
    .action(async (configPath: string, o: { redis: string; queue?: string }) => {
      const loaded = await loadConfigFile(configPath);
      const plugin = await createSourcePlugin(loaded);
      const { queueCounts, queueNameFor } = await queueModule();
      const name = queueNameFor(configFingerprint(loaded.config, (plugin.scorers ?? []).map((s) => s.model_sha256)), o.queue);
      await plugin.close?.();
      const c = await queueCounts({ url: o.redis, queue: name });
      process.stdout.write(`${name}: waiting ${c.waiting}, active ${c.active}, delayed ${c.delayed}, completed ${c.completed}, failed ${c.failed}\n`);
    });
}
