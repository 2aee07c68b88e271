// The benchmark registry: add a line per benchmark module.
import { registerBench as _registerBench } from './registry.ts';

export function registerAllBenches(): void {
  _registerBench('rgbd', 'RGB-D pairs end to end (registration by the default rule, on the main thread, and in one worker per CPU) vs depth PNG decode alone and depth + colour decode', async () => (await import('./rgbd.ts')).bench);
  _registerBench('web', 'URL list of 640x480 JPEGs served on 127.0.0.1 through fetch, decode, resize, dedup and pHash vs sharp decode + resize alone; --tail: 1% slow or hanging URLs vs none; --hosts: 32 loopback hosts, 2 failing vs none', async () => (await import('./web.ts')).bench);
  _registerBench('score', 'image-caption pairs through the score stage vs bare onnxruntime sessions on the same prepared inputs and batch size', async () => (await import('./score.ts')).bench);
  _registerBench('curate', 'k-means (seeding + Lloyd passes) and semantic dedup over synthetic stored embeddings at n/4 and n rows (default 50k and 200k): time per pass vs a read-only pass, per-row linearity and peak RSS', async () => (await import('./curate.ts')).bench);
  _registerBench('finalise', 'finalise of a synthetic web OUT at n/10 and n index rows (default 20k and 200k) with URL siblings, content and near duplicates across units: peak RSS of each (aim: flat in N) beside the in-memory dedup pass', async () => (await import('./finalise.ts')).bench);
  _registerBench('video', 'video clips end to end (frames + audio, AV sync, JPEG, shards, report) vs ffmpeg decoding the same frames alone', async () => (await import('./video.ts')).bench);
}
