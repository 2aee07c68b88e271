// The video_decode stage: ClipCandidate -> DecodedClip. One ffmpeg process (clip-media.ts)
// gives the frames on the stored grid (JPEG-encoded here), the motion signal at the analysis
// rate, and the window's audio padded by vshift frames each side for the sync search. A
// candidate that carries its video's shared decode (scenes mode, video-pass.ts) is cut from it
// instead, with no ffmpeg run of its own.
// Drops: `decode_failed`.
import path from 'node:path';
import { mapStage, DropError, type Stage } from '../../core/stage.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { VideoFrame } from '../../schemas/video.ts';
import type { ClipCandidate, VideoProbe } from '../../schemas/video-items.ts';
import { encodeJpeg, outputSize } from './video-frames.ts';
import { openClipMedia } from './clip-media.ts';
import type { DecodedVideo } from './video-pass.ts';

const VIDEO_DECODE_STAGE = 'video_decode';

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
  /** Audio from (first frame - lead / analysisFps) to (end + vshift / analysisFps), where the first frame is at start (at most one analysis frame after it when cut from a shared decode); null without an audio stream. */
  audio: { pcm: Float32Array; sampleRate: number; leadFrames: number } | null;
}

export interface ClipStageOptions {
  ffmpegPath: string;
}

/** Whether a clip of this video is checked for sync (and so decoded at the analysis rate). */
export function syncs(cfg: VideoSourceConfig, probe: VideoProbe): boolean {
  return cfg.sync.enabled && probe.audio !== null;
}

export function videoDecodeStage(cfg: VideoSourceConfig, opts: ClipStageOptions): Stage<ClipCandidate & { decoded?: DecodedVideo }, DecodedClip> {
  return mapStage(
    VIDEO_DECODE_STAGE,
    ({ decoded, ...c }: ClipCandidate & { decoded?: DecodedVideo }, ctx) => (decoded ? cutClip(c, decoded, cfg) : decodeClip(c, cfg, opts, ctx.signal)),
    { concurrency: cfg.concurrency, errorReason: 'decode_failed' },
  );
}

/** The clip from its video's shared decode. */
async function cutClip(c: ClipCandidate, decoded: DecodedVideo, cfg: VideoSourceConfig): Promise<DecodedClip> {
  const { width, height } = outputSize(c.probe.video.displayWidth, c.probe.video.displayHeight, cfg.frames.max_side);
  const pad = c.probe.audio && syncs(cfg, c.probe) ? cfg.sync.vshift : 0;
  const slice = await decoded.slice({ start: c.start, end: c.end, leadFrames: pad, trailFrames: pad, name: mediaBaseName(c.video) });
  return { ...c, ...slice, width, height };
}

async function decodeClip(c: ClipCandidate, cfg: VideoSourceConfig, opts: ClipStageOptions, signal?: AbortSignal): Promise<DecodedClip> {
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

/** Last path segment of a relative path or URL (no query), for media struct paths. */
export function mediaBaseName(video: string): string {
  const noQuery = video.replace(/[?#].*$/, '');
  return path.posix.basename(noQuery) || 'video';
}

