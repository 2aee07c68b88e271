// Clip windows of one video: fixed windows (length and stride), scene windows between cuts
// found by a content detector on downscaled frames, and sentence windows from subtitle cues.
// Windows are plain time ranges; a window that cannot become a clip (shorter than the minimum,
// a cue past the end of the video) is returned as a `skipped` entry with its reason, so the
// caller can put it in the rejects ledger.
import { DropError, dropItem, errorMessage, expandStage, type Drop, type Stage, type StageContext } from '../../core/stage.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { ClipBound, ClipCandidate, ProbedVideo, SubtitleCue } from '../../schemas/video-items.ts';
import { cueTimes, cuesInWindow } from '../decode/subtitles.ts';
import { outputSize } from '../decode/video-frames.ts';
import { decodeVideoOnce, type DecodedVideo } from '../decode/video-pass.ts';
import { syncs } from '../decode/clip-decode.ts';
import { shippedBoundaryModel } from './scene-boundary-model.ts';
import { SceneDetector, type SceneBoundary, type SceneDetectorOptions } from './scene-detector.ts';

const VIDEO_CLIPS_STAGE = 'video_clips';

/** Side of the frames the scene detector compares (small: cuts change whole frames). */
export const SCENE_FRAME_SIDE = 64;

/** What bounds a window at one end: a scene boundary, or nothing (the video's start or end, a fixed or sentence window, a split of a long scene). */
export type WindowBound = ClipBound;
const NO_BOUND: WindowBound = { type: 'none', score: null };

export interface ClipWindow {
  start: number;
  end: number;
  /** Sentence mode: the cue the window was made from (original times). */
  sentence?: SubtitleCue;
  /** Scenes mode: the boundaries at its start and end. */
  cutIn?: WindowBound;
  cutOut?: WindowBound;
}

export interface SkippedWindow {
  start: number;
  end: number;
  reason: 'clip_too_short' | 'subtitle_out_of_range';
  detail: string;
}

export interface Windows {
  windows: ClipWindow[];
  skipped: SkippedWindow[];
}

export interface SplitOptions {
  /** Pieces shorter than this are skipped. */
  minClipS: number;
  /** Remainders shorter than this are container rounding, not content: dropped without a record. */
  negligibleS: number;
}

/** [0, L), [S, S + L), ... while a window still starts inside the video; the last may be shorter. */
export function fixedWindows(duration: number, lengthS: number, strideS: number, opts: SplitOptions): Windows {
  const out: Windows = { windows: [], skipped: [] };
  for (let start = 0; start < duration; start += strideS) {
    const end = Math.min(duration, start + lengthS);
    keepOrSkip(out, start, end, opts);
    if (start + lengthS >= duration) break;
  }
  return out;
}

/**
 * Segments between scene boundaries; segments longer than maxLengthS are split into pieces of
 * that length. A hard cut ends one segment where the next begins. A transition ends one at its
 * start and begins the next at its end when excludeTransitions, else both at its middle.
 */
export function sceneWindows(boundaries: SceneBoundary[], duration: number, maxLengthS: number, opts: SplitOptions & { excludeTransitions?: boolean }): Windows {
  const sorted = boundaries.filter((b) => b.end > 0 && b.start < duration).sort((a, b) => a.start - b.start);
  const out: Windows = { windows: [], skipped: [] };
  let segStart = 0;
  let cutIn: WindowBound = NO_BOUND;
  const emit = (end: number, cutOut: WindowBound) => {
    for (let start = segStart; start < end - 1e-9; start += maxLengthS) {
      const pieceEnd = Math.min(end, start + maxLengthS);
      const last = pieceEnd >= end - 1e-9;
      keepOrSkip(out, start, pieceEnd, opts, { cutIn: start === segStart ? cutIn : NO_BOUND, cutOut: last ? cutOut : NO_BOUND });
    }
  };
  for (const b of sorted) {
    const bound: WindowBound = { type: b.type, score: b.score };
    const [endHere, startNext] = b.type === 'hard' || !opts.excludeTransitions ? [(b.start + b.end) / 2, (b.start + b.end) / 2] : [b.start, b.end];
    emit(Math.max(segStart, Math.min(duration, endHere)), bound);
    segStart = Math.max(segStart, Math.min(duration, startNext));
    cutIn = bound;
  }
  emit(duration, NO_BOUND);
  return out;
}

/**
 * One window per cue (at its aligned times when narration alignment re-timed it). A cue shorter than minS is widened around its centre to minS, as the
 * HowTo100M loaders do (start = max(0, start - missing / 2), end = start + minS), then kept
 * inside the video.
 */
export function sentenceWindows(cues: SubtitleCue[], duration: number, minS: number): Windows {
  const out: Windows = { windows: [], skipped: [] };
  for (const cue of cues) {
    // Aligned times where narration alignment re-timed the cue, else the sidecar's.
    const { start: cueStart, end: cueEnd } = cueTimes(cue);
    if (cueStart >= duration) {
      out.skipped.push({ start: cueStart, end: cueEnd, reason: 'subtitle_out_of_range', detail: `cue starts at ${cueStart.toFixed(3)} s, video is ${duration.toFixed(3)} s` });
      continue;
    }
    const [start, end] = widenToMinimum(cueStart, Math.min(cueEnd, duration), minS, duration);
    if (end - start <= 0) {
      out.skipped.push({ start: cueStart, end: cueEnd, reason: 'clip_too_short', detail: 'empty cue' });
      continue;
    }
    out.windows.push({ start, end, sentence: cue });
  }
  return out;
}

export function widenToMinimum(start: number, end: number, minS: number, duration: number): [number, number] {
  if (end - start >= minS) return [start, end];
  const missing = minS - (end - start);
  let s = Math.max(0, start - missing / 2);
  let e = s + minS;
  if (e > duration) {
    e = duration;
    s = Math.max(0, e - minS);
  }
  return [s, e];
}

function keepOrSkip(out: Windows, start: number, end: number, opts: SplitOptions, bounds?: Pick<ClipWindow, 'cutIn' | 'cutOut'>): void {
  const length = end - start;
  if (length >= opts.minClipS) out.windows.push({ start, end, ...bounds });
  else if (length >= opts.negligibleS) out.skipped.push({ start, end, reason: 'clip_too_short', detail: `${length.toFixed(3)} s < min_clip_s ${opts.minClipS}` });
}

/** A clip window; in scenes mode with the video's shared decode, which video_decode cuts the clip from instead of decoding it again. */
export type WindowCandidate = ClipCandidate & { decoded?: DecodedVideo };

export interface ClipWindowsOptions {
  /** A folder for the shared decode's spool files (scenes mode), removed by the caller with the unit. */
  scratchDir: () => Promise<string>;
}

/**
 * The video_clips stage: a probed video -> its clip windows by `clip.mode`, as candidates for
 * video_decode. Drops single windows (`clip_too_short`, `subtitle_out_of_range`, named
 * `<unit>/skipped-NNNN`) or the whole video (`no_subtitles` in sentence mode without cues,
 * `decode_failed` when scene detection cannot read it). In scenes mode the video is decoded
 * once here (video-pass.ts) for the detector and the clips together.
 */
export function clipWindowsStage(cfg: VideoSourceConfig, ffmpegPath: string, opts: ClipWindowsOptions): Stage<ProbedVideo, WindowCandidate> {
  let videos = 0;
  return expandStage<ProbedVideo, WindowCandidate>(VIDEO_CLIPS_STAGE, async (video, ctx): Promise<(WindowCandidate | Drop)[]> => {
    const { windows, decoded } = await clipWindows(video, cfg, ffmpegPath, ctx, opts.scratchDir, `video-${videos++}`);
    const out: (WindowCandidate | Drop)[] = windows.windows.map((w, i) => ({
      id: `${video.id}/clip-${String(i).padStart(4, '0')}`,
      kind: video.kind,
      source: video.source,
      video: video.name,
      consent: video.consent,
      probe: video.probe,
      clipIndex: i,
      clipMode: cfg.clip.mode,
      start: w.start,
      end: w.end,
      cues: w.sentence ? [w.sentence] : video.cues ? cuesInWindow(video.cues, w.start, w.end) : [],
      cutIn: w.cutIn ?? NO_BOUND,
      cutOut: w.cutOut ?? NO_BOUND,
      ...(decoded ? { decoded } : {}),
    }));
    windows.skipped.forEach((w, i) => {
      const item = { id: `${video.id}/skipped-${String(i).padStart(4, '0')}`, kind: video.kind, source: video.source };
      out.push(dropItem(item, w.reason, `${w.start.toFixed(3)}-${w.end.toFixed(3)} s: ${w.detail}`));
    });
    return out;
  });
}

/** The detector the configuration asks for: the learned boundary classifier (`clip.scene_detector: learned`) or the hand rules. */
export function sceneDetectorOptions(c: VideoSourceConfig['clip']): SceneDetectorOptions {
  const rules = rulesDetectorOptions(c);
  return c.scene_detector === 'learned' ? { ...rules, model: shippedBoundaryModel() } : rules;
}

export function rulesDetectorOptions(c: VideoSourceConfig['clip']): SceneDetectorOptions {
  return { fps: c.scene_fps, threshold: c.scene_threshold, ratio: c.scene_ratio, fadeFloor: c.fade_floor, minSceneS: c.min_scene_s };
}

/** The video's windows by the configured mode (and in scenes mode its shared decode); throws a DropError for the whole video when it has none to offer. */
async function clipWindows(video: ProbedVideo, cfg: VideoSourceConfig, ffmpegPath: string, ctx: StageContext, spoolDir: () => Promise<string>, spoolName: string): Promise<{ windows: Windows; decoded?: DecodedVideo }> {
  const { probe, cues } = video;
  const c = cfg.clip;
  const split = { minClipS: c.min_clip_s, negligibleS: 1 / probe.video.fps };
  switch (c.mode) {
    case 'fixed':
      return { windows: fixedWindows(probe.duration, c.length_s, c.stride_s, split) };
    case 'sentences':
      if (!cues || cues.length === 0) throw new DropError('no_subtitles', 'clip.mode is sentences and the video has no readable sidecar subtitles');
      return { windows: sentenceWindows(cues, probe.duration, c.min_sentence_s) };
    case 'scenes': {
      const size = outputSize(probe.video.displayWidth, probe.video.displayHeight, SCENE_FRAME_SIDE);
      try {
        const detector = new SceneDetector(sceneDetectorOptions(c));
        const sync = syncs(cfg, probe);
        const decoded = await decodeVideoOnce({
          ffmpegPath,
          file: probe.path,
          durationS: probe.duration,
          stored: { fps: cfg.frames.fps, ...outputSize(probe.video.displayWidth, probe.video.displayHeight, cfg.frames.max_side), jpegQuality: cfg.frames.jpeg_quality },
          analysisFps: sync ? Math.max(cfg.sync.fps, cfg.frames.fps) : null,
          audio: probe.audio ? { sampleRate: cfg.audio.sample_rate, streamDurationS: probe.audio.duration ?? probe.duration } : null,
          scene: { fps: c.scene_fps, ...size, onFrame: (frame) => detector.push(frame) },
          spoolDir: await spoolDir(),
          spoolName,
          signal: ctx.signal,
        });
        const windows = sceneWindows(detector.finish(), probe.duration, c.length_s, { ...split, excludeTransitions: c.exclude_transitions });
        return { windows, decoded };
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const [reason, detail] = err instanceof DropError ? [err.reason, err.detail] : ['decode_failed', errorMessage(err)];
        throw new DropError(reason, `scene detection: ${detail}`);
      }
    }
  }
}
