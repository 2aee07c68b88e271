// The subtitle_retime stage of the video pipeline (source.subtitles.retime): the video's audio is
// read once at 8 kHz (the speech band fits; 32 KB per second of video is held), its speech
// segments found (decode/voice-activity.ts) and the cues aligned to them (speech-retime.ts).
// Narration alignment by the pictures (narration-stage.ts), when it ran before, takes part twice.
// Inside the speech alignment, each cue it places with a score >= visual_min_score adds
// subtitles.visual_weight times its agreement to the global offset's score and to the gain of
// the speech runs near it (speech-retime.ts). Then, per cue,
//   speech matched, pictures agree (same shift within max_jitter_s)   -> speech times, `both`;
//   speech matched, pictures absent or disagreeing                     -> speech times, `speech`;
//   no speech match, pictures matched with score >= visual_min_score
//     and a shift consistent with the speech's global offset (or no
//     speech found in the video at all)                                -> picture times, `visual`;
//   otherwise                                                          -> not moved, `none`.
// Records counts by evidence, the shift and speech-gain histograms and a per-video cue timeline example.
// A video whose audio cannot be read is a reject `retime_failed` (for `<video>/retime`); its
// clips are still cut, with the cues as they were.
import { DropError, dropItem, errorMessage, expandStage, type Drop, type Stage, type StageContext } from '../../core/stage.ts';
import { RETIME_GAIN_RANGE, VIDEO_STATS } from '../../schemas/video.ts';
import type { VideoSubtitlesConfig } from '../../schemas/video-config.ts';
import type { ProbedVideo, RetimeEvidence, SentenceAlignment, SubtitleCue } from '../../schemas/video-items.ts';
import { extractAudioPcm } from '../decode/audio-extract.ts';
import { detectSpeech, type SpeechSegment } from '../decode/voice-activity.ts';
import { retimeBySpeech } from './speech-retime.ts';

const RETIME_STAGE = 'subtitle_retime';
const VAD_RATE = 8000;
const SHIFT_RANGE: [number, number, number] = [-10, 10, 80];

export interface SpeechRetimeOptions {
  cfg: VideoSubtitlesConfig;
  ffmpegPath: string;
}

/** The speech segments of a video's audio track (none without one). */
export async function videoSpeech(file: string, duration: number, hasAudio: boolean, o: SpeechRetimeOptions, signal?: AbortSignal, audioDuration?: number | null): Promise<SpeechSegment[]> {
  if (!hasAudio) return [];
  // An audio stream shorter than the video is padded with silence, not an error.
  const pcm = await extractAudioPcm({ ffmpegPath: o.ffmpegPath, file, startS: 0, durationS: duration, sampleRate: VAD_RATE, streamDurationS: audioDuration, signal });
  return detectSpeech(pcm, VAD_RATE, o.cfg.vad);
}

/** Cues re-timed by the speech segments and (where present) their picture alignment. */
export function retimeCues(cues: SubtitleCue[], segments: SpeechSegment[], duration: number, cfg: VideoSubtitlesConfig): { cues: SubtitleCue[]; offset: number | null } {
  // The pictures' placement of each cue, where it is strong enough to count: inside the speech DTW's gain, and the fallback below.
  const strong = cues.map((cue) => (cue.aligned?.alignable && cue.aligned.evidence !== 'none' && (cue.aligned.score ?? -Infinity) >= cfg.visual_min_score ? cue.aligned : null));
  const hints = strong.map((a) => (a ? { start: a.alignedStart, end: a.alignedEnd } : null));
  const { offset, matches } = retimeBySpeech(cues, segments, duration, cfg, hints);
  const out = cues.map((cue, i): SubtitleCue => {
    const speech = matches[i];
    const visual = strong[i];
    const visualShift = visual ? visual.alignedStart - cue.start : null;
    const base = { matchStart: cue.aligned?.matchStart ?? null, matchEnd: cue.aligned?.matchEnd ?? null, score: cue.aligned?.score ?? null };
    let a: SentenceAlignment;
    if (speech) {
      const shift = speech.start - cue.start;
      const agree = visualShift !== null && Math.abs(visualShift - shift) <= cfg.max_jitter_s;
      a = { ...base, alignedStart: speech.start, alignedEnd: speech.end, alignable: true, shift: round3(shift), evidence: agree ? 'both' : 'speech', speechGain: speech.gain };
    } else if (visual && visualShift !== null && Math.abs(visualShift) <= cfg.max_shift_s && (segments.length === 0 || (offset !== null && Math.abs(visualShift - offset) <= cfg.max_jitter_s))) {
      a = { ...base, alignedStart: visual.alignedStart, alignedEnd: visual.alignedEnd, alignable: true, shift: round3(visualShift), evidence: 'visual' };
    } else {
      a = { ...base, alignedStart: cue.start, alignedEnd: cue.end, alignable: false, shift: 0, evidence: 'none' };
    }
    return { ...cue, aligned: a };
  });
  return { cues: out, offset };
}

/**
 * The subtitle_retime stage: a probed video with cues -> the same video with its cues re-timed
 * (videos without cues pass untouched and uncounted). A failure drops the re-timing, not the video.
 */
export function speechRetimeStage(o: SpeechRetimeOptions): Stage<ProbedVideo, ProbedVideo> {
  return expandStage<ProbedVideo, ProbedVideo>(
    RETIME_STAGE,
    async (video, ctx): Promise<(ProbedVideo | Drop)[]> => {
      if (!video.cues) return [video];
      try {
        const segments = await videoSpeech(video.probe.path, video.probe.duration, video.probe.audio !== null, o, ctx.signal, video.probe.audio?.duration);
        const { cues, offset } = retimeCues(video.cues, segments, video.probe.duration, o.cfg);
        record(ctx, video, cues, segments, offset);
        return [{ ...video, cues }];
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const detail = err instanceof DropError ? err.detail : errorMessage(err);
        return [video, dropItem({ id: `${video.id}/retime`, kind: video.kind, source: video.source }, 'retime_failed', detail)];
      }
    },
    { weight: (video) => (video.cues?.length && video.cues.every((c) => c.aligned?.evidence) ? 1 : 0) },
  );
}

function record(ctx: StageContext, video: ProbedVideo, cues: SubtitleCue[], segments: SpeechSegment[], offset: number | null): void {
  const shift = ctx.stats.histogram(VIDEO_STATS.retimeShift, ...SHIFT_RANGE);
  const gain = ctx.stats.histogram(VIDEO_STATS.retimeGain, ...RETIME_GAIN_RANGE);
  for (const c of cues) {
    const evidence: RetimeEvidence = c.aligned!.evidence ?? 'none';
    ctx.stats.count(VIDEO_STATS.retimeEvidence, evidence);
    if (c.aligned!.alignable) shift.add(c.aligned!.shift ?? 0);
    if (typeof c.aligned!.speechGain === 'number') gain.add(c.aligned!.speechGain);
  }
  if (segments.length === 0) ctx.stats.count(VIDEO_STATS.retimeEvidence, 'videos_without_speech');
  ctx.stats.exampleSet(VIDEO_STATS.retime, 6).add(video.id, {
    id: video.id,
    source: video.source,
    duration: round3(video.probe.duration),
    offset,
    speech: segments.slice(0, 400).map((s) => [s.start, s.end]),
    sentences: cues.map((c) => ({
      text: c.text.slice(0, 200),
      start: c.start,
      end: c.end,
      aligned_start: c.aligned!.alignedStart,
      aligned_end: c.aligned!.alignedEnd,
      score: c.aligned!.score,
      alignable: c.aligned!.alignable,
      shift: c.aligned!.shift,
      evidence: c.aligned!.evidence,
    })),
  });
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
