// The per-clip stages of a video unit.
//   video_decode: ClipCandidate -> DecodedClip. One ffmpeg process (decode/clip-media.ts)
//     gives the frames on the stored grid (JPEG-encoded here), the motion signal at the
//     analysis rate, and the window's audio padded by vshift frames each side for the sync
//     search. Drops: `decode_failed`.
//   av_sync: DecodedClip -> VideoClipSample. Measures the offset, filters, optionally shifts
//     the audio back into sync, encodes the stored audio. Drops: `low_sync_confidence`,
//     `av_offset_too_large`.
import path from 'node:path';
import { mapStage, drop, DropError, type Stage, type Traceable } from '../../../pipeline/stage.ts';
import type { RunStats } from '../../../pipeline/stats.ts';
import type { VideoSourceConfig } from '../../../schemas/video-config.ts';
import { VIDEO_CLIP, type SubtitleSpan, type VideoClipSample, type VideoFrame } from '../../../schemas/video.ts';
import { encodeJpeg, outputSize } from '../../decode/video-frames.ts';
import { encodeAudio } from '../../decode/audio-extract.ts';
import { openClipMedia } from '../../decode/clip-media.ts';
import { audioOnsetEnvelope, estimateAvOffset, type AvSyncResult } from '../../align/av-sync.ts';
import type { VideoProbe } from './probe.ts';
import type { SubtitleCue } from './subtitles.ts';
import { recordSyncStats, type SyncVerdict } from './sync-stats.ts';

export const VIDEO_DECODE_STAGE = 'video_decode';
export const AV_SYNC_STAGE = 'av_sync';

/** One window of a probed video, before decoding. */
export interface ClipCandidate extends Traceable {
  kind: typeof VIDEO_CLIP;
  /** What outputs call the video (relative path or URL); probe.path is where its bytes are. */
  video: string;
  /** Consent verdict of a downloaded video; null for local files. */
  consent: string | null;
  probe: VideoProbe;
  clipIndex: number;
  clipMode: VideoClipSample['clipMode'];
  start: number;
  end: number;
  /** Cues overlapping the window (in sentence mode: the sentence), original times. */
  cues: SubtitleCue[];
}

export interface DecodedClip extends ClipCandidate {
  frames: VideoFrame[];
  width: number;
  height: number;
  /** Rate of the motion signal and the sync search (>= the stored frame rate). */
  analysisFps: number;
  /** Motion energy per analysis frame; NaN for the first (no previous frame). */
  motion: Float64Array;
  /** Structure energy per analysis frame (outlines; see structureEnergy), same length as motion. */
  structure: Float64Array;
  /** Audio from (start - lead / analysisFps) to (end + vshift / analysisFps); null without an audio stream. */
  audio: { pcm: Float32Array; sampleRate: number; leadFrames: number } | null;
}

export interface ClipStageOptions {
  ffmpegPath: string;
}

/** Whether a clip of this video is checked for sync (and so decoded at the analysis rate). */
function syncs(cfg: VideoSourceConfig, probe: VideoProbe): boolean {
  return cfg.sync.enabled && probe.audio !== null;
}

export function videoDecodeStage(cfg: VideoSourceConfig, opts: ClipStageOptions): Stage<ClipCandidate, DecodedClip> {
  return mapStage(VIDEO_DECODE_STAGE, (c, ctx) => decodeClip(c, cfg, opts, ctx.signal), { concurrency: cfg.concurrency, errorReason: 'decode_failed' });
}

export async function decodeClip(c: ClipCandidate, cfg: VideoSourceConfig, opts: ClipStageOptions, signal?: AbortSignal): Promise<DecodedClip> {
  const sync = syncs(cfg, c.probe);
  const analysisFps = sync ? Math.max(cfg.sync.fps, cfg.frames.fps) : cfg.frames.fps;
  const { width, height } = outputSize(c.probe.video.displayWidth, c.probe.video.displayHeight, cfg.frames.max_side);
  const duration = c.end - c.start;

  const audioStream = c.probe.audio;
  const leadFrames = audioStream && sync ? Math.min(cfg.sync.vshift, Math.floor(c.start * analysisFps + 1e-6)) : 0;
  const trailFrames = audioStream && sync ? cfg.sync.vshift : 0;
  const media = openClipMedia({
    ffmpegPath: opts.ffmpegPath,
    file: c.probe.path,
    startS: c.start,
    durationS: duration,
    stored: { fps: cfg.frames.fps, width, height },
    analysisFps: sync ? analysisFps : null,
    audio: audioStream
      ? { leadS: leadFrames / analysisFps, trailS: trailFrames / analysisFps, sampleRate: cfg.audio.sample_rate, streamDurationS: audioStream.duration ?? c.probe.duration }
      : null,
    signal,
  });

  const frames: VideoFrame[] = [];
  const name = mediaBaseName(c.video);
  for await (const frame of media.frames) {
    frames.push({ time: frame.time, image: { bytes: await encodeJpeg(frame, cfg.frames.jpeg_quality), path: `${name}@${frame.time.toFixed(3)}.jpg` } });
  }
  if (frames.length === 0) throw new DropError('decode_failed', `no frames in the window ${c.start.toFixed(2)}-${c.end.toFixed(2)} s`);
  const motion = media.motion();
  const structure = media.structure();
  const pcm = media.audio();
  const audio = pcm ? { pcm, sampleRate: cfg.audio.sample_rate, leadFrames } : null;
  return { ...c, frames, width, height, analysisFps, motion, structure, audio };
}

export function avSyncStage(cfg: VideoSourceConfig, opts: ClipStageOptions): Stage<DecodedClip, VideoClipSample> {
  return mapStage(AV_SYNC_STAGE, (c, ctx) => syncAndAssemble(c, cfg, opts, ctx.signal, ctx.stats), { concurrency: cfg.concurrency });
}

/** The offset of a decoded clip and the audio onsets it was measured on; null when it has no audio or sync is off. */
export function measureClipSync(c: DecodedClip, cfg: VideoSourceConfig): { result: AvSyncResult; onsets: Float64Array } | null {
  if (!c.audio || !syncs(cfg, c.probe)) return null;
  const onsets = audioOnsetEnvelope(c.audio.pcm, c.audio.sampleRate, c.analysisFps);
  const result = estimateAvOffset({ visual: c.motion, structure: c.structure, audio: onsets, audioLead: c.audio.leadFrames, fps: c.analysisFps, vshift: cfg.sync.vshift });
  return { result, onsets };
}

/** Keep (and whether to shift the audio) or drop, by the configured sync filters. */
function syncVerdict(result: AvSyncResult, cfg: VideoSourceConfig): SyncVerdict {
  const where = `offset ${fmtMs(result.offsetMs)}, confidence ${result.confidence.toFixed(3)}`;
  if (result.confidence < cfg.sync.min_confidence) return drop('low_sync_confidence', `${where} < min_confidence ${cfg.sync.min_confidence}`);
  if (cfg.sync.correct) return { kept: true, corrected: result.offsetMs !== 0 };
  if (Math.abs(result.offsetMs) > cfg.sync.max_abs_offset_ms) return drop('av_offset_too_large', `${where}; |offset| > max_abs_offset_ms ${cfg.sync.max_abs_offset_ms}`);
  return { kept: true, corrected: false };
}

export async function syncAndAssemble(c: DecodedClip, cfg: VideoSourceConfig, opts: ClipStageOptions, signal?: AbortSignal, stats?: RunStats): Promise<VideoClipSample> {
  const measured = measureClipSync(c, cfg);
  const result = measured?.result ?? null;
  let shiftS = 0;
  if (measured) {
    const verdict = syncVerdict(measured.result, cfg);
    if (stats) await recordSyncStats(stats, c, measured.result, measured.onsets, cfg, verdict);
    if ('drop' in verdict) throw new DropError(verdict.reason, verdict.detail);
    if (verdict.corrected) shiftS = measured.result.offsetMs / 1000;
  }

  let audio: VideoClipSample['audio'] = null;
  if (c.audio) {
    const { pcm, sampleRate, leadFrames } = c.audio;
    const first = Math.round((leadFrames / c.analysisFps + shiftS) * sampleRate);
    const window = sliceWithSilence(pcm, first, Math.round((c.end - c.start) * sampleRate));
    const ext = cfg.audio.format;
    audio = { bytes: await encodeAudio(ext, opts.ffmpegPath, window, sampleRate, signal), path: `${mediaBaseName(c.video)}@${c.start.toFixed(3)}.${ext}` };
  }

  const cues = c.cues.map(
    (q): SubtitleSpan => ({
      text: q.text,
      start: q.start,
      end: q.end,
      alignedStart: q.aligned?.alignedStart ?? null,
      alignedEnd: q.aligned?.alignedEnd ?? null,
      matchStart: q.aligned?.matchStart ?? null,
      matchEnd: q.aligned?.matchEnd ?? null,
      score: q.aligned?.score ?? null,
      alignable: q.aligned?.alignable ?? null,
    }),
  );
  return {
    id: c.id,
    kind: VIDEO_CLIP,
    source: c.source,
    video: c.video,
    clipIndex: c.clipIndex,
    clipMode: c.clipMode,
    start: c.start,
    end: c.end,
    videoDuration: c.probe.duration,
    fps: cfg.frames.fps,
    width: c.width,
    height: c.height,
    frames: c.frames,
    audio,
    samplingRate: c.audio ? c.audio.sampleRate : null,
    avOffsetMs: result ? result.offsetMs : null,
    avConfidence: result ? result.confidence : null,
    avCorrected: shiftS !== 0,
    subtitle: cues.length ? cues.map((q) => q.text).join(' ') : null,
    subtitleCues: cues,
    consent: c.consent,
  };
}

/** pcm[first .. first + length), with silence where that range leaves the array. */
function sliceWithSilence(pcm: Float32Array, first: number, length: number): Float32Array {
  const out = new Float32Array(Math.max(0, length));
  const from = Math.max(0, first);
  const to = Math.min(pcm.length, first + length);
  if (to > from) out.set(pcm.subarray(from, to), from - first);
  return out;
}

/** Last path segment of a relative path or URL (no query), for media struct paths. */
export function mediaBaseName(video: string): string {
  const noQuery = video.replace(/[?#].*$/, '');
  return path.posix.basename(noQuery) || 'video';
}

const fmtMs = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(0)} ms`;
