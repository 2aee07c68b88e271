// Frames of a whole video for narration alignment: sampled at a low rate, streamed from ffmpeg
// one at a time, JPEG-encoded and embedded by the scorer a batch at a time, so only the
// embeddings of the video are ever held (never its frames).
import type { Scorer } from '../../scorer/scorer.ts';
import { encodeJpeg, outputSize, streamRgbFrames } from '../decode/video-frames.ts';

export interface FrameEmbeddingRequest {
  ffmpegPath: string;
  file: string;
  durationS: number;
  fps: number;
  displayWidth: number;
  displayHeight: number;
  /** Longer side of the frames handed to the scorer (which resizes and crops them itself). */
  maxSide: number;
  signal?: AbortSignal;
}

export async function embedVideoFrames(scorer: Scorer, req: FrameEmbeddingRequest): Promise<{ times: number[]; embeddings: Float32Array[] }> {
  const size = outputSize(req.displayWidth, req.displayHeight, req.maxSide);
  const times: number[] = [];
  const embeddings: Float32Array[] = [];
  let batch: Uint8Array[] = [];
  const flush = async () => {
    if (!batch.length) return;
    embeddings.push(...(await scorer.embedImages(batch, { detail: false })).pooled);
    batch = [];
  };
  for await (const frame of streamRgbFrames({ ffmpegPath: req.ffmpegPath, file: req.file, startS: 0, durationS: req.durationS, fps: req.fps, ...size, signal: req.signal })) {
    times.push(frame.time);
    batch.push(await encodeJpeg(frame, 90));
    if (batch.length >= scorer.batchSize) await flush();
  }
  await flush();
  return { times, embeddings };
}
