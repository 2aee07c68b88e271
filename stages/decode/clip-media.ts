// A clip's stored frames, its motion signal and its audio from one ffmpeg process. The input
// is opened at the start of the audio window (which may begin before the clip: padding for the
// sync search); one filtergraph samples the picture at the analysis rate, trims it to the clip
// and splits it:
//   stdout  the stored frames (RGB, the analysis frames nearest to the stored grid), streamed;
//   pipe 3  the audio window as mono float PCM (small, collected);
//   pipe 4  the analysis frames in grey at half the stored size, turned into motion energy as
//           they arrive (only the previous frame is kept).
// One process instead of one per stream halves the start-up cost, which dominates short clips
// with a dynamically linked ffmpeg, and sending analysis frames small and grey cuts the bytes
// piped to node about tenfold. Frames are trimmed inside the graph after the rate change, which
// gives the same frames as seeking straight to the clip with every ffmpeg build tried (5.1 and
// the packaged 2018 one).
import { DropError } from '../../core/stage.ts';
import { inputSeekArgs } from './ffmpeg-run.ts';
import { motionEnergy, structureEnergy } from './frame-signals.ts';
import { audioOutputArgs, pcmWindow } from './audio-extract.ts';
import { framesFromFfmpeg, framesInWindow, outputSize, type RgbFrame } from './video-frames.ts';

export interface ClipMediaRequest {
  ffmpegPath: string;
  file: string;
  startS: number;
  durationS: number;
  /** Stored frames: rate and size. */
  stored: { fps: number; width: number; height: number };
  /** Rate of the motion signal (>= stored.fps); null: no motion signal, frames at the stored rate only. */
  analysisFps: number | null;
  /** null: no audio. */
  audio: {
    /** Seconds of audio before startS (<= startS) and after the window's end. */
    leadS: number;
    trailS: number;
    sampleRate: number;
    /** Seconds of audio the stream has; beyond it silence is expected, not an error. */
    streamDurationS?: number | null;
  } | null;
  signal?: AbortSignal;
}

export interface ClipMedia {
  /** Stored frames with their times on the video's timeline. */
  frames: AsyncGenerator<RgbFrame>;
  /** Call after `frames` is done: motion energy per analysis frame (NaN for the first), or empty without analysis. */
  motion(): Float64Array;
  /** Call after `frames` is done: structure energy per analysis frame, or empty without analysis. */
  structure(): Float64Array;
  /** Call after `frames` is done: the audio window (startS - leadS .. end + trailS), or null. */
  audio(): Float32Array | null;
}

/** Indices of the analysis frames nearest to the stored grid: round(j * analysis / stored). */
export function storedFrameIndices(analysisFrames: number, analysisFps: number, storedFps: number): number[] {
  const out: number[] = [];
  for (let j = 0; ; j++) {
    const n = Math.round((j * analysisFps) / storedFps);
    if (n >= analysisFrames) return out;
    out.push(n);
  }
}

export function openClipMedia(req: ClipMediaRequest): ClipMedia {
  const { stored, audio: a } = req;
  const analysisFps = req.analysisFps ?? stored.fps;
  const leadS = a?.leadS ?? 0;
  const analysisFrames = framesInWindow(req.durationS, analysisFps);
  const indices = req.analysisFps === null ? null : storedFrameIndices(analysisFrames, analysisFps, stored.fps);
  const grey = req.analysisFps === null ? null : outputSize(stored.width, stored.height, Math.max(stored.width, stored.height) / 2);

  const graph = clipFilterGraph('[0:v:0]', { analysisFps, stored, grey, leadS, durationS: req.durationS });
  const args = ['-v', 'error', ...inputSeekArgs(req.startS - leadS), '-i', req.file, '-filter_complex', graph];
  args.push('-map', '[stored]', '-vsync', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');

  const sideOutputs: ((chunk: Buffer) => void)[] = [];
  const audioReq = a ? { ffmpegPath: req.ffmpegPath, file: req.file, startS: req.startS - a.leadS, durationS: req.durationS + a.leadS + a.trailS, sampleRate: a.sampleRate, streamDurationS: a.streamDurationS } : null;
  const maxAudioBytes = audioReq ? Math.round(audioReq.durationS * audioReq.sampleRate) * 4 + 65536 : 0;
  const audioChunks: Buffer[] = [];
  let audioBytes = 0;
  // pipe 3 is always the audio and pipe 4 the grey frames, so a clip without audio still sends an (empty) pipe 3.
  sideOutputs.push((chunk) => {
    audioBytes += chunk.length;
    if (audioBytes <= maxAudioBytes) audioChunks.push(chunk);
  });
  if (audioReq) args.push(...audioOutputArgs(audioReq, 'pipe:3'));

  const signals = grey ? greySignals(grey, analysisFrames) : null;
  if (signals) {
    sideOutputs.push(signals.sink);
    args.push('-map', '[grey]', '-vsync', 'passthrough', '-f', 'rawvideo', 'pipe:4');
  }
  let done = false;
  const frameReq = {
    ffmpegPath: req.ffmpegPath,
    file: req.file,
    startS: req.startS,
    durationS: req.durationS,
    fps: stored.fps,
    width: stored.width,
    height: stored.height,
    signal: req.signal,
    ...(indices ? { expectedFrames: indices.length, timeOf: (k: number) => req.startS + (indices[k] ?? indices.length) / analysisFps } : {}),
  };
  async function* frames(): AsyncGenerator<RgbFrame> {
    let count = 0;
    for await (const frame of framesFromFfmpeg(frameReq, args, { sideOutputs })) {
      if (indices && count >= indices.length) continue;
      count += 1;
      yield frame;
    }
    if (signals && signals.motion.length < analysisFrames - 2) {
      throw new DropError('decode_failed', `video gave ${signals.motion.length} of ${analysisFrames} analysis frames for the ${req.durationS.toFixed(2)} s window at ${req.startS.toFixed(2)} s`);
    }
    done = true;
  }
  const ready = (what: string) => {
    if (!done) throw new Error(`clip ${what} read before its frames were done`);
  };
  return {
    frames: frames(),
    structure: () => {
      ready('structure');
      return Float64Array.from(signals?.structure ?? []);
    },
    motion: () => {
      ready('motion');
      return Float64Array.from(signals?.motion ?? []);
    },
    audio: () => {
      ready('audio');
      if (!audioReq) return null;
      if (audioBytes > maxAudioBytes) throw new DropError('decode_failed', `audio output passed ${maxAudioBytes} bytes`);
      return pcmWindow(Buffer.concat(audioChunks), audioReq);
    },
  };
}


/**
 * The picture part of a clip's filtergraph from `input`: the analysis rate, the stored size,
 * trimmed to the window, split into [stored] (the analysis frames nearest to the stored grid)
 * and [grey] (half size, grey) when there is a motion signal, else [stored] alone.
 */
export function clipFilterGraph(input: string, g: { analysisFps: number; stored: { fps: number; width: number; height: number }; grey: { width: number; height: number } | null; leadS: number; durationS: number }): string {
  const picture = `${input}fps=${g.analysisFps},scale=${g.stored.width}:${g.stored.height}:flags=area,setsar=1,trim=start=${g.leadS.toFixed(6)}:duration=${g.durationS.toFixed(6)},setpts=PTS-STARTPTS`;
  // n is stored when it is the nearest analysis frame to its own grid point (see storedFrameIndices).
  const r = `${g.analysisFps}/${g.stored.fps}`;
  return g.grey
    ? `${picture},split=2[s][a];[s]select='eq(n\\,round(round(n/(${r}))*(${r})))'[stored];[a]scale=${g.grey.width}:${g.grey.height}:flags=area,format=gray[grey]`
    : `${picture}[stored]`;
}

/** A side-output sink turning grey analysis frames into motion and structure energy as they arrive (only the previous frame is kept); frames past `maxFrames` are ignored. */
export function greySignals(grey: { width: number; height: number }, maxFrames: number): { sink: (chunk: Buffer) => void; motion: number[]; structure: number[] } {
  const motion: number[] = [];
  const structure: number[] = [];
  const frameBytes = grey.width * grey.height;
  let pending = Buffer.alloc(frameBytes);
  let filled = 0;
  let previous: Float32Array | null = null;
  const sink = (chunk: Buffer) => {
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(frameBytes - filled, chunk.length - offset);
      chunk.copy(pending, filled, offset, offset + take);
      filled += take;
      offset += take;
      if (filled < frameBytes) continue;
      filled = 0;
      if (motion.length >= maxFrames) continue; // frames past the window's length (rounding at its end)
      const current = Float32Array.from(pending);
      motion.push(previous ? motionEnergy(previous, current) : NaN);
      structure.push(structureEnergy(current, grey.width, grey.height));
      previous = current;
      pending = Buffer.alloc(frameBytes);
    }
  };
  return { sink, motion, structure };
}
