// weft export OUT --format webdataset|arrow|parquet --out DIR [--where SQL]: the rows OUT's index lists
// (or those where the SQL expression holds) in another loader's layout (output/export.ts).
import type { Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { UsageError, nonNegativeInt, positiveInt } from '../usage.ts';
import { EXPORT_FORMATS, ExportError, exportOutDir, type ExportFormat } from '../../output/export.ts';
import { IndexQueryError } from '../../output/index-query.ts';

export function register(program: Command): void {
  program
    .command('export')
    .description('write the rows OUT\'s index lists (or a --where selection) as WebDataset tars (OpenCLIP), Arrow shards or Parquet files')
    .argument('<out>', 'an OUT folder made by weft run (or weft filter)')
    .requiredOption('--out <dir>', 'export folder (a rerun with the same options resumes it)')
    .option('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`, 'webdataset')
    .option('--where <sql>', 'SQL expression over index.parquet columns, e.g. "score_weft_reference > 0.3 AND near_dup_of IS NULL"')
    .option('--samples-per-shard <n>', 'samples per shard', '1000')
    .option('--max-shard-bytes <n>', 'also close a WebDataset shard before it passes this many bytes (0: no cap)', '0')
    .option('--arrow-format <format>', 'arrow export: stream or file', 'stream')
    .exitOverride()
    .action(async (from: string, o: { out: string; format: string; where?: string; samplesPerShard: string; maxShardBytes: string; arrowFormat: string }) => {
      if (!existsSync(path.join(from, 'index.parquet'))) throw new UsageError(`${from} is not a finished weft OUT folder (no index.parquet)`);
      if (!EXPORT_FORMATS.includes(o.format as ExportFormat)) throw new UsageError(`--format: got ${JSON.stringify(o.format)}; allowed: ${EXPORT_FORMATS.join(', ')}`);
      if (o.arrowFormat !== 'stream' && o.arrowFormat !== 'file') throw new UsageError(`--arrow-format: got ${JSON.stringify(o.arrowFormat)}; allowed: stream, file`);
      try {
        const m = await exportOutDir(from, o.out, {
          format: o.format as ExportFormat,
          where: o.where ?? null,
          samplesPerShard: positiveInt(o.samplesPerShard, '--samples-per-shard'),
          maxShardBytes: nonNegativeInt(o.maxShardBytes, '--max-shard-bytes'),
          arrowFormat: o.arrowFormat,
        });
        process.stdout.write(`${o.out}: ${m.selected} of ${m.index_rows} index rows${m.where ? ` where ${m.where}` : ''} in ${m.shards.length} ${o.format} shard(s)\n`);
      } catch (err) {
        if (err instanceof IndexQueryError || err instanceof ExportError) throw new UsageError(err.message);
        throw err;
      }
    });
}
