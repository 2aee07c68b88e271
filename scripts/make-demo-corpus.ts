// Generate the synthetic demo corpus (shapes with captions).
//   npx tsx scripts/make-demo-corpus.ts DIR [--count N] [--seed S]
import path from 'node:path';
import { makeDemoCorpus, parseArgs } from '../corpora/demo-corpus.ts';

try {
  const { dir, opts } = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const info = await makeDemoCorpus(path.resolve(dir), opts);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify({ ...info, ms }, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`make-demo-corpus: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
