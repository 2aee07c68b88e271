// Accuracy of the AV sync estimate over the fixture family, per parameter (docs/video.md).
import { main } from '../run/fixtures/av-sync-eval.ts';

await main(process.argv.slice(2));
