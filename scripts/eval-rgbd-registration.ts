// Accuracy of RGB-D registration over the fixture family, per parameter (docs/rgbd.md).
import { main } from '../run/fixtures/registration-eval.ts';

await main(process.argv.slice(2));
