// Render the openclipart corpus (Debian openclipart-svg) into captioned images.
import path from 'node:path';
import { makeOpenclipartCorpus, parseArgs } from '../corpora/openclipart-corpus.ts';

try {
  const { dir, opts } = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const corpus = await makeOpenclipartCorpus(path.resolve(dir), opts);
  const ms = Math.round(performance.now() - started);
  const summary = { dir: corpus.dir, parquet: corpus.parquetPath, rendered: corpus.rows.length, skipped: corpus.skipped, ms };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`make-openclipart-corpus: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
