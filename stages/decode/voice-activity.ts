// Voice-activity detection on mono PCM: where in an audio track someone speaks. Per 10 ms hop,
// a 32 ms Hann-windowed frame gives three features of the speech band (300-3400 Hz):
//   - band energy in dB, compared with an adaptive noise floor (a low percentile of the energy
//     over a sliding window of a few seconds), so steady noise or music raises the floor and
//     only what stands above it counts;
//   - spectral flatness of the band (geometric over arithmetic mean of the power spectrum):
//     near 1 for noise, low for voiced speech's harmonics;
//   - zero-crossing rate: fricatives (s, f, sh) are flat and cross zero often, so a loud enough
//     frame with a high rate passes even when flat.
// A frame is speech when its energy clears the floor by `threshold_db` and it is not noise-like;
// decisions are median-smoothed, held for a hangover, gaps shorter than `min_gap_s` are closed and
// bursts shorter than `min_speech_s` are dropped. Digital silence (below `min_energy_db` dBFS)
// is never speech.
import { fft } from './fft.ts';

export interface VadOptions {
  /** dB the band energy must stand above the adaptive noise floor. */
  threshold_db: number;
  /** Frames flatter than this are noise-like (unless fricative-like, see zcr). */
  max_flatness: number;
  /** Absolute floor (dBFS of the band energy): quieter frames are silence. */
  min_energy_db: number;
  /** Speech bursts shorter than this are dropped. */
  min_speech_s: number;
  /** Pauses shorter than this inside speech are closed. */
  min_gap_s: number;
  /** Speech is held this long after its last frame. */
  hangover_s: number;
  /** Sliding window of the noise floor, seconds. */
  floor_window_s: number;
}

export const DEFAULT_VAD: VadOptions = {
  threshold_db: 8,
  max_flatness: 0.45,
  min_energy_db: -60,
  min_speech_s: 0.12,
  min_gap_s: 0.18,
  hangover_s: 0.06,
  floor_window_s: 6,
};

export interface SpeechSegment {
  start: number;
  end: number;
}

export interface VadFrames {
  /** Seconds between frame centres. */
  hop: number;
  energyDb: Float64Array;
  flatness: Float64Array;
  zcr: Float64Array;
  floorDb: Float64Array;
  speech: Uint8Array;
}

const HOP_S = 0.01;
const BAND: [number, number] = [300, 3400];
const FRICATIVE_ZCR = 0.25;

/** The speech segments of `pcm`, seconds from its first sample. */
export function detectSpeech(pcm: Float32Array, sampleRate: number, opts: VadOptions = DEFAULT_VAD): SpeechSegment[] {
  return segmentsOf(vadFrames(pcm, sampleRate, opts), opts);
}

export function vadFrames(pcm: Float32Array, sampleRate: number, opts: VadOptions = DEFAULT_VAD): VadFrames {
  const hop = Math.round(HOP_S * sampleRate);
  let n = 1;
  while (n < 0.032 * sampleRate) n <<= 1;
  const frames = Math.max(0, Math.floor((pcm.length - n) / hop) + 1);
  const window = Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  const lo = Math.max(1, Math.floor((BAND[0] * n) / sampleRate));
  const hi = Math.min(n / 2, Math.ceil((BAND[1] * n) / sampleRate));
  const energyDb = new Float64Array(frames);
  const flatness = new Float64Array(frames);
  const zcr = new Float64Array(frames);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const windowPower = window.reduce((a, w) => a + w * w, 0);
  for (let f = 0; f < frames; f++) {
    const at = f * hop;
    let crossings = 0;
    for (let i = 0; i < n; i++) {
      re[i] = pcm[at + i] * window[i];
      im[i] = 0;
      if (i > 0 && (pcm[at + i] >= 0) !== (pcm[at + i - 1] >= 0)) crossings++;
    }
    fft(re, im);
    let sum = 0;
    let logSum = 0;
    for (let k = lo; k <= hi; k++) {
      const p = re[k] * re[k] + im[k] * im[k] + 1e-20;
      sum += p;
      logSum += Math.log(p);
    }
    const bins = hi - lo + 1;
    // Power per sample of the band, relative to a full-scale sine (0 dBFS).
    energyDb[f] = 10 * Math.log10((2 * sum) / (windowPower * n) / 0.5 + 1e-12);
    flatness[f] = Math.exp(logSum / bins) / (sum / bins);
    zcr[f] = crossings / (n - 1);
  }
  const floorDb = noiseFloor(energyDb, Math.round(opts.floor_window_s / HOP_S), opts.min_energy_db);
  const raw = new Uint8Array(frames);
  for (let f = 0; f < frames; f++) {
    const margin = energyDb[f] - floorDb[f];
    const loud = energyDb[f] > opts.min_energy_db && margin > opts.threshold_db;
    const voiced = flatness[f] < opts.max_flatness;
    const fricative = zcr[f] > FRICATIVE_ZCR && margin > opts.threshold_db + 6;
    raw[f] = loud && (voiced || fricative) ? 1 : 0;
  }
  return { hop: HOP_S, energyDb, flatness, zcr, floorDb, speech: median5(raw) };
}

/**
 * Noise floor per frame: the 10th percentile of the energy within +-window/2, taken every half
 * second and interpolated between. Where most of a window is speech the floor sits in its pauses.
 */
function noiseFloor(energyDb: Float64Array, window: number, minDb: number): Float64Array {
  const n = energyDb.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const step = 50;
  const anchors: number[] = [];
  for (let c = 0; c < n + step; c += step) {
    const a = Math.max(0, Math.min(n - 1, c) - (window >> 1));
    const b = Math.min(n, a + window);
    const slice = Array.from(energyDb.subarray(a, b)).sort((x, y) => x - y);
    anchors.push(Math.max(minDb, slice[Math.floor(slice.length * 0.1)]));
  }
  for (let f = 0; f < n; f++) {
    const k = Math.floor(f / step);
    const t = (f - k * step) / step;
    out[f] = anchors[k] + (anchors[Math.min(anchors.length - 1, k + 1)] - anchors[k]) * t;
  }
  return out;
}

function median5(x: Uint8Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let s = 0;
    let c = 0;
    for (let k = i - 2; k <= i + 2; k++) if (k >= 0 && k < x.length) (s += x[k]), c++;
    out[i] = 2 * s > c ? 1 : 0;
  }
  return out;
}

/** Runs of speech frames, with hangover, short gaps closed and short bursts dropped. */
export function segmentsOf(frames: VadFrames, opts: VadOptions): SpeechSegment[] {
  const { speech, hop } = frames;
  const half = 0.016; // frame centre offset: a frame starting at f*hop covers ~32 ms
  const runs: SpeechSegment[] = [];
  let from = -1;
  for (let f = 0; f <= speech.length; f++) {
    const on = f < speech.length && speech[f] === 1;
    if (on && from < 0) from = f;
    if (!on && from >= 0) {
      runs.push({ start: from * hop + half - hop / 2, end: (f - 1) * hop + half + hop / 2 + opts.hangover_s });
      from = -1;
    }
  }
  const merged: SpeechSegment[] = [];
  for (const r of runs) {
    const last = merged.at(-1);
    if (last && r.start - last.end < opts.min_gap_s) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  const end = speech.length * hop + 0.032;
  return merged.filter((s) => s.end - s.start >= opts.min_speech_s).map((s) => ({ start: round3(Math.max(0, s.start)), end: round3(Math.min(end, s.end)) }));
}


const round3 = (x: number) => Math.round(x * 1000) / 1000;
