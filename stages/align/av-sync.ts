// Audio-visual offset of a clip, from onsets on both sides: the instants something starts.
//
// Visual onsets: the half-wave-rectified rise of motion energy (mean absolute grey difference
// to the previous frame). A flash that appears makes motion energy jump; its fade makes it fall
// (no onset); steady motion keeps it flat (no onset). Something that appears and later
// vanishes makes two equal jumps; the structure energy (outlines in the frame) rises with the
// first and falls with the second, so the second is down-weighted. Audio onsets: the half-wave-rectified
// spectral flux (rise of the log-magnitude spectrum, summed over frequencies), above a threshold
// relative to the clip's typical flux, so that steady noise and sustained sounds give nothing
// after their start, and a sound starting between two frames still lands in the interval of
// the frame at or before it. Both signals of the same kind, so they can be compared directly.
//
// For every shift in -vshift..+vshift frames the two onset signals are correlated (Pearson) over
// their overlap; the distance is 1 - r. The offset is the best shift, refined to a fraction of a
// frame by a parabola through the correlation at the best shift and its two neighbours.
//
// Confidence: an offset can be trusted when the correlation peak stands out from the rest of
// the curve. It is the margin of the best peak over the second-best one (the highest
// correlation at least 2 frames away, or at any shift far outside the search with the audio
// wrapped around: what luck alone reaches) combined with the peak height; see
// calibratedSyncConfidence.
// Clips where either side has fewer than MIN_EVENTS onsets (silence, no motion) have nothing to
// align and get confidence 0.
//
// Sign: a positive offset means the audio lags the picture (an event seen at t is heard at
// t + offset). Shifting the audio window by +offset puts it back in sync.
import { fft } from '../decode/fft.ts';

export interface AvSyncResult {
  /** Best whole-frame shift. */
  offsetFrames: number;
  /** The offset refined to a fraction of a frame, in ms. */
  offsetMs: number;
  /** 0 to 1; see calibratedSyncConfidence. */
  confidence: number;
  /** Distance (1 - correlation of the onsets) at each shift, from -vshift to +vshift. */
  distances: number[];
  minDistance: number;
  medianDistance: number;
  /** Best correlation minus the best one at least 2 frames away or at a chance shift (0 when nothing was measured). */
  peakMargin: number;
}



/** Weight of a motion onset during which structure energy falls (a disappearance, usually silent). */
export const DISAPPEARANCE_WEIGHT = 0.25;

/** Motion energy up to this many grey levels is sensor and compression noise, not an event. */
export const MOTION_NOISE_FLOOR = 1;

/**
 * Visual onsets from per-frame motion energy (NaN where a frame has none, e.g. the first):
 * the rise over the previous frame, less the noise floor, rectified. NaN stays NaN. With the
 * per-frame structure energy, an onset during which structure falls (something vanished)
 * weighs DISAPPEARANCE_WEIGHT: sounds start with things that appear or start moving.
 */
export function visualOnsets(motion: ArrayLike<number>, structure?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(motion.length);
  for (let k = 0; k < motion.length; k++) {
    const m = motion[k];
    if (Number.isNaN(m)) {
      out[k] = NaN;
      continue;
    }
    const before = k > 0 && !Number.isNaN(motion[k - 1]) ? motion[k - 1] : 0;
    out[k] = Math.max(0, m - before - MOTION_NOISE_FLOOR);
    if (structure && k > 0 && out[k] > 0 && structure[k] < structure[k - 1]) out[k] *= DISAPPEARANCE_WEIGHT;
  }
  return out;
}

const FFT_SIZE = 512;
/**
 * Where in its window a short-time spectrum's flux is placed in time, as a fraction of the
 * window: a sound starting at t raises the flux most in the window that ends about a third of a
 * window after t (where the Hann taper has let it in), so that window is placed at about t.
 */
const ONSET_POSITION = 0.65;
/** Magnitudes below this (full scale 1) count as this: digital silence makes no flux. */
const MAGNITUDE_FLOOR = 1e-4;
/** Onset threshold: the clip's median flux plus this many robust standard deviations of it... */
const FLUX_SPREADS = 5;
/** ...and at least this many times the median flux. */
const FLUX_MIN_RATIO = 1.3;

/**
 * Audio onset strength per frame: bin j covers the interval ((j - 1) / fps, j / fps], the sounds
 * that start after frame j - 1 was taken and by the time frame j was, so that a sound starting
 * between two frames lines up with the first frame that can show its cause. Each bin holds the
 * largest spectral flux of the short-time spectra (512-sample Hann windows, hop a quarter of
 * that or less) placed in it (see ONSET_POSITION), less the threshold described below,
 * rectified. Bin 0 gets 0.
 */
export function audioOnsetEnvelope(pcm: Float32Array, sampleRate: number, fps: number): Float64Array {
  const binLength = sampleRate / fps;
  const bins = Math.floor(pcm.length / binLength);
  const hop = Math.max(1, Math.min(FFT_SIZE / 4, Math.floor(binLength / 2)));
  const frames = Math.max(0, Math.floor((pcm.length - FFT_SIZE) / hop) + 1);
  const window = new Float64Array(FFT_SIZE);
  for (let n = 0; n < FFT_SIZE; n++) window[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / FFT_SIZE);
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  const half = FFT_SIZE / 2;
  const bands = bandEdges(sampleRate);
  let previous: Float64Array | null = null;
  const flux = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    const start = f * hop;
    for (let n = 0; n < FFT_SIZE; n++) {
      re[n] = pcm[start + n] * window[n];
      im[n] = 0;
    }
    fft(re, im);
    // Log energy per band: a band averages several bins, so its level is steadier than a
    // single bin's under noise, and an onset confined to a few bins (a note) still moves its band.
    const logBand = new Float64Array(bands.length - 1);
    for (let b = 0; b + 1 < bands.length; b++) {
      let e = 0;
      for (let k = bands[b]; k < bands[b + 1]; k++) e += re[k] * re[k] + im[k] * im[k];
      logBand[b] = 0.5 * Math.log(Math.max(MAGNITUDE_FLOOR * MAGNITUDE_FLOOR, e / ((bands[b + 1] - bands[b]) * half * half)));
    }
    if (previous) {
      let sum = 0;
      for (let b = 0; b < logBand.length; b++) {
        const d = logBand[b] - previous[b];
        if (d > 0) sum += d;
      }
      flux[f] = sum / logBand.length;
    }
    previous = logBand;
  }
  // Steady sound (noise, hum) gives a flux that hardly varies from window to window; an onset
  // stands far above it. The threshold is the clip's median flux plus FLUX_SPREADS robust
  // standard deviations (1.4826 x the median absolute deviation), and at least FLUX_RATIO x the
  // median, so that a clip of pure steady noise has no onsets at all.
  const sorted = Float64Array.from(flux).sort();
  const med = sorted.length ? sorted[sorted.length >> 1] : 0;
  const deviations = Float64Array.from(flux, (x) => Math.abs(x - med)).sort();
  const spread = 1.4826 * (deviations.length ? deviations[deviations.length >> 1] : 0);
  const threshold = Math.max(med + FLUX_SPREADS * spread, FLUX_MIN_RATIO * med) + 1e-9;
  const onset = new Float64Array(bins);
  for (let f = 1; f < frames; f++) {
    const j = Math.ceil((f * hop + FFT_SIZE * ONSET_POSITION) / binLength);
    if (j < 1 || j >= bins) continue;
    const v = flux[f] - threshold;
    if (v > onset[j]) onset[j] = v;
  }
  return onset;
}

/** Bin edges of BANDS bands spaced evenly in log frequency from 100 Hz to Nyquist (each at least one bin wide). */
function bandEdges(sampleRate: number): number[] {
  const half = FFT_SIZE / 2;
  const binHz = sampleRate / FFT_SIZE;
  const edges = [Math.max(1, Math.round(100 / binHz))];
  const ratio = Math.pow(sampleRate / 2 / 100, 1 / BANDS);
  for (let b = 1; b <= BANDS; b++) {
    const k = Math.min(half, Math.round((100 * Math.pow(ratio, b)) / binHz));
    if (k > edges[edges.length - 1]) edges.push(k);
  }
  if (edges[edges.length - 1] < half) edges.push(half);
  return edges;
}

const BANDS = 24;


export interface AvOffsetInput {
  /** Per-frame motion energy; NaN marks frames to leave out (the first frame has no motion energy). */
  visual: ArrayLike<number>;
  /** Per-frame structure energy (structureEnergy), same length; optional. */
  structure?: ArrayLike<number>;
  /** Per-frame audio onsets on the same grid (audioOnsetEnvelope); its bin `audioLead` lines up with visual frame 0. */
  audio: ArrayLike<number>;
  /** Audio bins before the clip's first frame (padding that lets negative shifts overlap fully). */
  audioLead: number;
  fps: number;
  vshift: number;
}

/** Fewer overlapping frames than this make a shift's distance 1 (unknown). */
const MIN_OVERLAP = 8;
/**
 * A clip needs at least this many visual and audio onsets to be aligned: one or two spikes line
 * up with something at some shift by chance, so such clips get confidence 0.
 */
export const MIN_EVENTS = 3;
/** A second peak must lie at least this many frames from the best shift. */
const PEAK_SEPARATION = 2;

export function estimateAvOffset({ visual: motion, structure, audio, audioLead, fps, vshift }: AvOffsetInput): AvSyncResult {
  const visual = visualOnsets(motion, structure);
  const events = (xs: ArrayLike<number>) => Array.from(xs).filter((x) => x > 0).length;
  const shifts = 2 * vshift + 1;
  if (events(visual) < MIN_EVENTS || events(audio) < MIN_EVENTS) {
    return { offsetFrames: 0, offsetMs: 0, confidence: 0, distances: Array.from({ length: shifts }, () => 1), minDistance: 1, medianDistance: 1, peakMargin: 0 };
  }
  const correlations: number[] = [];
  for (let shift = -vshift; shift <= vshift; shift++) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < visual.length; k++) {
      const j = k + audioLead + shift;
      if (j < 0 || j >= audio.length || Number.isNaN(visual[k])) continue;
      xs.push(visual[k]);
      ys.push(audio[j]);
    }
    correlations.push(xs.length >= MIN_OVERLAP ? pearson(xs, ys) : 0);
  }
  let best = 0;
  for (let i = 1; i < shifts; i++) if (correlations[i] > correlations[best]) best = i;
  let second = -1;
  for (let i = 0; i < shifts; i++) if (Math.abs(i - best) >= PEAK_SEPARATION && correlations[i] > second) second = correlations[i];
  // Chance peaks: the same onsets correlated at shifts far outside the search (the clip's audio
  // wrapped around), where nothing can line up but by luck. With few events a chance peak can
  // be as high as a real one; the margin is measured over these too.
  second = Math.max(second, chancePeak(visual, audio, audioLead, vshift));
  const peak = correlations[best];
  const peakMargin = Math.max(0, peak - Math.max(0, second));
  // Sub-frame refinement: the vertex of the parabola through the peak and its neighbours.
  let fraction = 0;
  if (best > 0 && best < shifts - 1) {
    const a = correlations[best - 1];
    const c = correlations[best + 1];
    const curvature = a - 2 * peak + c;
    if (curvature < 0) fraction = Math.max(-0.5, Math.min(0.5, (a - c) / (2 * curvature)));
  }
  const offsetFrames = best - vshift;
  const distances = correlations.map((r) => 1 - r);
  return {
    offsetFrames,
    offsetMs: ((offsetFrames + fraction) * 1000) / fps,
    confidence: calibratedSyncConfidence(peak, peakMargin),
    distances,
    minDistance: 1 - peak,
    medianDistance: median(distances),
    peakMargin,
  };
}

/** Highest correlation of the onsets with the clip's audio circularly shifted by more than vshift + PEAK_SEPARATION frames. */
function chancePeak(visual: Float64Array, audio: ArrayLike<number>, audioLead: number, vshift: number): number {
  const n = visual.length;
  const aligned = Float64Array.from({ length: n }, (_, k) => (k + audioLead < audio.length ? audio[k + audioLead] : 0));
  let peak = -1;
  const far = vshift + PEAK_SEPARATION;
  for (let s = far; s <= n - far; s++) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < n; k++) {
      if (Number.isNaN(visual[k])) continue;
      xs.push(visual[k]);
      ys.push(aligned[(k + s) % n]);
    }
    if (xs.length >= MIN_OVERLAP) peak = Math.max(peak, pearson(xs, ys));
  }
  return peak;
}

/**
 * Confidence in [0, 1] from the peak correlation and its margin over the second peak: a true
 * offset correlates the onsets well (peak) and no other shift comes close (margin). Fitted on
 * the fixture family of scripts/eval-av-sync.ts so that the default min_confidence separates
 * right offsets from wrong ones; docs/video.md gives the measured separation.
 */
export function calibratedSyncConfidence(peak: number, margin: number): number {
  return Math.max(0, Math.min(1, Math.sqrt(Math.max(0, peak) * margin) / SYNC_CONFIDENCE_SCALE));
}

const SYNC_CONFIDENCE_SCALE = 0.5;

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
