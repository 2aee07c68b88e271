// Clip windows of one video: fixed windows (length and stride), scene windows between cuts
// found by a content detector on downscaled frames, and sentence windows from subtitle cues.
// Windows are plain time ranges; a window that cannot become a clip (shorter than the minimum,
// a cue past the end of the video) is returned as a `skipped` entry with its reason, so the
// caller can put it in the rejects ledger.
import { DropError, dropItem, errorMessage, expandStage, type Drop, type Stage, type StageContext } from '../../core/stage.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { ClipCandidate, ProbedVideo, SubtitleCue } from '../../schemas/video-items.ts';
import { cueTimes, cuesInWindow } from '../decode/subtitles.ts';
import { outputSize, streamRgbFrames } from '../decode/video-frames.ts';
import type { RgbFrame } from '../decode/video-frames.ts';

const VIDEO_CLIPS_STAGE = 'video_clips';

/** Side of the frames the scene detector compares (small: cuts change whole frames). */
const SCENE_FRAME_SIDE = 64;

export interface ClipWindow {
  start: number;
  end: number;
  /** Sentence mode: the cue the window was made from (original times). */
  sentence?: SubtitleCue;
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

/** Segments between cuts; segments longer than maxLengthS are split into pieces of that length. */
export function sceneWindows(cuts: number[], duration: number, maxLengthS: number, opts: SplitOptions): Windows {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < duration).sort((a, b) => a - b), duration];
  const out: Windows = { windows: [], skipped: [] };
  for (let i = 0; i + 1 < bounds.length; i++) {
    for (let start = bounds[i]; start < bounds[i + 1]; start += maxLengthS) keepOrSkip(out, start, Math.min(bounds[i + 1], start + maxLengthS), opts);
  }
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

function keepOrSkip(out: Windows, start: number, end: number, opts: SplitOptions): void {
  const length = end - start;
  if (length >= opts.minClipS) out.windows.push({ start, end });
  else if (length >= opts.negligibleS) out.skipped.push({ start, end, reason: 'clip_too_short', detail: `${length.toFixed(3)} s < min_clip_s ${opts.minClipS}` });
}

// --- Scene cuts ------------------------------------------------------------------------------

/**
 * Content detector in the manner of PySceneDetect's ContentDetector: frames in HSV (H 0-179,
 * S and V 0-255, as OpenCV), the score of a frame is the mean absolute difference to the
 * previous frame averaged over the three channels, and a cut is placed at a frame whose score
 * passes `threshold`, unless the previous cut (or the start) is less than minSceneS before it.
 */
export class SceneCutDetector {
  private previous: Uint8Array | null = null;
  private lastCut: number | null = null;
  readonly cuts: number[] = [];
  /** Per-frame scores, for reports and threshold tuning. */
  readonly scores: { time: number; score: number }[] = [];

  constructor(private readonly threshold: number, private readonly minSceneS: number) {}

  push(frame: RgbFrame): void {
    const hsv = toHsv(frame.rgb);
    if (this.lastCut === null) this.lastCut = frame.time;
    if (this.previous && this.previous.length === hsv.length) {
      const score = hsvDelta(this.previous, hsv);
      this.scores.push({ time: frame.time, score });
      if (score >= this.threshold && frame.time - this.lastCut >= this.minSceneS - 1e-9) {
        this.cuts.push(frame.time);
        this.lastCut = frame.time;
      }
    }
    this.previous = hsv;
  }
}

async function detectSceneCuts(frames: AsyncIterable<RgbFrame>, threshold: number, minSceneS: number): Promise<number[]> {
  const detector = new SceneCutDetector(threshold, minSceneS);
  for await (const frame of frames) detector.push(frame);
  return detector.cuts;
}

/** RGB bytes to packed HSV bytes with OpenCV's ranges (H in [0, 180), S and V in [0, 255]). */
export function toHsv(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i];
    const g = rgb[i + 1];
    const b = rgb[i + 2];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const delta = max - min;
    let h = 0;
    if (delta > 0) {
      if (max === r) h = (60 * (g - b)) / delta;
      else if (max === g) h = 120 + (60 * (b - r)) / delta;
      else h = 240 + (60 * (r - g)) / delta;
      if (h < 0) h += 360;
    }
    out[i] = Math.round(h / 2) % 180;
    out[i + 1] = max === 0 ? 0 : Math.round((255 * delta) / max);
    out[i + 2] = max;
  }
  return out;
}

/** Mean over pixels and the three channels of |a - b|. */
function hsvDelta(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return a.length ? sum / a.length : 0;
}

/**
 * The video_clips stage: a probed video -> its clip windows by `clip.mode`, as candidates for
 * video_decode. Drops single windows (`clip_too_short`, `subtitle_out_of_range`, named
 * `<unit>/skipped-NNNN`) or the whole video (`no_subtitles` in sentence mode without cues,
 * `decode_failed` when scene detection cannot read it).
 */
export function clipWindowsStage(cfg: VideoSourceConfig, ffmpegPath: string): Stage<ProbedVideo, ClipCandidate> {
  return expandStage<ProbedVideo, ClipCandidate>(VIDEO_CLIPS_STAGE, async (video, ctx): Promise<(ClipCandidate | Drop)[]> => {
    const windows = await clipWindows(video, cfg, ffmpegPath, ctx);
    const out: (ClipCandidate | Drop)[] = windows.windows.map((w, i) => ({
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
    }));
    windows.skipped.forEach((w, i) => {
      const item = { id: `${video.id}/skipped-${String(i).padStart(4, '0')}`, kind: video.kind, source: video.source };
      out.push(dropItem(item, w.reason, `${w.start.toFixed(3)}-${w.end.toFixed(3)} s: ${w.detail}`));
    });
    return out;
  });
}

/** The video's windows by the configured mode; throws a DropError for the whole video when it has none to offer. */
async function clipWindows(video: ProbedVideo, cfg: VideoSourceConfig, ffmpegPath: string, ctx: StageContext): Promise<Windows> {
  const { probe, cues } = video;
  const c = cfg.clip;
  const split = { minClipS: c.min_clip_s, negligibleS: 1 / probe.video.fps };
  switch (c.mode) {
    case 'fixed':
      return fixedWindows(probe.duration, c.length_s, c.stride_s, split);
    case 'sentences':
      if (!cues || cues.length === 0) throw new DropError('no_subtitles', 'clip.mode is sentences and the video has no readable sidecar subtitles');
      return sentenceWindows(cues, probe.duration, c.min_sentence_s);
    case 'scenes': {
      const size = outputSize(probe.video.displayWidth, probe.video.displayHeight, SCENE_FRAME_SIDE);
      try {
        const frames = streamRgbFrames({ ffmpegPath, file: probe.path, startS: 0, durationS: probe.duration, fps: c.scene_fps, ...size, signal: ctx.signal });
        const cuts = await detectSceneCuts(frames, c.scene_threshold, c.min_scene_s);
        return sceneWindows(cuts, probe.duration, c.length_s, split);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const [reason, detail] = err instanceof DropError ? [err.reason, err.detail] : ['decode_failed', errorMessage(err)];
        throw new DropError(reason, `scene detection: ${detail}`);
      }
    }
  }
}
