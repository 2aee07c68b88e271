// Renders and decodes the scene family's seeds into a frame cache (run/fixtures/scene-frame-cache.ts).
//   node --import tsx scripts/cache-scene-frames.ts --cache DIR --seeds 1,2,3 [--videos 12] [--family edited|wide]
import { videoSourceSchema } from '../schemas/video-config.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { cachedSceneFamily } from '../run/fixtures/scene-frame-cache.ts';
import { familyFlag, flagValue, parseSeeds } from '../run/fixtures/scene-eval.ts';

const argv = process.argv.slice(2);
const arg = (name: string) => flagValue(argv, name);
const cache = arg('--cache');
if (!cache) throw new Error('--cache DIR is required');
const { ffmpeg } = resolveFfmpeg({});
const family = familyFlag(argv);
const fps = videoSourceSchema.parse({ kind: 'video', path: '.' }).clip.scene_fps;
for (const seed of parseSeeds(arg('--seeds') ?? '1')) {
  const t0 = Date.now();
  const videos = await cachedSceneFamily(ffmpeg, cache, seed, Number(arg('--videos') ?? 12), fps, 2, family);
  console.log(`${family} seed ${seed}: ${videos.length} videos, ${videos.reduce((a, v) => a + v.frames.length, 0)} frames, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
