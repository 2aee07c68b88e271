// Frames of one time window of a video, sampled at a fixed rate and streamed from ffmpeg's
// stdout as raw RGB, one frame at a time: only the frame being handed out is in memory, never
// the video. A window ffmpeg fails on, or one that yields far fewer frames than its length
// promises (a file truncated mid-stream), is a DropError `decode_failed`.
import sharp from 'sharp';
import { DropError } from '../../core/stage.ts';
import { FfmpegError, inputSeekArgs, streamFfmpeg, type FfmpegRunOptions } from './ffmpeg-run.ts';

export interface RgbFrame {
  /** 0-based position in the sampled sequence. */
  index: number;
  /** Seconds on the video's timeline: window start + index / fps. */
  time: number;
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  rgb: Uint8Array;
}

export interface FrameWindowRequest {
  ffmpegPath: string;
  file: string;
  startS: number;
  durationS: number;
  fps: number;
  /** Output size; see outputSize(). */
  width: number;
  height: number;
  signal?: AbortSignal;
}

/** Frames a window may lack at its end (rounding at the container's last frame). */
const TOLERATED_MISSING_FRAMES = 2;

/** Size that fits maxSide on the longer side, keeps the aspect ratio, never upscales, and is even (for encoders). */
export function outputSize(displayWidth: number, displayHeight: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(displayWidth, displayHeight));
  const even = (x: number) => Math.max(2, 2 * Math.round((x * scale) / 2));
  return { width: even(displayWidth), height: even(displayHeight) };
}

/** Number of frames a window of durationS at fps gives. */
export function framesInWindow(durationS: number, fps: number): number {
  return Math.max(0, Math.round(durationS * fps));
}

export async function* streamRgbFrames(req: FrameWindowRequest): AsyncGenerator<RgbFrame> {
  yield* framesFromFfmpeg(req, ['-v', 'error', ...inputSeekArgs(req.startS), '-i', req.file, ...frameOutputArgs(req)]);
}

/**
 * The output options that write the window's frames as raw RGB to stdout. `outputSeekS`: seconds
 * to skip after the input's start (when the input was opened earlier than the window, e.g. for
 * padded audio from the same process); frames keep the same grid as seeking the input directly.
 */
function frameOutputArgs(req: FrameWindowRequest, outputSeekS = 0): string[] {
  return [
    '-map', '0:v:0', '-an', '-sn', '-dn',
    ...(outputSeekS > 5e-7 ? ['-ss', outputSeekS.toFixed(6)] : []),
    '-t', req.durationS.toFixed(6),
    '-vf', `fps=${req.fps},scale=${req.width}:${req.height}:flags=area,setsar=1`,
    '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1',
  ];
}

/** Runs ffmpeg with `args` (whose stdout is frameOutputArgs' output) and cuts stdout into frames. */
export async function* framesFromFfmpeg(req: FrameWindowRequest & { expectedFrames?: number; timeOf?: (index: number) => number }, args: string[], runOptions: Pick<FfmpegRunOptions, 'sideOutputs'> = {}): AsyncGenerator<RgbFrame> {
  const frameBytes = req.width * req.height * 3;
  const expected = req.expectedFrames ?? framesInWindow(req.durationS, req.fps);
  const timeOf = req.timeOf ?? ((i: number) => req.startS + i / req.fps);
  let pending = new Uint8Array(frameBytes);
  let filled = 0;
  let index = 0;
  try {
    for await (const chunk of streamFfmpeg(req.ffmpegPath, args, { ...runOptions, signal: req.signal, maxBytes: (expected + 5) * frameBytes })) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - offset);
        pending.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === frameBytes) {
          yield { index, time: timeOf(index), width: req.width, height: req.height, rgb: pending };
          index += 1;
          pending = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
  } catch (err) {
    if (err instanceof FfmpegError) throw new DropError('decode_failed', `video: ${err.message}`);
    throw err;
  }
  if (index < expected - TOLERATED_MISSING_FRAMES) {
    throw new DropError('decode_failed', `video gave ${index} of ${expected} frames for the ${req.durationS.toFixed(2)} s window at ${req.startS.toFixed(2)} s`);
  }
}

export async function encodeJpeg(frame: RgbFrame, quality: number): Promise<Uint8Array> {
  const buf = await sharp(frame.rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
