// Audio-visual offset of a clip, SyncNet-style but on measured signals: a per-frame visual
// signal (motion energy: mean absolute grey difference to the previous frame) against an audio
// onset envelope (rise in log short-time energy, one bin per frame interval). For every shift
// in -vshift..+vshift frames the two are compared over their overlap; the distance is
// 1 - Pearson correlation, so 0 is a perfect match and 1 is no relation. offset = argmin
// distance, confidence = median - min of the distance curve (as SyncNet), in [0, 2].
//
// Sign: a positive offset means the audio lags the picture (an event seen at t is heard at
// t + offset). Shifting the audio window by +offset puts it back in sync.

export interface AvSyncResult {
  offsetFrames: number;
  offsetMs: number;
  confidence: number;
  /** Distance at each shift, from -vshift to +vshift. */
  distances: number[];
  minDistance: number;
  medianDistance: number;
}

/** Grey levels (0-255) of every `step`-th pixel in both directions; enough for motion energy. */
export function greyOf(rgb: Uint8Array, width: number, height: number, step = 2): Float32Array {
  const cols = Math.ceil(width / step);
  const rows = Math.ceil(height / step);
  const grey = new Float32Array(cols * rows);
  let o = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x < width; x += step) {
      const i = (y * width + x) * 3;
      grey[o++] = 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
    }
  }
  return grey;
}

/**
 * Rises in log energy below this (in nats, about 20 %) are the ripple of steady sound, not
 * onsets; without the cut, steady noise would correlate by chance with sparse visual events.
 */
const ONSET_MIN_RISE = 0.2;

/**
 * Onset strength per frame interval: bin j covers samples [j * sr / fps, (j + 1) * sr / fps).
 * The value is the rise in log energy from the previous bin beyond ONSET_MIN_RISE, else 0
 * (bin 0 gets 0).
 */
export function audioOnsetEnvelope(pcm: Float32Array, sampleRate: number, fps: number): Float64Array {
  const hop = sampleRate / fps;
  const bins = Math.floor(pcm.length / hop);
  const energy = new Float64Array(bins);
  let total = 0;
  for (let j = 0; j < bins; j++) {
    const a = Math.floor(j * hop);
    const b = Math.floor((j + 1) * hop);
    let e = 0;
    for (let i = a; i < b; i++) e += pcm[i] * pcm[i];
    energy[j] = e / Math.max(1, b - a);
    total += energy[j];
  }
  // A floor relative to the clip's mean energy keeps near-silent noise from making huge log jumps.
  const floor = 1e-3 * (total / Math.max(1, bins)) + 1e-12;
  const onset = new Float64Array(bins);
  for (let j = 1; j < bins; j++) onset[j] = Math.max(0, Math.log(energy[j] + floor) - Math.log(energy[j - 1] + floor) - ONSET_MIN_RISE);
  return onset;
}

export interface AvOffsetInput {
  /** Per-frame visual signal; NaN marks frames to leave out (the first frame has no motion energy). */
  visual: ArrayLike<number>;
  /** Per-frame audio signal on the same grid; its bin `audioLead` lines up with visual frame 0. */
  audio: ArrayLike<number>;
  /** Audio bins before the clip's first frame (padding that lets negative shifts overlap fully). */
  audioLead: number;
  fps: number;
  vshift: number;
}

/** Fewer overlapping frames than this make a shift's distance 1 (unknown). */
const MIN_OVERLAP = 8;
/** Motion energy up to this many grey levels is sensor and compression noise, not an event. */
const MOTION_NOISE_FLOOR = 1;
/**
 * A clip needs at least this many visual events and audio onsets to be aligned: one or two
 * spikes line up with something at some shift by chance, so such clips get confidence 0.
 */
export const MIN_EVENTS = 3;

export function estimateAvOffset({ visual: rawVisual, audio, audioLead, fps, vshift }: AvOffsetInput): AvSyncResult {
  const visual = Array.from(rawVisual, (v) => (Number.isNaN(v) ? NaN : Math.max(0, v - MOTION_NOISE_FLOOR)));
  const events = (xs: ArrayLike<number>) => Array.from(xs).filter((x) => x > 0).length;
  if (events(visual) < MIN_EVENTS || events(audio) < MIN_EVENTS) {
    const distances = Array.from({ length: 2 * vshift + 1 }, () => 1);
    return { offsetFrames: 0, offsetMs: 0, confidence: 0, distances, minDistance: 1, medianDistance: 1 };
  }
  const distances: number[] = [];
  for (let shift = -vshift; shift <= vshift; shift++) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < visual.length; k++) {
      const j = k + audioLead + shift;
      if (j < 0 || j >= audio.length || Number.isNaN(visual[k])) continue;
      xs.push(visual[k]);
      ys.push(audio[j]);
    }
    distances.push(xs.length >= MIN_OVERLAP ? 1 - pearson(xs, ys) : 1);
  }
  let best = 0;
  for (let i = 1; i < distances.length; i++) if (distances[i] < distances[best]) best = i;
  const minDistance = distances[best];
  const medianDistance = median(distances);
  const offsetFrames = best - vshift;
  return { offsetFrames, offsetMs: (offsetFrames * 1000) / fps, confidence: medianDistance - minDistance, distances, minDistance, medianDistance };
}

/** Pearson correlation; 0 when either side is constant (nothing to align). */
function pearson(xs: number[], ys: number[]): number {
  const n = xs.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx;
    const dy = ys[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const denom = Math.sqrt(sxx * syy);
  return denom > 1e-12 ? sxy / denom : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
