// Accuracy of the scene detector over the edited-video family, per boundary and shot type (docs/video.md).
import { main } from '../run/fixtures/scene-eval.ts';

await main(process.argv.slice(2));
