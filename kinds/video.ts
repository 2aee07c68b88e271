// Video with audio, as one declared pipeline:
//   video_source (one video per unit, or a pack of source.videos_per_unit) -> [video_fetch] ->
//   video_probe -> video_subtitles -> [narration_align] -> [subtitle_retime] -> video_clips ->
//   video_decode -> av_sync -> sink.
// Narration alignment uses the run's scorer (score.scorer), loaded here, so the plugin is made
// asynchronously.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { passThrough, pipe, readSource, type Stage, type StageContext } from '../core/stage.ts';
import type { Unit } from '../core/units.ts';
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { VideoSourceConfig } from '../schemas/video-config.ts';
import { approxVideoClipBytes, videoClipSchema, type VideoClipSample } from '../schemas/video.ts';
import type { ProbedVideo, VideoFile, VideoRef } from '../schemas/video-items.ts';
import { listVideoUnits, localVideoBytes, packVideoUnits, readVideoUnit, videoUnitFingerprint, type VideoPackSpec, type VideoUnitSpec } from '../stages/sources/video-units.ts';
import { listVideoUrlUnits, readVideoUrlUnit, videoUrlList, type VideoUrlUnitSpec } from '../stages/sources/video-url-units.ts';
import type { FileFetcher } from '../stages/fetch/fetch-to-file.ts';
import { videoFetchStage, videoFileFetcher } from '../stages/fetch/video-fetch.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { videoProbeStage } from '../stages/decode/video-probe.ts';
import { subtitlesStage } from '../stages/decode/subtitles.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';
import { videoDecodeStage } from '../stages/decode/clip-decode.ts';
import { clipWindowsStage } from '../stages/pair/video-clips.ts';
import { narrationStage } from '../stages/align/narration-stage.ts';
import { speechRetimeStage } from '../stages/align/speech-retime-stage.ts';
import { avSyncStage } from '../stages/align/av-sync-stage.ts';
import { loadScorer, type Scorer } from '../scorer/scorer.ts';
import { scorerDir } from './run-scorer.ts';
import type { SourcePlugin } from './plugin.ts';
import type { KindDefinition } from './definition.ts';
import { dropExample } from './drop-example.ts';

import { videoSection } from '../report/video-section.ts';

const VIDEO_SOURCE_STAGE = 'video_source';

/** What a video unit needs besides its config: a fetcher for URL units, the scorer for narration alignment. */
export interface VideoPipelineDeps {
  fetcher?: FileFetcher | null;
  scorer?: Scorer | null;
}

/** The video pipeline over one unit (one video), in flow order. A download lives in the unit's scratch folder, removed when the unit ends. */
export async function* videoPipeline(unit: Unit<VideoUnitSpec | VideoUrlUnitSpec>, cfg: VideoSourceConfig, ctx: StageContext, deps: VideoPipelineDeps = {}): AsyncGenerator<VideoClipSample> {
  const { ffmpeg, ffprobe } = resolveFfmpeg(cfg);
  let scratch: Promise<string> | null = null;
  const scratchDir = () => (scratch ??= mkdtemp(path.join(os.tmpdir(), 'weft-video-')));
  const spec = unit.spec;
  const fetch: Stage<VideoRef, VideoFile> = spec.layout === 'video_url' ? videoFetchStage(requireFetcher(deps), scratchDir) : localFiles;
  let narration: Stage<ProbedVideo, ProbedVideo> = passThrough();
  if (cfg.narration.enabled) {
    if (!deps.scorer) throw new Error('source.narration.enabled needs a scorer (score.scorer)');
    narration = narrationStage({ cfg: cfg.narration, scorer: deps.scorer, ffmpegPath: ffmpeg });
  }
  const retime: Stage<ProbedVideo, ProbedVideo> = cfg.subtitles.retime ? speechRetimeStage({ cfg: cfg.subtitles, ffmpegPath: ffmpeg }) : passThrough();
  try {
    yield* pipe(
      readSource(VIDEO_SOURCE_STAGE, () => (spec.layout === 'video_url' ? readVideoUrlUnit({ ...unit, spec }) : readVideoUnit({ ...unit, spec })), ctx),
      ctx,
      fetch,
      videoProbeStage({ ffprobePath: ffprobe, audioRequired: cfg.audio_required, minDurationS: cfg.min_duration_s }),
      subtitlesStage(),
      narration,
      retime,
      clipWindowsStage(cfg, ffmpeg, { scratchDir }),
      videoDecodeStage(cfg, { ffmpegPath: ffmpeg }),
      avSyncStage(cfg, { ffmpegPath: ffmpeg }),
    );
  } finally {
    if (scratch) await rm(await scratch, { recursive: true, force: true });
  }
}

function requireFetcher(deps: VideoPipelineDeps): FileFetcher {
  if (!deps.fetcher) throw new Error('a URL-list video unit needs a fetcher');
  return deps.fetcher;
}

/** Local videos are files already: the fetch step's place in the flow. */
const localFiles: Stage<VideoRef, VideoFile> = async function* (input) {
  for await (const video of input) {
    if (video.file === null) throw new Error(`video ${video.id} has neither a file nor a fetch stage`);
    yield { ...video, file: video.file };
  }
};

type OneVideoSpec = VideoUnitSpec | VideoUrlUnitSpec;

async function videoPlugin({ config, baseDir }: LoadedConfig): Promise<SourcePlugin<VideoClipSample, OneVideoSpec | VideoPackSpec<OneVideoSpec>>> {
  const src = config.source;
  if (src.kind !== 'video') throw new Error(`videoPlugin given source kind ${src.kind}`);
  const ffmpegBinary = resolveFfmpeg(src).ffmpeg; // a missing ffmpeg is a setup error before any unit starts
  const scorer = src.narration.enabled ? await openNarrationScorer(config.score.scorer, config.score.batch_size, baseDir) : null;
  const urlList = videoUrlList(src, baseDir);
  const fetcher = urlList ? videoFileFetcher(config.fetch, src) : null;
  return {
    kinds: [videoClipSchema],
    listUnits: async () => {
      const units: Unit<OneVideoSpec>[] = urlList ? await listVideoUrlUnits(urlList.file, urlList.format, src) : await listVideoUnits(src, baseDir);
      return packVideoUnits(units, src.videos_per_unit, src.unit_bytes, localVideoBytes);
    },
    inputFingerprints: async (units) => {
      const out = new Map<string, string>();
      for (const u of units) out.set(u.id, await videoUnitFingerprint(u));
      return out;
    },
    processUnit: (unit, ctx) => {
      const spec = unit.spec;
      if (spec.layout !== 'video_pack') return videoPipeline(unit as Unit<OneVideoSpec>, src, ctx, { fetcher, scorer });
      // A pack: its videos one after another, each through the whole pipeline, into one unit's shards.
      return (async function* () {
        for (const member of (spec as VideoPackSpec<OneVideoSpec>).members) yield* videoPipeline(member, src, ctx, { fetcher, scorer });
      })();
    },
    ...(scorer ? { scorers: [scorer.entry()] } : {}),
    close: async () => {
      await fetcher?.close();
      await scorer?.close();
    },
    approxBytes: (clip) => approxVideoClipBytes(clip),
    // A video dropped before its frames were decoded (too short, no audio): one frame grabbed by ffmpeg.
    dropExample: (item) => dropExample(item, async (v) => (typeof v.file === 'string' ? grabFrame(ffmpegBinary, v.file) : undefined)),
    example: async (clip) => {
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

export const definition: KindDefinition = {
  source: 'video',
  createPlugin: (loaded) => videoPlugin(loaded),
  report: [{ id: 'video', title: 'Video', render: videoSection }],
  runWideDedup: () => null,
};

/** A thumbnail of the frame at 0.5 s (or the first), or undefined when ffmpeg cannot decode one. */
async function grabFrame(ffmpeg: string, file: string): Promise<string | undefined> {
  for (const at of ['0.5', '0']) {
    const jpeg = await new Promise<Buffer | null>((resolve) => {
      execFile(ffmpeg, ['-v', 'error', '-ss', at, '-i', file, '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'mjpeg', '-'], { encoding: 'buffer', maxBuffer: 32 * 1024 * 1024, timeout: 20_000 }, (err, stdout) =>
        resolve(err || !stdout.length ? null : stdout),
      );
    });
    if (jpeg) return makeThumbnail(jpeg).catch(() => undefined);
  }
  return undefined;
}
