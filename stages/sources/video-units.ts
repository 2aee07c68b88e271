// Video units: one unit is one local video file. Reading a unit runs
//   probe -> sidecar subtitles -> [narration alignment] -> clip windows -> video_decode -> av_sync
// and yields VideoClipSamples. Rejects, by stage:
//   video_probe:     probe_failed, no_video_stream, no_audio_stream, too_short (the whole video)
//   video_subtitles: subtitle_parse_failed (the sidecar; the video is kept without subtitles)
//   narration_align: narration_failed (the video's narration; its clips keep the original times)
//   video_clips:     no_subtitles (sentence mode without usable cues: the whole video),
//                    decode_failed (scene detection could not read the video),
//                    clip_too_short, subtitle_out_of_range (single windows)
//   video_decode:    decode_failed;  av_sync: low_sync_confidence, av_offset_too_large
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipe, rejectAt, DropError, errorMessage, type StageContext, type Traceable } from '../../core/stage.ts';
import { safeIdPart, type Unit } from '../../core/units.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP, type VideoClipSample } from '../../schemas/video.ts';
import { outputSize, streamRgbFrames } from '../decode/video-frames.ts';
import { detectSceneCuts, fixedWindows, sceneWindows, sentenceWindows, type Windows } from '../pair/video-clips.ts';
import { resolveFfmpeg } from '../decode/ffmpeg-path.ts';
import { probeVideo, type VideoProbe } from '../decode/video-probe.ts';
import { cuesInWindow, findSidecar, readSubtitles, SubtitleParseError, type SubtitleCue } from '../decode/subtitles.ts';
import { avSyncStage, videoDecodeStage, type ClipCandidate } from '../align/clip-stages.ts';
import { alignVideoNarration } from '../align/narration-stage.ts';
import type { Scorer } from '../../scorer/scorer.ts';

export const VIDEO_PROBE_STAGE = 'video_probe';
export const VIDEO_SUBTITLES_STAGE = 'video_subtitles';
export const VIDEO_CLIPS_STAGE = 'video_clips';

export const VIDEO_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts', '.flv', '.ogv', '.3gp', '.wmv']);

/** Side of the frames the scene detector compares (small: cuts change whole frames). */
const SCENE_FRAME_SIDE = 64;

export interface VideoUnitSpec {
  /** Absolute path, for reading only: outputs name the video by `name`. */
  file: string;
  /** The video's path relative to the source root, '/'-separated (the file name when the root is a file). */
  name: string;
  [key: string]: unknown;
}

/** Every video file under the source path (or the file itself), one unit each, sorted by id. */
export async function listVideoUnits(cfg: VideoSourceConfig, baseDir: string): Promise<Unit[]> {
  const root = path.resolve(baseDir, cfg.path);
  const info = await stat(root).catch(() => null);
  if (!info) throw new Error(`video source path ${root} does not exist`);
  const files = info.isDirectory() ? await findVideos(root) : [root];
  const units: Unit[] = [];
  const taken = new Set<string>();
  for (const file of files) {
    // Unit sources, sample sources and reject sources are relative, so outputs do not depend on where the data sits.
    const name = toPosix(info.isDirectory() ? path.relative(root, file) : path.basename(file));
    let id = `video-${safeIdPart(name)}`;
    for (let n = 2; taken.has(id); n++) id = `video-${safeIdPart(name)}-${n}`;
    taken.add(id);
    const spec: VideoUnitSpec = { file, name };
    units.push({ id, source: name, spec });
  }
  return units.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function findVideos(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findVideos(p)));
    else if (e.isFile() && VIDEO_EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
  return out.sort();
}

/** What a video unit needs besides its config: the scorer, when narration alignment is on. */
export interface VideoUnitDeps {
  scorer?: Scorer | null;
}

export async function* processVideoUnit(unit: Unit, cfg: VideoSourceConfig, ctx: StageContext, deps: VideoUnitDeps = {}): AsyncGenerator<VideoClipSample> {
  const spec = unit.spec as VideoUnitSpec;
  yield* processVideoFile({ unitId: unit.id, file: spec.file, name: spec.name }, cfg, ctx, deps);
}

export interface VideoFileRef {
  unitId: string;
  /** Where the bytes are (a local file, or a downloaded temp file). */
  file: string;
  /** What outputs call the video: a path relative to the source root, or its URL. */
  name: string;
  /** Consent verdict of a downloaded video; null (default) for local files. */
  consent?: string | null;
}

/** probe -> subtitles -> windows -> clips of one video file. */
export async function* processVideoFile(ref: VideoFileRef, cfg: VideoSourceConfig, ctx: StageContext, deps: VideoUnitDeps = {}): AsyncGenerator<VideoClipSample> {
  const { unitId, file, name } = ref;
  const video: Traceable = { id: unitId, kind: VIDEO_CLIP, source: name };
  const { ffmpeg, ffprobe } = resolveFfmpeg(cfg);

  const probeStats = ctx.stats.stage(VIDEO_PROBE_STAGE);
  probeStats.in += 1;
  let probe: VideoProbe;
  try {
    probe = await probeVideo(file, { ffprobePath: ffprobe, audioRequired: cfg.audio_required, minDurationS: cfg.min_duration_s });
  } catch (err) {
    if (err instanceof DropError) rejectAt(ctx, VIDEO_PROBE_STAGE, video, err.reason, err.detail);
    else rejectAt(ctx, VIDEO_PROBE_STAGE, video, 'probe_failed', errorMessage(err));
    return;
  }
  probeStats.out += 1;

  let cues = await loadSubtitles(file, video, ctx);
  if (cues && cfg.narration.enabled) {
    if (!deps.scorer) throw new Error('source.narration.enabled needs a scorer (score.scorer)');
    cues = await alignVideoNarration({ probe, cues, cfg: cfg.narration, scorer: deps.scorer, ffmpegPath: ffmpeg, video }, ctx);
  }
  const windows = await clipWindows(probe, cues, cfg, ffmpeg, video, ctx);
  if (!windows) return;

  const clipId = (i: number) => `${unitId}/clip-${String(i).padStart(4, '0')}`;
  const clipStats = ctx.stats.stage(VIDEO_CLIPS_STAGE);
  clipStats.in += windows.windows.length + windows.skipped.length;
  clipStats.out += windows.windows.length;
  windows.skipped.forEach((w, i) => {
    const item = { id: `${unitId}/skipped-${String(i).padStart(4, '0')}`, kind: VIDEO_CLIP, source: name };
    rejectAt(ctx, VIDEO_CLIPS_STAGE, item, w.reason, `${w.start.toFixed(3)}-${w.end.toFixed(3)} s: ${w.detail}`);
  });
  const candidates: ClipCandidate[] = windows.windows.map((w, i) => ({
    id: clipId(i),
    kind: VIDEO_CLIP,
    source: name,
    video: name,
    consent: ref.consent ?? null,
    probe,
    clipIndex: i,
    clipMode: cfg.clip.mode,
    start: w.start,
    end: w.end,
    cues: w.sentence ? [w.sentence] : cues ? cuesInWindow(cues, w.start, w.end) : [],
  }));
  const opts = { ffmpegPath: ffmpeg };
  yield* pipe(fromArray(candidates), ctx, videoDecodeStage(cfg, opts), avSyncStage(cfg, opts));
}

/** The sidecar's cues; null when there is none or it cannot be read (then a reject says why). */
async function loadSubtitles(file: string, video: Traceable, ctx: StageContext): Promise<SubtitleCue[] | null> {
  const sidecar = await findSidecar(file);
  if (!sidecar) return null;
  const stats = ctx.stats.stage(VIDEO_SUBTITLES_STAGE);
  stats.in += 1;
  try {
    const cues = await readSubtitles(sidecar.path, sidecar.format);
    stats.out += 1;
    return cues;
  } catch (err) {
    const detail = err instanceof SubtitleParseError ? err.message : errorMessage(err);
    const sidecarName = path.posix.join(path.posix.dirname(video.source), path.basename(sidecar.path));
    rejectAt(ctx, VIDEO_SUBTITLES_STAGE, { id: `${video.id}/subtitles`, kind: VIDEO_CLIP, source: sidecarName }, 'subtitle_parse_failed', `${path.basename(sidecar.path)}: ${detail}`);
    return null;
  }
}

/** The video's windows by the configured mode; null (after a reject) when it has none to offer. */
async function clipWindows(probe: VideoProbe, cues: SubtitleCue[] | null, cfg: VideoSourceConfig, ffmpeg: string, video: Traceable, ctx: StageContext): Promise<Windows | null> {
  const c = cfg.clip;
  const split = { minClipS: c.min_clip_s, negligibleS: 1 / probe.video.fps };
  switch (c.mode) {
    case 'fixed':
      return fixedWindows(probe.duration, c.length_s, c.stride_s, split);
    case 'sentences':
      if (!cues || cues.length === 0) {
        rejectWholeVideo(ctx, video, 'no_subtitles', 'clip.mode is sentences and the video has no readable sidecar subtitles');
        return null;
      }
      return sentenceWindows(cues, probe.duration, c.min_sentence_s);
    case 'scenes': {
      const size = outputSize(probe.video.displayWidth, probe.video.displayHeight, SCENE_FRAME_SIDE);
      try {
        const frames = streamRgbFrames({ ffmpegPath: ffmpeg, file: probe.path, startS: 0, durationS: probe.duration, fps: c.scene_fps, ...size, signal: ctx.signal });
        const cuts = await detectSceneCuts(frames, c.scene_threshold, c.min_scene_s);
        return sceneWindows(cuts, probe.duration, c.length_s, split);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const [reason, detail] = err instanceof DropError ? [err.reason, err.detail] : ['decode_failed', errorMessage(err)];
        rejectWholeVideo(ctx, video, reason, `scene detection: ${detail}`);
        return null;
      }
    }
  }
}

/** A video that yields no windows at all counts as one item in and one dropped at video_clips. */
function rejectWholeVideo(ctx: StageContext, video: Traceable, reason: string, detail: string): void {
  ctx.stats.stage(VIDEO_CLIPS_STAGE).in += 1;
  rejectAt(ctx, VIDEO_CLIPS_STAGE, video, reason, detail);
}

/** A '/'-separated path, whatever the platform's separator. */
function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
