// Audio of one time window of a video, as mono float PCM at a fixed rate (for analysis) and as
// the bytes stored in a media struct: 16-bit PCM WAV, or FLAC encoded by ffmpeg from the same
// samples. A window the audio stream does not cover is padded with silence; one that ffmpeg
// cannot decode, or that ends far too early, is a DropError `decode_failed`.
import { DropError } from '../../core/stage.ts';
import { FfmpegError, inputSeekArgs, runFfmpeg } from './ffmpeg-run.ts';

export type AudioFormat = 'wav' | 'flac';

export interface AudioWindowRequest {
  ffmpegPath: string;
  file: string;
  /** Window start and length in seconds of the video's timeline. */
  startS: number;
  durationS: number;
  sampleRate: number;
  /** Seconds of audio the stream has (from the probe); beyond it silence is expected, not an error. */
  streamDurationS?: number | null;
  signal?: AbortSignal;
}

/** Samples missing at the end of a window that are still accepted (container rounding, short audio). */
const TOLERATED_SHORTFALL_S = 0.1;

/** Mono float PCM of exactly round(durationS * sampleRate) samples. */
export async function extractAudioPcm(req: AudioWindowRequest): Promise<Float32Array> {
  const wanted = Math.max(0, Math.round(req.durationS * req.sampleRate));
  const args = ['-v', 'error', ...inputSeekArgs(req.startS), '-i', req.file, ...audioOutputArgs(req, 'pipe:1')];
  let raw: Buffer;
  try {
    raw = await runFfmpeg(req.ffmpegPath, args, { signal: req.signal, maxBytes: wanted * 4 + 65536 });
  } catch (err) {
    if (err instanceof FfmpegError) throw new DropError('decode_failed', `audio: ${err.message}`);
    throw err;
  }
  return pcmWindow(raw, req);
}

/** The output options that write the window's audio (from the input's start) as mono f32le to `target`. */
export function audioOutputArgs(req: AudioWindowRequest, target: string): string[] {
  return ['-map', '0:a:0', '-vn', '-sn', '-dn', '-t', seconds(req.durationS), '-ac', '1', '-ar', String(req.sampleRate), '-f', 'f32le', target];
}

/**
 * ffmpeg's f32le output for the window as exactly round(durationS * sampleRate) samples, padded
 * with silence past the stream's end; far too few samples is a DropError `decode_failed`.
 */
export function pcmWindow(raw: Buffer, req: AudioWindowRequest): Float32Array {
  const wanted = Math.max(0, Math.round(req.durationS * req.sampleRate));
  const got = Math.floor(raw.length / 4);
  const available = req.streamDurationS ? Math.max(0, Math.min(req.durationS, req.streamDurationS - req.startS)) : req.durationS;
  const expected = Math.round(available * req.sampleRate);
  if (got < expected - TOLERATED_SHORTFALL_S * req.sampleRate) {
    throw new DropError('decode_failed', `audio ended after ${(got / req.sampleRate).toFixed(2)} s of a ${available.toFixed(2)} s window at ${req.startS.toFixed(2)} s`);
  }
  const pcm = new Float32Array(wanted);
  const copy = Math.min(got, wanted);
  // A Buffer may start at any byte offset; slicing its ArrayBuffer gives an aligned copy.
  pcm.set(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + copy * 4)));
  return pcm;
}

/** 16-bit PCM mono WAV (RIFF) bytes. */
export function encodeWav(pcm: Float32Array, sampleRate: number): Uint8Array {
  const dataBytes = pcm.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (offset: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[offset + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < pcm.length; i++) {
    const s = Math.max(-1, Math.min(1, pcm[i]));
    view.setInt16(44 + i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
  }
  return out;
}

/** FLAC bytes of the same samples, encoded by ffmpeg from the 16-bit WAV. */
async function encodeFlac(ffmpegPath: string, pcm: Float32Array, sampleRate: number, signal?: AbortSignal): Promise<Uint8Array> {
  const wav = encodeWav(pcm, sampleRate);
  return new Uint8Array(await runFfmpeg(ffmpegPath, ['-v', 'error', '-f', 'wav', '-i', 'pipe:0', '-c:a', 'flac', '-f', 'flac', 'pipe:1'], { stdin: wav, signal }));
}

export async function encodeAudio(format: AudioFormat, ffmpegPath: string, pcm: Float32Array, sampleRate: number, signal?: AbortSignal): Promise<Uint8Array> {
  return format === 'flac' ? encodeFlac(ffmpegPath, pcm, sampleRate, signal) : encodeWav(pcm, sampleRate);
}

/** Read back a 16-bit mono WAV written by encodeWav (tests, reports). */
export function decodeWav(bytes: Uint8Array): { sampleRate: number; pcm: Float32Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF WAVE file');
  let offset = 12;
  let sampleRate = 0;
  while (offset + 8 <= bytes.length) {
    const size = view.getUint32(offset + 4, true);
    if (tag(offset) === 'fmt ') {
      if (view.getUint16(offset + 8, true) !== 1 || view.getUint16(offset + 22, true) !== 16) throw new Error('only 16-bit PCM WAV is read');
      sampleRate = view.getUint32(offset + 12, true);
    } else if (tag(offset) === 'data') {
      const n = Math.floor(Math.min(size, bytes.length - offset - 8) / 2);
      const pcm = new Float32Array(n);
      for (let i = 0; i < n; i++) pcm[i] = view.getInt16(offset + 8 + i * 2, true) / 0x8000;
      return { sampleRate, pcm };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

function seconds(s: number): string {
  return Math.max(0, s).toFixed(6);
}
