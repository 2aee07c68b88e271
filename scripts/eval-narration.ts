// Accuracy of subtitle re-timing by the speech over the narration fixture family, per parameter (docs/video.md).
import { main } from '../run/fixtures/narration-eval.ts';

await main(process.argv.slice(2));
