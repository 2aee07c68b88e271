// The narration_align stage of the video pipeline: consumes the video's probe and its sidecar
// cues, emits the video with the cues' alignment (narration-align.ts) attached. It runs once per video,
// before the clip windows are cut, so sentence windows can use the re-timed sentences.
// Records per video: the shift histogram (aligned - original start of alignable sentences), the
// score histogram (mean similarity over the matched frames),
// alignable / not_alignable counts, and the video's sentence timeline as a report example.
// A video whose frames cannot be read or embedded is a reject `narration_failed` (for the
// video's narration, at stage narration_align); its clips are still cut, at the original times.
import { DropError, dropItem, errorMessage, expandStage, type Drop, type Stage, type StageContext, type Traceable } from '../../core/stage.ts';
import { NARRATION_SCORE_RANGE, VIDEO_STATS } from '../../schemas/video.ts';
import type { VideoNarrationConfig } from '../../schemas/video-config.ts';
import type { ProbedVideo, SubtitleCue } from '../../schemas/video-items.ts';
import type { Scorer } from '../../scorer/scorer.ts';
import { alignNarration } from './narration-align.ts';
import { embedVideoFrames } from './narration-frames.ts';

const NARRATION_STAGE = 'narration_align';

/** Shift histogram: seconds, one bin per 0.25 s. */
const SHIFT_RANGE: [number, number, number] = [-10, 10, 80];

export interface NarrationStageOptions {
  cfg: VideoNarrationConfig;
  scorer: Scorer;
  ffmpegPath: string;
}

/**
 * The narration_align stage: a probed video with cues -> the same video with its cues aligned
 * (videos without cues pass untouched and uncounted). Counts videos aligned: in = videos with
 * cues, out = videos aligned; a failure is a drop of the video's narration, not of the video.
 */
export function narrationStage(o: NarrationStageOptions): Stage<ProbedVideo, ProbedVideo> {
  return expandStage<ProbedVideo, ProbedVideo>(
    NARRATION_STAGE,
    async (video, ctx): Promise<(ProbedVideo | Drop)[]> => {
      if (!video.cues) return [video];
      try {
        return [{ ...video, cues: await alignCues(video, video.cues, o, ctx) }];
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const detail = err instanceof DropError ? err.detail : errorMessage(err);
        return [video, dropItem({ id: `${video.id}/narration`, kind: video.kind, source: video.source }, 'narration_failed', detail)];
      }
    },
    { weight: (video) => (video.cues?.length && video.cues.every((c) => c.aligned) ? 1 : 0) },
  );
}

async function alignCues(video: ProbedVideo, cues: SubtitleCue[], { cfg, scorer, ffmpegPath }: NarrationStageOptions, ctx: StageContext): Promise<SubtitleCue[]> {
  const probe = video.probe;
  const frames = await embedVideoFrames(scorer, {
    ffmpegPath,
    file: probe.path,
    durationS: probe.duration,
    fps: cfg.fps,
    displayWidth: probe.video.displayWidth,
    displayHeight: probe.video.displayHeight,
    maxSide: cfg.max_side,
    signal: ctx.signal,
  });
  if (frames.times.length === 0) throw new DropError('narration_failed', 'no frames could be read for narration alignment');
  const sentenceEmbeddings = (await scorer.embedTexts(cues.map((c) => c.text), { detail: false })).pooled;
  const result = alignNarration({
    cues,
    sentenceEmbeddings,
    frameTimes: frames.times,
    frameEmbeddings: frames.embeddings,
    frameInterval: 1 / cfg.fps,
    videoDuration: probe.duration,
    dropPercentile: cfg.drop_percentile,
  });
  const aligned = cues.map((cue, i) => ({ ...cue, aligned: result.sentences[i] }));
  record(ctx, video, aligned, probe.duration, result.dropThreshold);
  return aligned;
}

function record(ctx: StageContext, video: Traceable, cues: SubtitleCue[], duration: number, dropThreshold: number): void {
  const shift = ctx.stats.histogram(VIDEO_STATS.narrationShift, ...SHIFT_RANGE);
  const score = ctx.stats.histogram(VIDEO_STATS.narrationScore, ...NARRATION_SCORE_RANGE);
  for (const c of cues) {
    const a = c.aligned!;
    ctx.stats.count('video.narration_sentences', a.alignable ? 'alignable' : 'not_alignable');
    if (a.alignable) shift.add(a.alignedStart - c.start);
    if (a.alignable && a.score !== null) score.add(a.score);
  }
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  ctx.stats.exampleSet(VIDEO_STATS.narration, 6).add(video.id, {
    id: video.id,
    source: video.source,
    duration: r3(duration),
    drop_threshold: r3(dropThreshold),
    sentences: cues.map((c) => ({
      text: c.text.slice(0, 200),
      start: c.start,
      end: c.end,
      aligned_start: c.aligned!.alignedStart,
      aligned_end: c.aligned!.alignedEnd,
      score: c.aligned!.score,
      alignable: c.aligned!.alignable,
    })),
  });
}
