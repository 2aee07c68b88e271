// A clip's frames and its audio from one ffmpeg process: the input is opened at the start of the
// audio window (which may begin before the clip, padding for the sync search), the frames are
// one output on stdout (skipping the lead), the audio a second output on pipe 3. One process
// instead of two per clip halves the start-up cost, which dominates short clips with a
// dynamically linked ffmpeg. Frames stream as they come; the audio (small) is collected and
// handed out once the frames are done.
import { DropError } from '../../pipeline/stage.ts';
import { inputSeekArgs } from '../sources/video/ffmpeg-run.ts';
import { audioOutputArgs, pcmWindow } from './audio-extract.ts';
import { frameOutputArgs, framesFromFfmpeg, type FrameWindowRequest, type RgbFrame } from './video-frames.ts';

export interface ClipMediaRequest extends FrameWindowRequest {
  /** null: frames only. */
  audio: {
    /** Seconds of audio before startS (<= startS) and after the window's end. */
    leadS: number;
    trailS: number;
    sampleRate: number;
    /** Seconds of audio the stream has; beyond it silence is expected, not an error. */
    streamDurationS?: number | null;
  } | null;
}

export interface ClipMedia {
  frames: AsyncGenerator<RgbFrame>;
  /** The audio window (startS - leadS .. end + trailS) as mono float PCM; call after `frames` is done. */
  audio(): Float32Array | null;
}

export function openClipMedia(req: ClipMediaRequest): ClipMedia {
  const a = req.audio;
  if (!a) return { frames: framesFromFfmpeg(req, ['-v', 'error', ...inputSeekArgs(req.startS), '-i', req.file, ...frameOutputArgs(req)]), audio: () => null };
  const audioReq = { ffmpegPath: req.ffmpegPath, file: req.file, startS: req.startS - a.leadS, durationS: req.durationS + a.leadS + a.trailS, sampleRate: a.sampleRate, streamDurationS: a.streamDurationS };
  const maxAudioBytes = Math.round(audioReq.durationS * a.sampleRate) * 4 + 65536;
  const chunks: Buffer[] = [];
  let audioBytes = 0;
  let done = false;
  const args = ['-v', 'error', ...inputSeekArgs(audioReq.startS), '-i', req.file, ...frameOutputArgs(req, a.leadS), ...audioOutputArgs(audioReq, 'pipe:3')];
  const onPipe3 = (chunk: Buffer) => {
    audioBytes += chunk.length;
    if (audioBytes <= maxAudioBytes) chunks.push(chunk);
  };
  async function* frames(): AsyncGenerator<RgbFrame> {
    yield* framesFromFfmpeg(req, args, { onPipe3 });
    done = true;
  }
  return {
    frames: frames(),
    audio: () => {
      if (!done) throw new Error('clip audio read before its frames were done');
      if (audioBytes > maxAudioBytes) throw new DropError('decode_failed', `audio output passed ${maxAudioBytes} bytes`);
      return pcmWindow(Buffer.concat(chunks), audioReq);
    },
  };
}
