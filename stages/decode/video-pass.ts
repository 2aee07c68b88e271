// One decode of a whole video for `clip.mode: scenes`, shared by scene detection and the clips.
// Scene windows are known only once the detector has seen the whole video, and decoding the
// video (every source frame, whatever the output rate) is most of the cost of both, so one
// ffmpeg process reads the video once and its filtergraph splits the picture:
//   pipe 5  the scene detector's frames (scene rate, small), pushed as they arrive;
//   stdout  the stored frames (the clip graph of clip-media.ts over the whole video), JPEG
//           encoded as they arrive and spooled to a file;
//   pipe 4  the analysis frames in grey, turned into motion and structure energy;
//   pipe 3  the audio as mono float PCM, spooled to a file.
// A clip is then a slice: its stored frames read back from the spool, its analysis frames'
// signals, its audio padded with silence. Memory holds offsets and a few numbers per frame,
// never the video's pictures or audio.
//
// The clips' frames lie on the video's own grid (analysis frame n at n / analysis fps), not on
// one starting at each window's start: a clip's first analysis frame is the first grid frame at
// or after its start (at most one analysis frame later), and its audio is cut around that frame,
// so picture and sound stay aligned as in a per-clip decode.
import { createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { DropError } from '../../core/stage.ts';
import type { VideoFrame } from '../../schemas/video.ts';
import { audioOutputArgs } from './audio-extract.ts';
import { clipFilterGraph, greySignals, storedFrameIndices } from './clip-media.ts';
import { encodeJpeg, framesFromFfmpeg, framesInWindow, outputSize, type RgbFrame } from './video-frames.ts';

/** Frames (or audio seconds) a whole-video output may lack at its end (rounding at the container's last frame). */
const TOLERATED_MISSING_FRAMES = 2;
const TOLERATED_AUDIO_SHORTFALL_S = 0.1;

export interface VideoPassRequest {
  ffmpegPath: string;
  file: string;
  durationS: number;
  /** Stored frames: rate, size and JPEG quality. */
  stored: { fps: number; width: number; height: number; jpegQuality: number };
  /** Rate of the motion signal (>= stored.fps); null: no motion signal. */
  analysisFps: number | null;
  audio: { sampleRate: number; streamDurationS?: number | null } | null;
  /** The scene detector's frames, handed to onFrame in order as ffmpeg writes them; null: none (the pass alone, as the bench measures it). */
  scene: { fps: number; width: number; height: number; onFrame: (frame: RgbFrame) => void } | null;
  /** Folder for the spool files (removed with it by the caller). */
  spoolDir: string;
  /** Names the spool files apart from other videos' in the same folder. */
  spoolName: string;
  signal?: AbortSignal;
}

/** What a clip window needs from the shared pass (the parts of a DecodedClip that come from decoding). */
export interface ClipSlice {
  frames: VideoFrame[];
  analysisFps: number;
  motion: Float64Array;
  structure: Float64Array;
  audio: { pcm: Float32Array; sampleRate: number; leadFrames: number } | null;
}

export interface ClipSliceRequest {
  start: number;
  end: number;
  /** Analysis frames of audio before the clip's first frame (at most; fewer near the video's start) and after its end. */
  leadFrames: number;
  trailFrames: number;
  /** Stored frames' media paths: `${name}@${time}.jpg`. */
  name: string;
}

interface SpooledFrame {
  time: number;
  /** Analysis frame index on the video's grid (stored frame index without a motion signal). */
  index: number;
  offset: number;
  length: number;
}

/** The decoded video: cut clips out of it with slice(). */
export class DecodedVideo {
  constructor(
    private readonly frames: SpooledFrame[],
    private readonly jpegFile: string,
    private readonly motion: number[],
    private readonly structure: number[],
    /** Frames per second of `index` (the analysis rate, or the stored rate without one). */
    private readonly gridFps: number,
    private readonly hasSignals: boolean,
    private readonly audio: { file: string; samples: number; sampleRate: number } | null,
  ) {}

  async slice(req: ClipSliceRequest): Promise<ClipSlice> {
    const fps = this.gridFps;
    const first = Math.ceil(req.start * fps - 1e-6);
    const count = framesInWindow(req.end - req.start, fps);
    const inside: SpooledFrame[] = [];
    for (let k = lowerBound(this.frames, first); k < this.frames.length && this.frames[k].index < first + count; k++) inside.push(this.frames[k]);
    const frames: VideoFrame[] = [];
    if (inside.length) {
      const handle = await open(this.jpegFile, 'r');
      try {
        for (const f of inside) frames.push({ time: f.time, image: { bytes: await readAt(handle, f.offset, f.length), path: `${req.name}@${f.time.toFixed(3)}.jpg` } });
      } finally {
        await handle.close();
      }
    }
    if (frames.length === 0) throw new DropError('decode_failed', `no frames in the window ${req.start.toFixed(2)}-${req.end.toFixed(2)} s`);
    const signal = (xs: number[]) => Float64Array.from(xs.slice(first, first + count));
    const motion = this.hasSignals ? signal(this.motion) : new Float64Array(0);
    if (motion.length) motion[0] = NaN; // no previous frame inside the clip, as in a per-clip decode
    const structure = this.hasSignals ? signal(this.structure) : new Float64Array(0);
    let audio: ClipSlice['audio'] = null;
    if (this.audio) {
      const lead = Math.min(req.leadFrames, first);
      const startS = (first - lead) / fps;
      const durationS = req.end - req.start + (lead + req.trailFrames) / fps;
      audio = { pcm: await this.readAudio(startS, durationS), sampleRate: this.audio.sampleRate, leadFrames: lead };
    }
    return { frames, analysisFps: fps, motion, structure, audio };
  }

  /** round(durationS * rate) samples from startS, silence past the spooled audio. */
  private async readAudio(startS: number, durationS: number): Promise<Float32Array> {
    const a = this.audio!;
    const from = Math.round(startS * a.sampleRate);
    const pcm = new Float32Array(Math.max(0, Math.round(durationS * a.sampleRate)));
    const available = Math.max(0, Math.min(pcm.length, a.samples - from));
    if (available > 0) {
      const handle = await open(a.file, 'r');
      try {
        const bytes = await readAt(handle, from * 4, available * 4);
        pcm.set(new Float32Array(bytes.buffer, bytes.byteOffset, available));
      } finally {
        await handle.close();
      }
    }
    return pcm;
  }
}

/** The first frame whose index is at least `index` (frames are in index order). */
function lowerBound(frames: SpooledFrame[], index: number): number {
  let lo = 0;
  let hi = frames.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid].index < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length); // fresh, so aligned for a Float32Array view
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, offset + done);
    if (bytesRead === 0) throw new Error(`spool file ended at ${offset + done} of ${offset + length} bytes`);
    done += bytesRead;
  }
  return out;
}

/** Decodes the whole video once: scene frames to req.scene.onFrame, the rest spooled for DecodedVideo.slice(). */
export async function decodeVideoOnce(req: VideoPassRequest): Promise<DecodedVideo> {
  const { stored, scene } = req;
  const analysisFps = req.analysisFps ?? stored.fps;
  const analysisFrames = framesInWindow(req.durationS, analysisFps);
  const indices = req.analysisFps === null ? null : storedFrameIndices(analysisFrames, analysisFps, stored.fps);
  const grey = req.analysisFps === null ? null : outputSize(stored.width, stored.height, Math.max(stored.width, stored.height) / 2);

  // The scene branch is the filter chain (and output options) of streamRgbFrames, so the detector sees the frames it would from its own decode.
  const clips = clipFilterGraph(scene ? '[pic]' : '[0:v:0]', { analysisFps, stored, grey, leadS: 0, durationS: req.durationS });
  const graph = scene ? `[0:v:0]split=2[scn][pic];[scn]fps=${scene.fps},scale=${scene.width}:${scene.height}:flags=area,setsar=1[scene];${clips}` : clips;
  const args = ['-v', 'error', '-i', req.file, '-filter_complex', graph];
  args.push('-map', '[stored]', '-vsync', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');

  // pipe 3 is always the audio, pipe 4 the grey frames and pipe 5 the scene frames; unused ones stay empty.
  const sideOutputs: ((chunk: Buffer) => void)[] = [];
  const base = path.join(req.spoolDir, req.spoolName);
  const audioFile = `${base}.f32`;
  const audioOut = req.audio ? createWriteStream(audioFile) : null;
  let audioBytes = 0;
  sideOutputs.push((chunk) => {
    audioBytes += chunk.length;
    audioOut?.write(chunk);
  });
  if (req.audio) args.push(...audioOutputArgs({ ffmpegPath: req.ffmpegPath, file: req.file, startS: 0, durationS: req.durationS, sampleRate: req.audio.sampleRate }, 'pipe:3'));
  const signals = grey ? greySignals(grey, analysisFrames) : null;
  sideOutputs.push(signals ? signals.sink : () => undefined);
  if (signals) args.push('-map', '[grey]', '-vsync', 'passthrough', '-f', 'rawvideo', 'pipe:4');
  const sceneExpected = scene ? framesInWindow(req.durationS, scene.fps) : 0;
  let sceneFrames = 0;
  // Thrown inside a pipe's data handler it would escape: kept, and thrown once the pass ends.
  let sceneError: unknown = null;
  if (scene) {
    sideOutputs.push(rawFrameSink(scene.width, scene.height, (rgb) => {
      if (sceneError !== null || sceneFrames >= sceneExpected + 5) return;
      try {
        scene.onFrame({ index: sceneFrames, time: sceneFrames / scene.fps, width: scene.width, height: scene.height, rgb });
      } catch (err) {
        sceneError = err;
      }
      sceneFrames += 1;
    }));
    args.push('-map', '[scene]', '-t', req.durationS.toFixed(6), '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:5');
  }

  const jpegFile = `${base}.jpegs`;
  const jpegOut = createWriteStream(jpegFile);
  const frames: SpooledFrame[] = [];
  let offset = 0;
  const frameReq = {
    ffmpegPath: req.ffmpegPath,
    file: req.file,
    startS: 0,
    durationS: req.durationS,
    fps: stored.fps,
    width: stored.width,
    height: stored.height,
    signal: req.signal,
    ...(indices ? { expectedFrames: indices.length, timeOf: (k: number) => (indices[k] ?? indices.length) / analysisFps } : {}),
  };
  try {
    for await (const frame of framesFromFfmpeg(frameReq, args, { sideOutputs })) {
      if (indices && frame.index >= indices.length) continue;
      const jpeg = await encodeJpeg(frame, stored.jpegQuality);
      if (!jpegOut.write(jpeg)) await once(jpegOut, 'drain');
      frames.push({ time: frame.time, index: indices ? indices[frame.index] : frame.index, offset, length: jpeg.length });
      offset += jpeg.length;
    }
  } finally {
    jpegOut.end();
    audioOut?.end();
    await Promise.all([once(jpegOut, 'close'), audioOut ? once(audioOut, 'close') : null]);
  }
  if (sceneError !== null) throw sceneError;
  if (sceneFrames < sceneExpected - TOLERATED_MISSING_FRAMES) throw new DropError('decode_failed', `video gave ${sceneFrames} of ${sceneExpected} scene frames`);
  if (signals && signals.motion.length < analysisFrames - TOLERATED_MISSING_FRAMES) throw new DropError('decode_failed', `video gave ${signals.motion.length} of ${analysisFrames} analysis frames`);
  let audio: { file: string; samples: number; sampleRate: number } | null = null;
  if (req.audio) {
    const samples = Math.floor(audioBytes / 4);
    const available = req.audio.streamDurationS ? Math.min(req.durationS, req.audio.streamDurationS) : req.durationS;
    if (samples < (available - TOLERATED_AUDIO_SHORTFALL_S) * req.audio.sampleRate) throw new DropError('decode_failed', `audio ended after ${(samples / req.audio.sampleRate).toFixed(2)} s of ${available.toFixed(2)} s`);
    audio = { file: audioFile, samples, sampleRate: req.audio.sampleRate };
  }
  return new DecodedVideo(frames, jpegFile, signals?.motion ?? [], signals?.structure ?? [], analysisFps, signals !== null, audio);
}

/** A side-output sink cutting raw RGB into frames of width x height, each handed over in a fresh buffer. */
function rawFrameSink(width: number, height: number, onFrame: (rgb: Uint8Array) => void): (chunk: Buffer) => void {
  const frameBytes = width * height * 3;
  let pending = new Uint8Array(frameBytes);
  let filled = 0;
  return (chunk) => {
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(frameBytes - filled, chunk.length - offset);
      pending.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled < frameBytes) continue;
      onFrame(pending);
      pending = new Uint8Array(frameBytes);
      filled = 0;
    }
  };
}
