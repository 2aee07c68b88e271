// Video with audio: [fetch] -> probe -> subtitles -> [narration alignment] -> clip windows ->
// frames + audio -> audio-visual sync -> sink. Narration alignment uses the run's scorer
// (score.scorer), loaded here, so the plugin is made asynchronously.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { SourcePlugin } from './plugin.ts';
import type { Traceable } from '../core/stage.ts';
import { approxVideoClipBytes, videoClipSchema, type VideoClipSample } from '../schemas/video.ts';
import { listVideoUnits, processVideoUnit } from '../stages/sources/video-units.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { isVideoUrlUnit, listVideoUrlUnits, processVideoUrlUnit, videoFileFetcher, videoUrlList } from '../stages/sources/video-url-units.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';
import { loadScorer, type Scorer } from '../scorer/scorer.ts';
import { scorerDir } from './run-scorer.ts';

export async function videoPlugin({ config, baseDir }: LoadedConfig): Promise<SourcePlugin> {
  const src = config.source;
  if (src.kind !== 'video') throw new Error(`videoPlugin given source kind ${src.kind}`);
  resolveFfmpeg(src); // a missing ffmpeg is a setup error before any unit starts
  const scorer = src.narration.enabled ? await openNarrationScorer(config.score.scorer, config.score.batch_size, baseDir) : null;
  const urlList = videoUrlList(src, baseDir);
  const fetcher = urlList ? videoFileFetcher(config.fetch, src) : null;
  const deps = { scorer };
  return {
    kinds: [videoClipSchema],
    listUnits: () => (urlList ? listVideoUrlUnits(urlList.file, urlList.format, src) : listVideoUnits(src, baseDir)),
    processUnit: (unit, ctx) => (fetcher && isVideoUrlUnit(unit) ? processVideoUrlUnit(unit, src, ctx, fetcher, deps) : processVideoUnit(unit, src, ctx, deps)),
    ...(scorer ? { scorers: [scorer.entry()] } : {}),
    close: async () => {
      await fetcher?.close();
      await scorer?.close();
    },
    approxBytes: (s: Traceable) => approxVideoClipBytes(s as VideoClipSample),
    example: async (s: Traceable) => {
      const clip = s as VideoClipSample;
      const middle = clip.frames[Math.floor(clip.frames.length / 2)];
      return {
        id: clip.id,
        source: clip.source,
        caption: `${clip.start.toFixed(2)}-${clip.end.toFixed(2)} s, AV offset ${clip.avOffsetMs ?? 'n/a'} ms (confidence ${clip.avConfidence?.toFixed(2) ?? 'n/a'})`,
        ...(middle ? { thumb: await makeThumbnail(middle.image.bytes) } : {}),
      };
    },
  };
}

async function openNarrationScorer(setting: string, batchSize: number, baseDir: string): Promise<Scorer> {
  if (setting === 'none') throw new Error('source.narration.enabled needs a scorer: set score.scorer (reference or a scorer folder)');
  try {
    return await loadScorer(scorerDir(setting, baseDir), { batchSize });
  } catch (err) {
    throw new Error(`score.scorer (for source.narration): ${(err as Error).message}`);
  }
}
