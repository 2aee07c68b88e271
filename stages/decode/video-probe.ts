// Probe a video file with ffprobe (through fluent-ffmpeg): duration, the first video and audio
// streams, frame rate, sample rate, display size. A file that cannot become clips is a
// DropError with one of: `probe_failed` (zero-byte, truncated or otherwise unreadable: ffprobe
// fails or finds no duration), `no_video_stream`, `no_audio_stream` (only when audio is
// required), `too_short`.
import ffmpeg from 'fluent-ffmpeg';
import { DropError, mapStage, type Stage } from '../../core/stage.ts';
import type { VideoFile, VideoProbe } from '../../schemas/video-items.ts';

const VIDEO_PROBE_STAGE = 'video_probe';

/** The video_probe stage: a video file -> the file with its probe (cues still unread). Drops the whole video with the reasons above. */
export function videoProbeStage(options: ProbeOptions): Stage<VideoFile, VideoFile & { probe: VideoProbe }> {
  return mapStage(VIDEO_PROBE_STAGE, async (video) => ({ ...video, probe: await probeVideo(video.file, options) }), { errorReason: 'probe_failed' });
}

export interface ProbeOptions {
  ffprobePath: string;
  audioRequired: boolean;
  minDurationS: number;
}

/** ffprobe's raw answer; rejects with the ffprobe error (first line of stderr). */
function ffprobeRaw(file: string, ffprobePath: string): Promise<ffmpeg.FfprobeData> {
  return new Promise((resolve, reject) => {
    ffmpeg(file)
      .setFfprobePath(ffprobePath)
      .ffprobe((err: unknown, data: ffmpeg.FfprobeData) => (err ? reject(err) : resolve(data)));
  });
}

export async function probeVideo(file: string, options: ProbeOptions): Promise<VideoProbe> {
  let data: ffmpeg.FfprobeData;
  try {
    data = await ffprobeRaw(file, options.ffprobePath);
  } catch (err) {
    throw new DropError('probe_failed', ffprobeErrorLine(err));
  }
  const videoStream = data.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const audioStream = data.streams.find((s) => s.codec_type === 'audio');
  const streamDurations = data.streams.map((s) => positiveNumber(s.duration)).filter((d): d is number => d !== null);
  const duration = positiveNumber(data.format.duration) ?? (streamDurations.length ? Math.max(...streamDurations) : null);
  if (duration === null) throw new DropError('probe_failed', `ffprobe found no duration (format ${data.format.format_name ?? 'unknown'})`);
  if (!videoStream) throw new DropError('no_video_stream', `streams: ${data.streams.map((s) => s.codec_type).join(', ') || 'none'}`);
  if (!audioStream && options.audioRequired) throw new DropError('no_audio_stream', 'the file has no audio stream and source.audio_required is true');
  if (duration < options.minDurationS) throw new DropError('too_short', `${duration.toFixed(3)} s < min_duration_s ${options.minDurationS}`, { value: duration, threshold: options.minDurationS });

  const width = Number(videoStream.width ?? 0);
  const height = Number(videoStream.height ?? 0);
  if (!(width > 0 && height > 0)) throw new DropError('probe_failed', `video stream ${videoStream.index} has no frame size`);
  const fps = parseRate(videoStream.avg_frame_rate) ?? parseRate(videoStream.r_frame_rate) ?? 0;
  if (!(fps > 0)) throw new DropError('probe_failed', `video stream ${videoStream.index} has no frame rate`);
  const [displayWidth, displayHeight] = displaySize(width, height, parseRate(videoStream.sample_aspect_ratio?.replace(':', '/')), rotationDegrees(videoStream));

  return {
    path: file,
    duration,
    formatName: String(data.format.format_name ?? ''),
    video: {
      index: videoStream.index,
      codec: String(videoStream.codec_name ?? ''),
      width,
      height,
      displayWidth,
      displayHeight,
      fps,
      duration: positiveNumber(videoStream.duration),
    },
    audio: audioStream
      ? {
          index: audioStream.index,
          codec: String(audioStream.codec_name ?? ''),
          sampleRate: Number(audioStream.sample_rate ?? 0),
          channels: Number(audioStream.channels ?? 0),
          duration: positiveNumber(audioStream.duration),
        }
      : null,
  };
}

/** "30000/1001" -> 29.97; "0/0", "N/A" or missing -> null. */
function parseRate(rate: string | undefined): number | null {
  if (!rate) return null;
  const [num, den] = rate.split('/').map(Number);
  const value = den === undefined ? num : num / den;
  return Number.isFinite(value) && value > 0 ? value : null;
}

function positiveNumber(x: unknown): number | null {
  const n = typeof x === 'number' ? x : typeof x === 'string' ? Number(x) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Rotation from the display matrix side data or the legacy rotate tag (ffmpeg auto-rotates by it). */
function rotationDegrees(stream: ffmpeg.FfprobeStream): number {
  const raw = (stream as unknown as Record<string, unknown>).rotation ?? stream.tags?.rotate;
  const deg = Number(raw ?? 0);
  return Number.isFinite(deg) ? ((Math.round(deg / 90) * 90) % 360 + 360) % 360 : 0;
}

function displaySize(width: number, height: number, sar: number | null, rotation: number): [number, number] {
  const w = Math.max(1, Math.round(width * (sar ?? 1)));
  return rotation === 90 || rotation === 270 ? [height, w] : [w, height];
}

function ffprobeErrorLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // fluent-ffmpeg wraps stderr; the useful part is its last non-empty line.
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? 'ffprobe failed').slice(0, 300);
}
