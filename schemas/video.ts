// Sample type and Arrow layout for video clips: a time window of one video with its sampled
// frames (JPEG, with times), its audio, the measured audio-visual offset, and the subtitle
// cues that overlap it (with their original times, so later alignment can sit beside them).
import * as arrow from 'apache-arrow';
import type { Traceable } from '../core/stage.ts';
import type { Media } from './media.ts';
import { hf, mediaType, type KindSchema } from './kind-schema.ts';

export const VIDEO_CLIP = 'video_clip' as const;

export type SceneBoundaryType = 'hard' | 'fade' | 'dissolve' | 'none';

export interface VideoFrame {
  /** Seconds on the source video's timeline. */
  time: number;
  /** JPEG bytes. */
  image: Media;
}

export interface SubtitleSpan {
  text: string;
  /** Seconds on the video's timeline, as the sidecar gives them. */
  start: number;
  end: number;
  /** Narration alignment (null where it did not run): the re-timed span, the matched frames' span, the mean similarity, and whether the sentence could be aligned at all. */
  alignedStart: number | null;
  alignedEnd: number | null;
  matchStart: number | null;
  matchEnd: number | null;
  score: number | null;
  alignable: boolean | null;
  /** Re-timing (subtitles.retime or narration): aligned - original start, and its evidence (`speech`, `visual`, `both`, `none`). */
  shift: number | null;
  evidence: string | null;
}

export interface VideoClipSample extends Traceable {
  kind: typeof VIDEO_CLIP;
  /** Path of the source video. */
  video: string;
  /** 0-based position of the clip within its video. */
  clipIndex: number;
  clipMode: 'fixed' | 'scenes' | 'sentences';
  /** Clip window in seconds of the video. */
  start: number;
  end: number;
  videoDuration: number;
  /** Rate the stored frames were sampled at. */
  fps: number;
  width: number;
  height: number;
  frames: VideoFrame[];
  /** Mono audio of the window (WAV or FLAC); null when the video has no audio stream. */
  audio: Media | null;
  samplingRate: number | null;
  /** Audio-visual offset (positive: audio late) and its confidence; null without audio or sync. */
  avOffsetMs: number | null;
  avConfidence: number | null;
  /** True when the stored audio was shifted by -avOffsetMs to correct the offset. */
  avCorrected: boolean;
  /** Text of the cues overlapping the window (the sentence itself in sentence mode); null without subtitles. */
  subtitle: string | null;
  /** Those cues with their original times. */
  subtitleCues: SubtitleSpan[];
  /** What bounds the window at its start and end (scenes mode: hard, fade or dissolve, with the
   *  detector's score; none at the video's ends, for split scenes and in fixed and sentence modes). */
  cutInType: SceneBoundaryType;
  cutInScore: number | null;
  cutOutType: SceneBoundaryType;
  cutOutScore: number | null;
  /** Videos from URL lists: what the fetcher learnt about consent (see the web kind's `consent`); null for local files. */
  consent: string | null;
}

const f64 = () => new arrow.Float64();
const i32 = () => new arrow.Int32();
const utf8 = () => new arrow.Utf8();
const field = (name: string, type: arrow.DataType, nullable = false) => new arrow.Field(name, type, nullable);

/** list<struct{time: float64, image: struct{bytes, path}}>; apache-arrow's vectorFromArray builds it from plain objects. */
function frameListType(): arrow.List {
  return new arrow.List(field('item', new arrow.Struct([field('time', f64()), field('image', mediaType())])));
}

function cueListType(): arrow.List {
  const alignment = ['aligned_start', 'aligned_end', 'match_start', 'match_end', 'score'].map((n) => field(n, f64(), true));
  return new arrow.List(field('item', new arrow.Struct([field('text', utf8()), field('start', f64()), field('end', f64()), ...alignment, field('alignable', new arrow.Bool(), true), field('shift', f64(), true), field('evidence', utf8(), true)])));
}

export const videoClipSchema: KindSchema<VideoClipSample> = {
  kind: VIDEO_CLIP,
  // A row holds many JPEG frames and seconds of audio; small batches keep memory bounded.
  maxRowsPerBatch: 16,
  columns: [
    { name: 'id', type: utf8(), hf: hf.string, get: (s) => s.id },
    { name: 'source', type: utf8(), hf: hf.string, get: (s) => s.source },
    { name: 'video', type: utf8(), hf: hf.string, get: (s) => s.video },
    { name: 'clip_index', type: i32(), hf: hf.int32, get: (s) => s.clipIndex },
    { name: 'clip_mode', type: utf8(), hf: hf.string, get: (s) => s.clipMode },
    { name: 'start', type: f64(), hf: hf.float64, get: (s) => s.start },
    { name: 'end', type: f64(), hf: hf.float64, get: (s) => s.end },
    { name: 'video_duration', type: f64(), hf: hf.float64, get: (s) => s.videoDuration },
    { name: 'fps', type: f64(), hf: hf.float64, get: (s) => s.fps },
    { name: 'width', type: i32(), hf: hf.int32, get: (s) => s.width },
    { name: 'height', type: i32(), hf: hf.int32, get: (s) => s.height },
    {
      name: 'frames',
      type: frameListType(),
      hf: [{ time: hf.float64, image: hf.image }],
      get: (s) => s.frames.map((f) => ({ time: f.time, image: { bytes: f.image.bytes, path: f.image.path } })),
    },
    { name: 'audio', type: mediaType(), nullable: true, hf: hf.audio, get: (s) => (s.audio ? { bytes: s.audio.bytes, path: s.audio.path } : null) },
    { name: 'sampling_rate', type: i32(), nullable: true, hf: hf.int32, get: (s) => s.samplingRate },
    { name: 'av_offset_ms', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.avOffsetMs },
    { name: 'av_confidence', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.avConfidence },
    { name: 'av_corrected', type: new arrow.Bool(), hf: hf.bool, get: (s) => s.avCorrected },
    { name: 'subtitle', type: utf8(), nullable: true, hf: hf.string, get: (s) => s.subtitle },
    {
      name: 'subtitle_cues',
      type: cueListType(),
      hf: [{ text: hf.string, start: hf.float64, end: hf.float64, aligned_start: hf.float64, aligned_end: hf.float64, match_start: hf.float64, match_end: hf.float64, score: hf.float64, alignable: hf.bool, shift: hf.float64, evidence: hf.string }],
      get: (s) =>
        s.subtitleCues.map((c) => ({
          text: c.text,
          start: c.start,
          end: c.end,
          aligned_start: c.alignedStart,
          aligned_end: c.alignedEnd,
          match_start: c.matchStart,
          match_end: c.matchEnd,
          score: c.score,
          alignable: c.alignable,
          shift: c.shift,
          evidence: c.evidence,
        })),
    },
    { name: 'consent', type: utf8(), nullable: true, hf: hf.string, get: (s) => s.consent },
    { name: 'cut_in_type', type: utf8(), hf: hf.string, get: (s) => s.cutInType },
    { name: 'cut_in_score', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.cutInScore },
    { name: 'cut_out_type', type: utf8(), hf: hf.string, get: (s) => s.cutOutType },
    { name: 'cut_out_score', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.cutOutScore },
  ],
  index: [
    { name: 'source', type: 'UTF8', get: (s) => s.source },
    { name: 'start', type: 'DOUBLE', get: (s) => s.start },
    { name: 'end', type: 'DOUBLE', get: (s) => s.end },
    { name: 'av_offset_ms', type: 'DOUBLE', get: (s) => s.avOffsetMs },
    { name: 'av_confidence', type: 'DOUBLE', get: (s) => s.avConfidence },
    { name: 'cut_in_type', type: 'UTF8', get: (s) => s.cutInType },
    { name: 'cut_out_type', type: 'UTF8', get: (s) => s.cutOutType },
  ],
};

/** Rough stored size of a clip, for the shard byte cap. */
export function approxVideoClipBytes(s: VideoClipSample): number {
  let bytes = 400 + (s.audio?.bytes.byteLength ?? 0) + (s.subtitle?.length ?? 0) * 2;
  for (const f of s.frames) bytes += f.image.bytes.byteLength + f.image.path.length + 16;
  return bytes;
}

/** Names of the stats the video stages record and the report's video section reads. */
export const VIDEO_STATS = {
  /** Histogram of measured AV offsets in ms, one bin per analysis-frame shift (-vshift..+vshift). */
  offsetHistogram: 'video.av_offset_ms',
  /** Histogram of sync confidence (median - min distance) over [0, 2]. */
  confidenceHistogram: 'video.av_confidence',
  /** Worst clips (kept and dropped) by |offset| (ties: the more confident first), and by lowest confidence. */
  worstOffset: 'video.largest_av_offset',
  worstConfidence: 'video.lowest_av_confidence',
  /** Kept clips with the lowest sync confidence (ties by id), each with its correlation curve: where the kept sync is least certain. */
  worstConfidenceKept: 'video.lowest_av_confidence_kept',
  /** Example set: per video, its sentences with original and aligned times (narration alignment). */
  narration: 'video.narration',
  /** Histogram of aligned minus original sentence start, in seconds. */
  narrationShift: 'video.narration_shift_s',
  /** Counts of re-timed cues by evidence (speech, visual, both, none), and videos without speech. */
  retimeEvidence: 'video.subtitle_retime',
  /** Histogram of the narration score (mean similarity of a sentence over its matched frames), alignable sentences. */
  narrationScore: 'video.narration_score',
  /** Histogram of the speech-match gain (0..1, speech-retime.ts) of cues re-timed by the speech. */
  retimeGain: 'video.subtitle_retime_gain',
  /** Histogram of the shift of cues re-timed by subtitles.retime, seconds. */
  retimeShift: 'video.subtitle_retime_shift_s',
  /** Example set: per video, its cues with original and re-timed times and their evidence. */
  retime: 'video.subtitle_retime_examples',
} as const;

/** Confidence histogram: the sync confidence is within [0, 1]. */
export const AV_CONFIDENCE_RANGE: [number, number, number] = [0, 1, 20];
/** Narration score histogram: cosine similarities, 0.05 per bin. */
export const NARRATION_SCORE_RANGE: [number, number, number] = [-1, 1, 40];
/** Speech-match gain histogram: a gain is at most 1. */
export const RETIME_GAIN_RANGE: [number, number, number] = [0, 1, 20];
