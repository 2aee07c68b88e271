// Scene boundaries of one video from small analysis frames: hard cuts, fades through black and
// dissolves, each with its span and score. Frames stream in (`push`); only a short ring of
// recent frames' features is kept, plus a few numbers per frame and window, so memory stays
// small on long videos. Frames are compared on three scales: the fine frame (hue on the circle
// weighted by chroma, so it counts for nothing near black, white and grey; saturation weighted
// by brightness; brightness), 8 px block means of it (noise and moving texture average out),
// and a colour histogram (blind to where things are, so motion hardly moves it).
// `finish()` decides on the whole series:
//   1. fades: the mean luma dips under `fadeFloor` with a ramp down and/or up around the dip
//      (or the dip touches the start or end of the video), and the darkest frame is black or the
//      picture dimmed (its contrast falls with its brightness; a flat dark field is no fade); the
//      ramps are the span;
//   2. hard cuts, on any scale: a frame's difference to the previous one is `ratio` times the
//      mean of its two neighbours on each side (PySceneDetect's AdaptiveDetector, so sustained
//      motion does not cut) and at least `threshold`; a jump that comes back within a few
//      frames, or that brings back a frame from just before, is a flash, not a cut;
//   3. dissolves: histograms of frames a window apart (0.6, 1.4, 2.4 s) differ twice as much
//      across the transition as frames that far apart in the stretches around it, the frame
//      halfway is close to a mix of the two ends, and no cut, fade or flash lies inside; then the
//      span's middle frames must each be one alpha's per-pixel mix of its end frames with alpha
//      in [0, 1] (a recolouring overshoots), and one global shift and zoom per frame step must not
//      explain most of the change (a pan over a gradient or a zoom is a mix of its ends too).
// With `model` (scene-boundary-model.ts), steps 2 and 3 take looser candidates and a small
// learned classifier accepts or rejects each from the same signals as features, and for hard-cut
// candidates also from their frames' difference after the best global shift (a shaken or panned
// frame matches its neighbour once shifted, a cut does not); a candidate whose colour histogram
// jumps and comes back within a few frames is a flash there too (a coloured or half-frame flash
// in a fast pan, zoom or rotation, whose pixels move on); fades keep step 1.
import type { RgbFrame } from '../decode/video-frames.ts';
import { predict, selectFeatures, type BoundaryModel } from './scene-boundary-model.ts';

export type BoundaryType = 'hard' | 'fade' | 'dissolve';

export interface SceneBoundary {
  type: BoundaryType;
  /** Seconds. Hard cuts: start = end = the first frame of the new shot. Transitions: the last
   *  frame before the change and the first after it, so [start, end] holds every mixed frame. */
  start: number;
  end: number;
  /** Hard: content difference over the neighbours' mean; fade: 1 - darkest / level before and
   *  after; dissolve: difference of the frames around it (0-255 scale). */
  score: number;
}

export interface SceneDetectorOptions {
  /** Analysis frames per second (frames pushed are this far apart). */
  fps: number;
  /** Minimum content difference (0-255 scale) of a hard cut. */
  threshold: number;
  /** A hard cut's difference over the mean of its `window` neighbours on each side. */
  ratio: number;
  /** Mean luma (0-255) under which a frame counts as black for fades. */
  fadeFloor: number;
  /** No hard cut within this many seconds of the previous boundary (or the start). */
  minSceneS: number;
  /** When given, hard-cut and dissolve candidates (found with looser gates than the rules') are
   *  accepted or rejected by this learned classifier instead of the hand rules; fades keep their rule. */
  model?: BoundaryModel;
}

/** A possible hard cut on frame `index` and its features (HARD_FEATURES). */
export interface HardCandidate {
  index: number;
  score: number;
  /** The rule that would mark it a flash on some scale. */
  flash: boolean;
  features: number[];
}

/** A possible dissolve over frames [first, last] and its features (DISSOLVE_FEATURES); `step`: the hard cut it is when its change is one frame step. */
export interface DissolveCandidate {
  first: number;
  last: number;
  score: number;
  step: { index: number; score: number } | null;
  features: number[];
}

export const HARD_FEATURES = ['log_diff', 'log_ratio', 'log_diff_blocks', 'log_ratio_blocks', 'log_diff_hist', 'log_ratio_hist', 'flash', 'flash_blocks', 'across_over_step', 'log_peak', 'luma_before', 'luma_after', 'luma_change', 'fade_near', 'early', 'log_shifted', 'shifted_share', 'log_ratio_shifted', 'flash_shifted', 'flash_hist'];
export const DISSOLVE_FEATURES = ['log_hist_distance', 'log_ratio', 'halfway_residual', 'mix_residual', 'alpha_outside', 'motion_explained', 'motion_unknown', 'log_variance_dip', 'span_s', 'window_s', 'alpha_monotone', 'alpha_off_line', 'log_calm', 'log_busy', 'log_inside', 'min_luma', 'step_share', 'one_step', 'orientation_similarity', 'log_end_motion_over_mix', 'straightness', 'straightness_blocks', 'step_spread', 'step_along_ends'];
/** The candidate gates of the learned path: shares of the rules' threshold and ratio (hard cuts), and the dissolve ratio. */
const LOOSE_THRESHOLD = 0.5;
const LOOSE_RATIO = 0.6;
const LOOSE_DISSOLVE_RATIO = 1.3;

/** Neighbours on each side of the adaptive score (PySceneDetect's window_width). */
const ADAPTIVE_WINDOW = 2;
/** Side of the blocks whose means make the coarse frames (8 px of a 64 px analysis frame). */
const BLOCK = 8;
/** Frames after a candidate cut within which a flash must come back (white frames, muzzle flashes). */
const FLASH_FRAMES = 3;
/** A change counts as having come back when the frame before it and one after differ by less than this share of the jump. */
const FLASH_RETURN = 0.35;
/** Dissolve windows in seconds: short and long transitions. */
const DISSOLVE_WINDOWS_S = [0.6, 1.4, 2.4];
/** A dissolve's histogram distance across it (0-100), and that over the same distance in the stretches before and after. */
const DISSOLVE_MIN_DIFF = 25;
const DISSOLVE_MIN_RATIO = 2;
/** The frame halfway through a dissolve is a mix of the pictures at its ends; what is left of it after the best mix, over their difference. */
const DISSOLVE_MAX_RESIDUAL = 0.6;
/** A dissolve candidate of at most this many frame steps whose largest step carries this share of the span's change is a hard cut. */
const STEP_SPAN = 3;
const STEP_SHARE = 0.6;
/** ... or, when the change is spread by motion on one side, it is the ratio times the calm side's mean and this much over the busy side's largest. */
const STEP_PEAK = 1.2;
/** A fade's darkest frame is black (mean luma at most this share of fadeFloor), or keeps at least this share of the contrast its dimming would leave. */
const FADE_BLACK = 0.6;
const FADE_MIN_CONTRAST = 0.3;
/** Chroma (max - min of RGB) at which hue counts fully; brightness at which saturation does. */
const FULL_HUE_CHROMA = 48;
const SAT_DARK = 24;
const SAT_FULL = 72;

/** Compact per-pixel features of one analysis frame. */
interface FrameFeatures {
  hue: Uint8Array; // 0..179
  sat: Uint8Array;
  val: Uint8Array;
  hueWeight: Uint8Array; // 0..255
  satWeight: Uint8Array;
}

export function frameFeatures(rgb: Uint8Array): FrameFeatures & { meanLuma: number; lumaSd: number } {
  const n = rgb.length / 3;
  const f = { hue: new Uint8Array(n), sat: new Uint8Array(n), val: new Uint8Array(n), hueWeight: new Uint8Array(n), satWeight: new Uint8Array(n), meanLuma: 0, lumaSd: 0 };
  let luma = 0;
  let lumaSq = 0;
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    const r = rgb[i];
    const g = rgb[i + 1];
    const b = rgb[i + 2];
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const delta = max - min;
    let h = 0;
    if (delta > 0) {
      if (max === r) h = (60 * (g - b)) / delta;
      else if (max === g) h = 120 + (60 * (b - r)) / delta;
      else h = 240 + (60 * (r - g)) / delta;
      if (h < 0) h += 360;
    }
    f.hue[p] = Math.round(h / 2) % 180;
    f.sat[p] = max === 0 ? 0 : Math.round((255 * delta) / max);
    f.val[p] = max;
    const bright = Math.min(1, Math.max(0, (max - SAT_DARK) / (SAT_FULL - SAT_DARK)));
    f.hueWeight[p] = Math.round(255 * Math.min(bright, delta / FULL_HUE_CHROMA));
    f.satWeight[p] = Math.round(255 * bright);
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    luma += y;
    lumaSq += y * y;
  }
  f.meanLuma = n ? luma / n : 0;
  f.lumaSd = n ? Math.sqrt(Math.max(0, lumaSq / n - f.meanLuma ** 2)) : 0;
  return f;
}

/**
 * Content difference of two frames (0-255 scale): the mean of hue (circular distance, doubled to
 * span 0-180, weighted by the smaller chroma weight), saturation (weighted by the smaller
 * brightness weight) and brightness differences.
 */
export function contentDifference(a: FrameFeatures, b: FrameFeatures): number {
  const n = a.val.length;
  if (n === 0 || b.val.length !== n) return 0;
  let dh = 0;
  let ds = 0;
  let dv = 0;
  for (let p = 0; p < n; p++) {
    let h = Math.abs(a.hue[p] - b.hue[p]);
    if (h > 90) h = 180 - h;
    dh += 2 * h * Math.min(a.hueWeight[p], b.hueWeight[p]);
    ds += Math.abs(a.sat[p] - b.sat[p]) * Math.min(a.satWeight[p], b.satWeight[p]);
    dv += Math.abs(a.val[p] - b.val[p]);
  }
  return (dh / 255 + ds / 255 + dv) / (3 * n);
}

export class SceneDetector {
  private readonly ring: FrameFeatures[] = [];
  private readonly coarseRing: FrameFeatures[] = [];
  /** Like diffs, on block means (BLOCK px squares): noise and fine texture in motion average out, a picture change stays. */
  private readonly coarseDiffs = new Map<number, number[]>();
  /** Like diffs, on colour histograms (0-100): blind to where things are, so motion hardly moves them; dissolves and cuts do. */
  private readonly histRing: Float32Array[] = [];
  /** Block means (RGB) of recent frames, and per window: how far the frame halfway is from the best mix of the frames at its ends (0: a perfect mix). */
  private readonly blockRing: Uint8Array[] = [];
  private readonly mixResidual = new Map<number, number[]>();
  private readonly histDiffs = new Map<number, number[]>();
  private readonly lags: number[];
  private readonly windows: number[];
  /** diffs[lag][i]: difference between frame i - lag and frame i (NaN before the start). */
  private readonly diffs = new Map<number, number[]>();
  private readonly luma: number[] = [];
  /** Standard deviation of each frame's luma: a fade scales it down with the brightness. */
  private readonly lumaSd: number[] = [];
  private readonly times: number[] = [];
  /** Analysis frames (RGB) of the last 3 * longest window + 1 frames: a dissolve candidate's span is fitted as a mix of its ends once the stretch after it (which its ratio to its surroundings needs) is in. */
  private readonly pixelRing: Uint8Array[] = [];
  /** Mix fits of dissolve candidates, by window and peak frame (`w:i`). */
  private readonly mixFits = new Map<string, MixFit>();
  /** Structure features of fitted spans, by first and last frame (`first:last`). */
  private readonly spanStructure = new Map<string, Pick<MixFit, 'orientationSimilarity' | 'endMotionOverMix' | 'straightness' | 'straightnessBlocks' | 'stepSpread' | 'stepAlongEnds'>>();
  /** Per pair of frames `a:b` around a hard-cut candidate: their luma difference after the best global shift (shiftResidual), and without it. */
  private readonly shifted = new Map<string, { still: number; moved: number }>();
  /** Frames whose hard-cut candidacy was checked for the shift search (shiftCandidate). */
  private readonly shiftChecked = new Set<number>();
  /** Per frame step k (frame k - 1 to k) inside some candidate's span: the change left after the best global shift or zoom, and without it. */
  private readonly stepMotion = new Map<number, { still: number; moved: number }>();
  private width = 0;
  private height = 0;

  constructor(private readonly opts: SceneDetectorOptions) {
    this.windows = [...new Set(DISSOLVE_WINDOWS_S.map((s) => Math.max(2, Math.round(s * opts.fps))))];
    this.lags = [...new Set([...Array.from({ length: FLASH_FRAMES + 1 }, (_, i) => i + 1), ...this.windows])].sort((a, b) => a - b);
    for (const lag of this.lags) {
      this.diffs.set(lag, []);
      this.coarseDiffs.set(lag, []);
      this.histDiffs.set(lag, []);
      this.mixResidual.set(lag, []);
    }
  }

  get frames(): number {
    return this.times.length;
  }

  push(frame: RgbFrame): void {
    const f = frameFeatures(frame.rgb);
    const blocks = blockMeans(frame.rgb, frame.width, frame.height, BLOCK);
    const coarse = frameFeatures(blocks);
    const hist = colourHistogram(f);
    this.luma.push(f.meanLuma);
    this.lumaSd.push(f.lumaSd);
    this.times.push(frame.time);
    const maxLag = this.lags[this.lags.length - 1];
    for (const lag of this.lags) {
      // Frames and block means are compared only as far back as cuts and flashes look; the
      // dissolve windows use histograms and the block-mean mix.
      const near = lag <= FLASH_FRAMES + 1;
      const past = near && this.ring.length >= lag ? this.ring[this.ring.length - lag] : null;
      this.diffs.get(lag)!.push(past ? contentDifference(past, f) : NaN);
      const coarsePast = near && this.coarseRing.length >= lag ? this.coarseRing[this.coarseRing.length - lag] : null;
      this.coarseDiffs.get(lag)!.push(coarsePast ? contentDifference(coarsePast, coarse) : NaN);
      const histPast = this.histRing.length >= lag ? this.histRing[this.histRing.length - lag] : null;
      this.histDiffs.get(lag)!.push(histPast ? histogramDistance(histPast, hist) : NaN);
      const half = Math.round(lag / 2);
      const window = this.windows.includes(lag);
      const blockPast = window && this.blockRing.length >= lag ? this.blockRing[this.blockRing.length - lag] : null;
      const blockMid = this.blockRing.length >= half ? this.blockRing[this.blockRing.length - half] : null;
      this.mixResidual.get(lag)!.push(blockPast && blockMid && half < lag ? mixResidual(blockPast, blockMid, blocks) : NaN);
    }
    this.width = frame.width;
    this.height = frame.height;
    this.pixelRing.push(frame.rgb.slice());
    if (this.pixelRing.length > 3 * maxLag + 1) this.pixelRing.shift();
    // The candidate peaking 2w frames back now has its span's frames and the stretches around it
    // that its ratio to its surroundings reads.
    for (const w of this.windows) this.fitCandidate(w, this.times.length - 1 - 2 * w);
    // The frame FLASH_FRAMES back now has the neighbours its adaptive ratio and flash tests read.
    this.shiftCandidate(this.times.length - 1 - FLASH_FRAMES);
    this.ring.push(f);
    this.coarseRing.push(coarse);
    this.histRing.push(hist);
    this.blockRing.push(blocks);
    if (this.ring.length > FLASH_FRAMES + 1) {
      this.ring.shift();
      this.coarseRing.shift();
    }
    if (this.histRing.length > maxLag) {
      this.histRing.shift();
      this.blockRing.shift();
    }
  }

  /** Whether frame i passes the learned path's loose hard-cut gate on some scale (hardCandidates; fades aside). */
  private looseHard(i: number): boolean {
    return [this.diffs, this.coarseDiffs, this.histDiffs].some((d) => d.get(1)![i] >= LOOSE_THRESHOLD * this.opts.threshold && adaptiveRatio(d.get(1)!, i) >= LOOSE_RATIO * this.opts.ratio);
  }

  /**
   * For a hard-cut candidate at frame i, while the frames around it are in the ring: the luma
   * difference left after the best global shift for its step, its neighbours' steps, and the
   * frame before it against the frames after (and the frame after it against those before), so
   * that a shaken or panned frame, which matches its neighbour once shifted, and a flash in a
   * moving shot, after which the shifted picture comes back, can be told from a cut.
   */
  private shiftCandidate(i: number): void {
    if (i < 1 || this.shiftChecked.has(i)) return;
    this.shiftChecked.add(i);
    if (!this.looseHard(i)) return;
    const n = this.times.length;
    const oldest = n - this.pixelRing.length;
    for (const [a, b] of shiftPairs(i, n)) {
      const key = `${a}:${b}`;
      if (a < oldest || this.shifted.has(key)) continue;
      this.shifted.set(key, shiftResidual(this.pixelRing[a - oldest], this.pixelRing[b - oldest], this.width, this.height));
    }
  }

  /** The shift features of hard-cut candidate i (see shiftCandidate): log_shifted, shifted_share, log_ratio_shifted, flash_shifted. */
  private shiftFeatures(i: number): number[] {
    const get = (a: number, b: number) => this.shifted.get(`${a}:${b}`);
    const step = get(i - 1, i);
    if (!step) return [NaN, NaN, NaN, NaN];
    let sum = 0;
    let count = 0;
    for (let k = i - ADAPTIVE_WINDOW; k <= i + ADAPTIVE_WINDOW; k++) {
      const m = k === i ? undefined : get(k - 1, k);
      if (m) (sum += m.moved), count++;
    }
    let back = Infinity;
    for (let j = 1; j <= FLASH_FRAMES; j++) {
      const after = get(i - 1, i + j);
      const before = get(i - 1 - j, i);
      if (after) back = Math.min(back, after.moved);
      if (before) back = Math.min(back, before.moved);
    }
    return [
      Math.log1p(step.moved),
      step.still > 0 ? step.moved / step.still : 1,
      Math.log(Math.max(step.moved, 1) / Math.max(count ? sum / count : 0, 1)),
      Number.isFinite(back) ? Math.min(3, back / Math.max(step.moved, 1)) : 3,
    ];
  }

  /** Per-frame difference to the previous frame (for reports and tuning). */
  consecutive(): number[] {
    return this.diffs.get(1)!.slice();
  }

  /** The frames a window's histograms say may be a dissolve: far enough apart, and the frame halfway a mix of its ends at the block scale. */
  private dissolveCandidate(w: number, i: number): boolean {
    return i >= w && this.histDiffs.get(w)![i] >= DISSOLVE_MIN_DIFF && this.mixResidual.get(w)![i] <= DISSOLVE_MAX_RESIDUAL;
  }

  /** Window w's histogram distance at frame i over its median in the stretches w frames before and after. */
  private dissolveRatio(w: number, i: number): number {
    const e = this.histDiffs.get(w)!;
    return e[i] / Math.max(lagMedian(e, i - w, i + w, w), 1);
  }

  /**
   * Fits the span of the candidate of window w peaking at frame i (if it is one) as a mix of its
   * ends, while its frames are in the ring. Only candidates whose ratio to their surroundings
   * can reach a classifier or a rule (LOOSE_DISSOLVE_RATIO) are fitted: the mix fit and the
   * global-motion searches are most of the detector's compute, and sustained motion changes the
   * histogram at a steady pace, so most of its windows stop here.
   */
  private fitCandidate(w: number, i: number): void {
    if (i < 0 || this.mixFits.has(`${w}:${i}`) || !this.dissolveCandidate(w, i)) return;
    if (this.dissolveRatio(w, i) < Math.min(LOOSE_DISSOLVE_RATIO, DISSOLVE_MIN_RATIO)) return;
    const { first, last } = this.dissolveSpan(w, i);
    const n = this.times.length;
    const frame = (k: number) => this.pixelRing[this.pixelRing.length - n + k];
    if (first < n - this.pixelRing.length) return;
    const middle: Uint8Array[] = [];
    for (let k = first + 1; k < last; k++) middle.push(frame(k));
    const fitted = fitMix(frame(first), middle, frame(last));
    const inside = alphasInside(fitted.alphas);
    // Windows and peaks next to each other often share a span: its structure features (two global-motion searches) are computed once.
    let structure = this.spanStructure.get(`${first}:${last}`);
    if (!structure) {
      const m = Math.floor(middle.length / 2);
      const span = [frame(first), ...middle, frame(last)];
      structure = {
        straightness: straightness(span),
        straightnessBlocks: straightness(span.map((f) => blockMeans(f, this.width, this.height, BLOCK))),
        ...stepShape(span),
        orientationSimilarity: orientationSimilarity(frame(first), frame(last), this.width, this.height),
        endMotionOverMix: inside && middle.length ? endMotionOverMix(frame(first), middle[m], frame(last), fitted.alphas[m], this.width, this.height) : NaN,
      };
      this.spanStructure.set(`${first}:${last}`, structure);
    }
    const mix = { ...fitted, ...structure };
    // The global-motion search is most of the detector's compute: it is only run for spans whose
    // frames lie between their ends (isMixOfEnds rejects the rest whatever the motion).
    if (!inside) {
      this.mixFits.set(`${w}:${i}`, { ...mix, motionExplained: NaN });
      return;
    }
    let still = 0;
    let moved = 0;
    for (let k = first + 1; k <= last; k++) {
      let m = this.stepMotion.get(k);
      if (!m) {
        m = globalMotionResidual(frame(k - 1), frame(k), this.width, this.height);
        this.stepMotion.set(k, m);
      }
      still += m.still;
      moved += m.moved;
    }
    this.mixFits.set(`${w}:${i}`, { ...mix, motionExplained: still > 0 ? 1 - moved / still : 0 });
  }

  /**
   * The span of a dissolve whose window w peaks at frame i: within the window, the frames whose
   * histogram change stands out of the calmer stretch around it. first: the last frame before
   * the change; last: the first after it.
   */
  private dissolveSpan(w: number, i: number): { first: number; last: number } {
    const c = this.histDiffs.get(1)!;
    let cmax = 0;
    for (let k = i - w + 1; k <= i; k++) cmax = Math.max(cmax, c[k]);
    const [calm] = sideMedians(c, i - w, i + 1, w);
    const cut = Math.max(2 * calm + 0.5, 0.25 * cmax);
    let first = i - w + 1;
    while (first < i && c[first] < cut) first++;
    let last = i;
    while (last > first && c[last] < cut) last--;
    return { first: first - 1, last };
  }

  finish(): SceneBoundary[] {
    const n = this.times.length;
    if (n < 2) return [];
    this.fitTail();
    const fades = this.findFades();
    const inFade = new Uint8Array(n);
    for (const f of fades) for (let i = f.first; i <= f.last; i++) inFade[i] = 1;
    if (this.opts.model) return this.finishLearned(this.opts.model, fades, inFade);
    const flashes = new Set<number>();
    // Cuts seen by the frames or their block means first; the histogram's own cuts are weaker
    // evidence (mixed colours of a dissolve move it in jumps), so they count outside dissolves only.
    const strong = mergeCuts([this.hardCutsOn(this.diffs, inFade, flashes), this.hardCutsOn(this.coarseDiffs, inFade, flashes)]);
    const taken = inFade.slice();
    // Flash frames belong to no dissolve either.
    for (const i of flashes) taken[i] = 1;
    for (const h of strong) taken[h.index] = 1;
    const dissolves: { first: number; last: number; score: number }[] = [];
    const steps: { index: number; score: number }[] = [];
    for (const d of this.findDissolves(taken)) {
      if (d.last - d.first <= 1) continue;
      const step = this.steppedChange(d.first, d.last);
      if (step) steps.push(step);
      else dissolves.push(d);
    }
    const inTransition = inFade.slice();
    for (const d of dissolves) for (let i = d.first; i <= d.last; i++) inTransition[i] = 1;
    // (A change within one frame that no hard-cut scale took is a flicker or motion, not a dissolve: dropped above.)
    return this.boundaries(fades, mergeCuts([strong, steps, this.hardCutsOn(this.histDiffs, inTransition, flashes)]), dissolves);
  }

  /** The candidates of the last frames, which no later push fits: dissolve spans and hard-cut shift searches. */
  private fitTail(): void {
    const n = this.times.length;
    for (const w of this.windows) for (let i = Math.max(0, n - 2 * w); i < n; i++) this.fitCandidate(w, i);
    for (let i = Math.max(1, n - 1 - FLASH_FRAMES); i < n; i++) this.shiftCandidate(i);
  }

  /** Fades, hard cuts and dissolves (frame indices) as boundaries in time order, min_scene_s applied. */
  private boundaries(fades: { first: number; last: number; score: number }[], hard: { index: number; score: number }[], dissolves: { first: number; last: number; score: number }[]): SceneBoundary[] {
    const n = this.times.length;
    const t = (i: number) => this.times[Math.max(0, Math.min(n - 1, i))];
    const out: SceneBoundary[] = [
      ...fades.map((f) => ({ type: 'fade' as const, start: t(f.first), end: t(f.last), score: f.score })),
      ...hard.map((h) => ({ type: 'hard' as const, start: t(h.index), end: t(h.index), score: h.score })),
      ...dissolves.map((d) => ({ type: 'dissolve' as const, start: t(d.first), end: t(d.last), score: d.score })),
    ];
    out.sort((a, b) => a.start - b.start);
    return this.applyMinScene(out);
  }

  /**
   * Candidates for the learned classifier (also what scripts/train-scene-boundary-model.ts
   * labels): hard-cut candidates, and dissolve candidates given which hard cuts were accepted
   * (`acceptHard`; the hand rules' strong cuts when absent). Call after the last push.
   */
  candidates(acceptHard?: (c: HardCandidate) => boolean): { hard: HardCandidate[]; dissolves: DissolveCandidate[]; times: number[] } {
    const n = this.times.length;
    this.fitTail();
    const fades = this.findFades();
    const inFade = new Uint8Array(n);
    for (const f of fades) for (let i = f.first; i <= f.last; i++) inFade[i] = 1;
    const hard = this.hardCandidates(inFade, fades);
    const taken = inFade.slice();
    if (acceptHard) {
      for (const c of hard) if (c.flash || acceptHard(c)) taken[c.index] = 1;
    } else {
      const flashes = new Set<number>();
      for (const h of mergeCuts([this.hardCutsOn(this.diffs, inFade, flashes), this.hardCutsOn(this.coarseDiffs, inFade, flashes)])) taken[h.index] = 1;
      for (const i of flashes) taken[i] = 1;
    }
    return { hard, dissolves: this.dissolveCandidates(taken), times: this.times.slice() };
  }

  /** finish() with the learned classifier deciding on hard-cut and dissolve candidates. */
  private finishLearned(model: BoundaryModel, fades: { first: number; last: number; score: number }[], inFade: Uint8Array): SceneBoundary[] {
    const candidates = this.hardCandidates(inFade, fades);
    const hard = candidates.filter((c) => !c.flash && predict(model.hard, selectFeatures(model.hard.features, HARD_FEATURES, c.features)) >= model.hard.threshold);
    // Flash frames belong to no dissolve, as in the rules.
    const taken = inFade.slice();
    for (const c of candidates) if (c.flash) taken[c.index] = 1;
    for (const c of hard) taken[c.index] = 1;
    const dissolves: { first: number; last: number; score: number }[] = [];
    const steps: { index: number; score: number }[] = [];
    for (const d of this.dissolveCandidates(taken)) {
      if (predict(model.dissolve, selectFeatures(model.dissolve.features, DISSOLVE_FEATURES, d.features)) < model.dissolve.threshold) continue;
      if ([...dissolves, ...steps.map((s) => ({ first: s.index - 1, last: s.index }))].some((o) => d.first <= o.last + 1 && d.last >= o.first - 1)) continue;
      if (d.step) steps.push(d.step);
      else dissolves.push(d);
    }
    return this.boundaries(fades, mergeCuts([hard, steps]), dissolves);
  }

  /** Every frame outside fades whose change stands out on some scale at LOOSE_THRESHOLD and LOOSE_RATIO of the rules' gates. */
  private hardCandidates(inFade: Uint8Array, fades: { first: number; last: number }[]): HardCandidate[] {
    const scales = [this.diffs, this.coarseDiffs, this.histDiffs];
    const n = this.times.length;
    const out: HardCandidate[] = [];
    const lg = (x: number) => Math.log1p(Number.isFinite(x) ? Math.max(0, x) : 0);
    for (let i = 1; i < n; i++) {
      if (inFade[i] || inFade[i - 1]) continue;
      const per = scales.map((d) => ({ diff: d.get(1)![i], ratio: adaptiveRatio(d.get(1)!, i) }));
      if (!per.some((x) => x.diff >= LOOSE_THRESHOLD * this.opts.threshold && x.ratio >= LOOSE_RATIO * this.opts.ratio)) continue;
      const c = this.diffs.get(1)!;
      const flashFine = flashAt(this.diffs, i, n);
      const flashBlocks = flashAt(this.coarseDiffs, i, n);
      // A jump of the colours that comes back (a coloured or half-frame flash in a zoom or rotation, which moves the pixels on).
      const flashHist = this.histDiffs.get(1)![i] >= this.opts.threshold && flashAt(this.histDiffs, i, n);
      const across = i + 1 < n ? this.diffs.get(2)![i + 1] : c[i];
      let neighbours = 0;
      for (let k = i - ADAPTIVE_WINDOW; k <= i + ADAPTIVE_WINDOW; k++) if (k !== i && k >= 1 && k < n && !Number.isNaN(c[k])) neighbours = Math.max(neighbours, c[k]);
      let fadeGap = 10;
      for (const f of fades) fadeGap = Math.min(fadeGap, Math.max(0, f.first - i, i - f.last));
      const before = this.luma[i - 1];
      const after = this.luma[i];
      out.push({
        index: i,
        score: Math.max(...per.slice(0, 2).map((x) => x.ratio)),
        flash: flashFine || flashBlocks || flashHist,
        features: finite([
          lg(per[0].diff), Math.log(per[0].ratio), lg(per[1].diff), Math.log(per[1].ratio), lg(per[2].diff), Math.log(per[2].ratio),
          flashFine ? 1 : 0, flashBlocks ? 1 : 0,
          Math.min(3, (Number.isFinite(across) ? across : c[i]) / Math.max(c[i], 1)), Math.log(Math.max(c[i], 1) / Math.max(neighbours, 1)),
          before / 255, after / 255, Math.abs(after - before) / 255, fadeGap / 10, Math.min(1, this.times[i] - this.times[0]),
          ...this.shiftFeatures(i),
          histFlash(this.histDiffs, i, n),
        ]),
      });
    }
    return out;
  }

  /**
   * Frames i where window w's histogram distance is a dissolve candidate standing `minRatio`
   * times over its surroundings with no taken frame inside the window; a run of such frames is
   * one transition, and its peak (where the window spans it best) stands for it.
   */
  private dissolvePeaks(w: number, taken: Uint8Array, minRatio: number): { i: number; ratio: number }[] {
    const e = this.histDiffs.get(w)!;
    const candidates: { i: number; ratio: number }[] = [];
    for (let i = w; i < e.length; i++) {
      if (!this.dissolveCandidate(w, i)) continue;
      let blocked = false;
      for (let k = i - w + 1; k <= i && !blocked; k++) if (taken[k]) blocked = true;
      if (blocked) continue;
      const ratio = this.dissolveRatio(w, i);
      if (ratio >= minRatio) candidates.push({ i, ratio });
    }
    const peaks: { i: number; ratio: number }[] = [];
    for (let r = 0; r < candidates.length; ) {
      let q = r;
      while (q + 1 < candidates.length && candidates[q + 1].i === candidates[q].i + 1) q++;
      peaks.push(candidates.slice(r, q + 1).reduce((x, y) => (y.ratio > x.ratio ? y : x)));
      r = q + 1;
    }
    return peaks;
  }

  /** Dissolve candidates (findDissolves' runs and peaks, with the looser LOOSE_DISSOLVE_RATIO and the mix test as features) that no taken frame blocks. */
  private dissolveCandidates(taken: Uint8Array): DissolveCandidate[] {
    const c = this.histDiffs.get(1)!;
    const fine = this.diffs.get(1)!;
    const out: DissolveCandidate[] = [];
    for (const w of this.windows) {
      const e = this.histDiffs.get(w)!;
      for (const peak of this.dissolvePeaks(w, taken, LOOSE_DISSOLVE_RATIO)) {
        const i = peak.i;
        const { first, last } = this.dissolveSpan(w, i);
        const fit = this.mixFits.get(`${w}:${i}`);
        if (!fit || last - first <= 1) continue;
        const alphas = fit.alphas;
        const outside = alphas.reduce((a, x) => Math.max(a, -x, x - 1), 0);
        let rising = 0;
        for (let k = 1; k < alphas.length; k++) if (alphas[k] >= alphas[k - 1] - MIX_ALPHA_SLACK) rising++;
        const offLine = alphas.reduce((a, x, k) => Math.max(a, Math.abs(x - (k + 1) / (alphas.length + 1))), 0);
        const [calm, busy] = sideMedians(c, first, last + 1, w);
        const inside: number[] = [];
        for (let k = first + 1; k <= last; k++) inside.push(c[k]);
        inside.sort((a, b) => a - b);
        let stepSum = 0;
        let stepTop = 0;
        let minLuma = Infinity;
        for (let k = first + 1; k <= last; k++) {
          stepSum += fine[k];
          stepTop = Math.max(stepTop, fine[k]);
        }
        for (let k = first; k <= last; k++) minLuma = Math.min(minLuma, this.luma[k]);
        const step = this.steppedChange(first, last);
        out.push({
          first,
          last,
          score: e[i],
          step,
          features: finite([
            Math.log1p(e[i]), Math.log(peak.ratio), Math.min(2, this.mixResidual.get(w)![i]), Math.min(3, fit.residual), Math.min(1, outside),
            Number.isNaN(fit.motionExplained) ? 0 : fit.motionExplained, Number.isNaN(fit.motionExplained) ? 1 : 0,
            Math.log(Math.max(1e-3, Math.min(100, fit.varianceDip))), (last - first) / this.opts.fps, w / this.opts.fps,
            alphas.length > 1 ? rising / (alphas.length - 1) : 1, Math.min(1, offLine),
            Math.log1p(calm), Math.log1p(busy), Math.log1p(inside[Math.floor(inside.length / 2)] ?? 0), minLuma / 255,
            stepSum > 0 ? stepTop / stepSum : 0, step ? 1 : 0,
            fit.orientationSimilarity, Number.isNaN(fit.endMotionOverMix) ? 0 : Math.max(-3, Math.min(3, fit.endMotionOverMix)),
            fit.straightness, fit.straightnessBlocks,
            fit.stepSpread, fit.stepAlongEnds,
          ]),
        });
      }
    }
    return out;
  }

  /**
   * A short candidate span (at most STEP_SPAN frame steps) whose change is mostly one frame
   * step is a hard cut on that frame that the adaptive score missed (fast motion around it
   * raises the neighbours' mean): a dissolve spreads its change over the steps.
   */
  private steppedChange(first: number, last: number): { index: number; score: number } | null {
    if (last - first > STEP_SPAN) return null;
    const c = this.diffs.get(1)!;
    let sum = 0;
    let top = first + 1;
    for (let k = first + 1; k <= last; k++) {
      sum += c[k];
      if (c[k] > c[top]) top = k;
    }
    if (!(sum > 0) || c[top] < this.opts.threshold) return null;
    if (c[top] < STEP_SHARE * sum) {
      // A cut from a still shot into a fast one (or back): the jump stands far out of the calm
      // side and is still the largest change on the busy side.
      const side = (from: number, to: number) => {
        const xs: number[] = [];
        for (let k = from; k <= to; k++) if (k >= 1 && k < c.length && !Number.isNaN(c[k])) xs.push(c[k]);
        return xs;
      };
      const left = side(top - ADAPTIVE_WINDOW, top - 1);
      const right = side(top + 1, top + ADAPTIVE_WINDOW);
      if (!left.length || !right.length) return null;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const [calm, busy] = mean(left) <= mean(right) ? [left, right] : [right, left];
      if (c[top] < this.opts.ratio * Math.max(mean(calm), 1) || c[top] < STEP_PEAK * Math.max(...busy)) return null;
    }
    return { index: top, score: adaptiveRatio(c, top) };
  }

  /**
   * Hard cuts closer than minSceneS to the previous hard cut or fade (or the start) are dropped;
   * transitions always stay. A dissolve does not hold off a cut after it: the histogram reads
   * the last frames of fast motion before a cut as a dissolve, and the cut is the surer evidence.
   */
  private applyMinScene(boundaries: SceneBoundary[]): SceneBoundary[] {
    const out: SceneBoundary[] = [];
    let lastEnd = this.times[0];
    for (let b of boundaries) {
      if (b.type === 'hard' && b.start - lastEnd < this.opts.minSceneS - 1e-9) continue;
      // A dissolve needs a shot before it: one starting within minSceneS of the video's start
      // from a dark frame is a fade in from black (the fade rule wants a brighter level after
      // it), and from a picture the first shot settling (a cellular automaton's first
      // generations), not an edit.
      if (b.type === 'dissolve' && b.start - this.times[0] < this.opts.minSceneS - 1e-9) {
        const first = this.times.indexOf(b.start);
        const last = this.times.indexOf(b.end);
        if (!(this.luma[first] < this.opts.fadeFloor)) continue;
        b = { ...b, type: 'fade', score: 1 - this.luma[first] / Math.max(this.luma[last], 1) };
      }
      out.push(b);
      if (b.type !== 'dissolve') lastEnd = b.end;
    }
    return out;
  }

  /** Dips of mean luma under the floor, with their ramps. first/last: the frames bounding the mixed frames. */
  private findFades(): { first: number; last: number; score: number }[] {
    const m = this.luma;
    const n = m.length;
    const floor = this.opts.fadeFloor;
    const out: { first: number; last: number; score: number }[] = [];
    const falls = (a: number, b: number) => m[a] > m[b] * 1.04 + 0.5; // frame a brighter than the later b
    for (let i = 0; i < n; ) {
      if (m[i] >= floor) {
        i++;
        continue;
      }
      let j = i;
      while (j + 1 < n && m[j + 1] < floor) j++;
      let first = i;
      while (first - 1 >= 0 && falls(first - 1, first)) first--;
      let last = j;
      while (last + 1 < n && falls(last + 1, last)) last++;
      const rampDown = i - first;
      const rampUp = last - j;
      const atStart = i === 0;
      const atEnd = j === n - 1;
      const darkest = Math.min(...m.slice(i, j + 1));
      const before = first < i ? m[first] : null;
      const after = last > j ? m[last] : null;
      // A fade needs a ramp on a side that has content (a cut to black has none), and the level it leaves to be well above the floor.
      const levels = [before, after].filter((x): x is number => x !== null);
      const ramped = (rampDown > 0 || atStart) && (rampUp > 0 || atEnd) && (rampDown > 0 || rampUp > 0);
      const level = levels.length ? Math.min(...levels) : 0;
      if (ramped && !(atStart && atEnd) && level >= 2 * floor) {
        if (!this.dimmedOrBlack(i + m.slice(i, j + 1).indexOf(darkest), [first < i ? first : null, last > j ? last : null])) {
          i = j + 1;
          continue;
        }
        out.push({ first: atStart && rampDown === 0 ? 0 : first, last: atEnd && rampUp === 0 ? n - 1 : last, score: 1 - darkest / Math.max(level, 1) });
      }
      i = j + 1;
    }
    return out;
  }

  /**
   * Whether the darkest frame of a dip is black, or the picture at a level frame around it dimmed
   * (a fade scales brightness and contrast alike). A flat dark field just under the floor, as a
   * pan into a dark region gives, keeps neither the picture's contrast nor goes black.
   */
  private dimmedOrBlack(darkest: number, levelFrames: (number | null)[]): boolean {
    const floor = this.opts.fadeFloor;
    const dark = this.luma[darkest];
    if (dark <= FADE_BLACK * floor) return true;
    return levelFrames.some((k) => k !== null && this.lumaSd[darkest] / Math.max(this.lumaSd[k], 1) >= FADE_MIN_CONTRAST * (dark / Math.max(this.luma[k], 1)));
  }

  /** Cuts on one scale; jumps that are flashes go into `flashes` (as their frame indices). */
  private hardCutsOn(diffs: Map<number, number[]>, excluded: Uint8Array, flashes: Set<number>): { index: number; score: number }[] {
    const c = diffs.get(1)!;
    const n = c.length;
    const out: { index: number; score: number }[] = [];
    for (let i = 1; i < n; i++) {
      if (excluded[i] || excluded[i - 1] || !(c[i] >= this.opts.threshold)) continue;
      let sum = 0;
      let count = 0;
      for (let k = i - ADAPTIVE_WINDOW; k <= i + ADAPTIVE_WINDOW; k++) {
        if (k === i || k < 1 || k >= n || Number.isNaN(c[k])) continue;
        sum += c[k];
        count++;
      }
      // At the very start or end there may be no neighbours: the change then only needs the threshold.
      const mean = count ? sum / count : 0;
      const score = c[i] / Math.max(mean, 1);
      if (score < this.opts.ratio) continue;
      if (flashAt(diffs, i, n)) {
        flashes.add(i);
        continue;
      }
      out.push({ index: i, score });
    }
    return out;
  }

  /**
   * Dissolves on the histogram series: frames w apart across the transition differ `ratio`
   * times more than frames w apart in the stretches before and after it (which motion alone
   * does not do), by at least DISSOLVE_MIN_DIFF, and without a cut, fade or flash in between;
   * and the span's frames are a per-pixel mix of its ends that global motion does not explain
   * (isMixOfEnds). Shorter windows are tried first, so a short dissolve gets a tight span.
   */
  private findDissolves(taken: Uint8Array): { first: number; last: number; score: number }[] {
    const out: { first: number; last: number; score: number }[] = [];
    for (const w of this.windows) {
      const e = this.histDiffs.get(w)!;
      for (const { i } of this.dissolvePeaks(w, taken, DISSOLVE_MIN_RATIO)) {
        const span = { ...this.dissolveSpan(w, i), score: e[i] };
        const fit = this.mixFits.get(`${w}:${i}`);
        if (!fit || !isMixOfEnds(fit)) continue;
        if (out.some((o) => span.first <= o.last + 1 && span.last >= o.first - 1)) continue;
        out.push(span);
      }
    }
    return out;
  }
}

/** How well a span's middle frames are a per-pixel mix of its end frames. */
export interface MixFit {
  /** Per middle frame, the least-squares alpha of middle = (1 - alpha) * first + alpha * last. */
  alphas: number[];
  /** Root mean square of what is left after the mix, over that of last - first (0: a perfect mix). */
  residual: number;
  /** Least luma variance of a middle frame over the smaller of the ends' (a cross-fade of two textured pictures dips). */
  varianceDip: number;
  /** Share of the frame-to-frame change across the span that one global shift or zoom per step explains (1: all of it, a pan or zoom). */
  motionExplained: number;
  /** Histogram intersection (0-1) of the ends' gradient-orientation histograms: a zoom into a self-similar picture keeps its structure, two shots rarely share it. */
  orientationSimilarity: number;
  /** Per pixel and channel, |last - first| over the path its value takes through the span's frames, summed over pixels (1: every value moves one way, as in a cross or pixel dissolve; motion sends values back and forth). */
  straightness: number;
  /** The same on BLOCK px block means, where noise and fine moving texture average out. */
  straightnessBlocks: number;
  /** Of the span's largest frame step: the median per-pixel |luma change| over the mean (a dissolve changes every pixel that differs between the shots, motion only the edges it moves). */
  stepSpread: number;
  /** Correlation over pixels of that step's luma change with last - first (a dissolve steps every pixel towards the far end; motion does not). */
  stepAlongEnds: number;
  /** log of (the middle frame's luma difference to the best global motion of the nearer-matching end + 1) over (its difference to the mix + 1): > 0 the mix explains it better (a dissolve), < 0 a moved end does (a zoom or pan). NaN when not fitted. */
  endMotionOverMix: number;
}

const ORIENTATION_BINS = 12;

/** Rec. 601 luma of interleaved RGB, one float per pixel. */
function lumaPlane(rgb: Uint8Array): Float32Array {
  const luma = new Float32Array(rgb.length / 3);
  for (let p = 0, i = 0; p < luma.length; p++, i += 3) luma[p] = 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
  return luma;
}

/** Gradient-orientation histogram (orientation mod 180 degrees, weighted by gradient magnitude, summing to 1) of a frame's luma. */
function orientationHistogram(rgb: Uint8Array, width: number, height: number): Float64Array {
  const luma = lumaPlane(rgb);
  const hist = new Float64Array(ORIENTATION_BINS);
  let total = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const gx = luma[y * width + x + 1] - luma[y * width + x - 1];
      const gy = luma[(y + 1) * width + x] - luma[(y - 1) * width + x];
      const mag = Math.hypot(gx, gy);
      if (mag < 4) continue;
      let a = Math.atan2(gy, gx);
      if (a < 0) a += Math.PI;
      hist[Math.min(ORIENTATION_BINS - 1, Math.floor((a / Math.PI) * ORIENTATION_BINS))] += mag;
      total += mag;
    }
  }
  if (total > 0) for (let b = 0; b < ORIENTATION_BINS; b++) hist[b] /= total;
  return hist;
}

export function orientationSimilarity(a: Uint8Array, b: Uint8Array, width: number, height: number): number {
  const ha = orientationHistogram(a, width, height);
  const hb = orientationHistogram(b, width, height);
  let s = 0;
  for (let k = 0; k < ORIENTATION_BINS; k++) s += Math.min(ha[k], hb[k]);
  return s;
}

/** See MixFit.endMotionOverMix: whether the middle frame is better a moved copy of one end or a mix of both. */
export function endMotionOverMix(first: Uint8Array, middle: Uint8Array, last: Uint8Array, alpha: number, width: number, height: number): number {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const lf = halfLuma(first, width, w, h);
  const lm = halfLuma(middle, width, w, h);
  const ll = halfLuma(last, width, w, h);
  const a = Math.max(0, Math.min(1, alpha));
  let mixed = 0;
  for (let p = 0; p < lm.length; p++) mixed += Math.abs(lm[p] - ((1 - a) * lf[p] + a * ll[p]));
  mixed /= Math.max(1, lm.length);
  const moved = Math.min(bestMotion(lf, lm, w, h), bestMotion(ll, lm, w, h));
  return Math.log((moved + 1) / (mixed + 1));
}

function bestMotion(la: Float32Array, lb: Float32Array, w: number, h: number): number {
  let moved = Infinity;
  for (const s of MOTION_ZOOMS) {
    for (let dy = -MOTION_SHIFT; dy <= MOTION_SHIFT; dy++) for (let dx = -MOTION_SHIFT; dx <= MOTION_SHIFT; dx++) moved = Math.min(moved, warpedDifference(la, lb, w, h, s, dx, dy));
  }
  return moved;
}

/** Global motions tried between two frames: shifts up to this many pixels of the half-size luma (8 of the 64 px frame), each with these zooms about the centre. */
const MOTION_SHIFT = 4;
const MOTION_ZOOMS = [0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.4, 1.6];

/**
 * Mean |luma difference| of two frames as they are (still) and after the best global motion
 * of the first, a zoom about the centre and a shift (moved), on half-size luma, over the
 * pixels that stay inside the picture (at least a third of them).
 */
export function globalMotionResidual(a: Uint8Array, b: Uint8Array, width: number, height: number): { still: number; moved: number } {
  const { w, h, la, lb, still } = halfLumaPair(a, b, width, height);
  // bestMotion tries zoom 1 and shift 0 too, so moved is never above still.
  return { still, moved: bestMotion(la, lb, w, h) };
}

/** Both frames as half-size luma, and their mean |difference| as they are. */
function halfLumaPair(a: Uint8Array, b: Uint8Array, width: number, height: number): { w: number; h: number; la: Float32Array; lb: Float32Array; still: number } {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const la = halfLuma(a, width, w, h);
  const lb = halfLuma(b, width, w, h);
  return { w, h, la, lb, still: warpedDifference(la, lb, w, h, 1, 0, 0) };
}

/** The frame pairs a hard-cut candidate at i reads (shiftCandidate): its step, its neighbours' steps, and across it up to FLASH_FRAMES frames. */
function shiftPairs(i: number, n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = i - ADAPTIVE_WINDOW; k <= i + ADAPTIVE_WINDOW; k++) if (k >= 1 && k < n) out.push([k - 1, k]);
  for (let j = 1; j <= FLASH_FRAMES; j++) {
    if (i + j < n) out.push([i - 1, i + j]);
    if (i - 1 - j >= 0) out.push([i - 1 - j, i]);
  }
  return out;
}

/**
 * Mean |luma difference| of two frames as they are (still) and after the best global shift of
 * the first (moved; no zoom), on half-size luma over the pixels that stay inside: searched on
 * quarter-size luma up to a quarter of the frame each way (a hand-held shake moves that far
 * between analysis frames), then refined on the half-size luma by one pixel.
 */
export function shiftResidual(a: Uint8Array, b: Uint8Array, width: number, height: number): { still: number; moved: number } {
  const { w, h, la, lb, still } = halfLumaPair(a, b, width, height);
  const qw = Math.floor(w / 2);
  const qh = Math.floor(h / 2);
  const qa = halveLuma(la, w, qw, qh);
  const qb = halveLuma(lb, w, qw, qh);
  const rx = Math.max(1, Math.round(qw / 4));
  const ry = Math.max(1, Math.round(qh / 4));
  let best = { d: Infinity, dx: 0, dy: 0 };
  for (let dy = -ry; dy <= ry; dy++) {
    for (let dx = -rx; dx <= rx; dx++) {
      const d = warpedDifference(qa, qb, qw, qh, 1, dx, dy);
      if (d < best.d) best = { d, dx, dy };
    }
  }
  let moved = still;
  for (let oy = -1; oy <= 1; oy++) for (let ox = -1; ox <= 1; ox++) moved = Math.min(moved, warpedDifference(la, lb, w, h, 1, 2 * best.dx + ox, 2 * best.dy + oy));
  return { still, moved };
}

/** Means of 2 x 2 squares of a luma plane of width `width`. */
function halveLuma(l: Float32Array, width: number, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 2 * y * width + 2 * x;
      out[y * w + x] = (l[i] + l[i + 1] + l[i + width] + l[i + width + 1]) / 4;
    }
  }
  return out;
}

/** Luma of 2 x 2 pixel squares. */
function halfLuma(rgb: Uint8Array, width: number, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (const [oy, ox] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        const i = ((2 * y + oy) * width + 2 * x + ox) * 3;
        sum += 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
      }
      out[y * w + x] = sum / 4;
    }
  }
  return out;
}

/** Mean |b(x) - a(T(x))| where T scales by 1/s about the centre and shifts by (dx, dy); Infinity when under a third of the pixels map inside. */
function warpedDifference(a: Float32Array, b: Float32Array, width: number, height: number, s: number, dx: number, dy: number): number {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  let sum = 0;
  let count = 0;
  for (let y = 0; y < height; y++) {
    const sy = Math.round(cy + (y - cy) / s + dy);
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < width; x++) {
      const sx = Math.round(cx + (x - cx) / s + dx);
      if (sx < 0 || sx >= width) continue;
      sum += Math.abs(b[y * width + x] - a[sy * width + sx]);
      count++;
    }
  }
  return count * 3 >= width * height ? sum / count : Infinity;
}

/** See MixFit.straightness: frames are the span's, first to last. */
export function straightness(frames: Uint8Array[]): number {
  const a = frames[0];
  const b = frames[frames.length - 1];
  let direct = 0;
  for (let p = 0; p < a.length; p++) direct += Math.abs(b[p] - a[p]);
  let path = 0;
  for (let k = 1; k < frames.length; k++) {
    const x = frames[k - 1];
    const y = frames[k];
    for (let p = 0; p < a.length; p++) path += Math.abs(y[p] - x[p]);
  }
  return path > 0 ? direct / path : 1;
}

/** See MixFit.stepSpread and MixFit.stepAlongEnds; frames are the span's, first to last. */
export function stepShape(frames: Uint8Array[]): { stepSpread: number; stepAlongEnds: number } {
  const luma = frames.map(lumaPlane);
  const n = luma[0].length;
  let top = 1;
  let topSum = -1;
  for (let k = 1; k < luma.length; k++) {
    let sum = 0;
    for (let p = 0; p < n; p++) sum += Math.abs(luma[k][p] - luma[k - 1][p]);
    if (sum > topSum) (topSum = sum), (top = k);
  }
  const step = new Float32Array(n);
  for (let p = 0; p < n; p++) step[p] = luma[top][p] - luma[top - 1][p];
  const sorted = Float32Array.from(step, Math.abs).sort();
  const mean = topSum / Math.max(1, n);
  const ends = luma[luma.length - 1];
  const first = luma[0];
  let sx = 0;
  let sy = 0;
  for (let p = 0; p < n; p++) (sx += step[p]), (sy += ends[p] - first[p]);
  const mx = sx / Math.max(1, n);
  const my = sy / Math.max(1, n);
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let p = 0; p < n; p++) {
    const x = step[p] - mx;
    const y = ends[p] - first[p] - my;
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return { stepSpread: mean > 0 ? sorted[Math.floor(n / 2)] / mean : 0, stepAlongEnds: xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0 };
}

/** Fits each middle frame as one alpha's mix of the ends, per pixel and channel. */
export function fitMix(first: Uint8Array, middle: Uint8Array[], last: Uint8Array): Omit<MixFit, 'motionExplained' | 'orientationSimilarity' | 'endMotionOverMix' | 'straightness' | 'straightnessBlocks' | 'stepSpread' | 'stepAlongEnds'> {
  let den = 0;
  for (let p = 0; p < first.length; p++) den += (last[p] - first[p]) ** 2;
  const alphas: number[] = [];
  let residual = 0;
  let leastVar = Infinity;
  for (const m of middle) {
    let num = 0;
    for (let p = 0; p < first.length; p++) num += (m[p] - first[p]) * (last[p] - first[p]);
    const alpha = den > 0 ? num / den : 0;
    let r = 0;
    for (let p = 0; p < first.length; p++) r += (m[p] - first[p] - alpha * (last[p] - first[p])) ** 2;
    residual += r;
    alphas.push(alpha);
    leastVar = Math.min(leastVar, lumaVariance(m));
  }
  return {
    alphas,
    residual: den > 0 && middle.length ? Math.sqrt(residual / middle.length / den) : Infinity,
    varianceDip: leastVar / Math.max(1, Math.min(lumaVariance(first), lumaVariance(last))),
  };
}

function lumaVariance(rgb: Uint8Array): number {
  let sum = 0;
  let sq = 0;
  const n = rgb.length / 3;
  for (let i = 0; i < rgb.length; i += 3) {
    const y = 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
    sum += y;
    sq += y * y;
  }
  return n ? sq / n - (sum / n) ** 2 : 0;
}

/** A middle frame's alpha may stray this far outside [0, 1] (noise and compression) and still lie between the ends. */
const MIX_ALPHA_SLACK = 0.03;
/** A span whose frame-to-frame change one global shift and zoom explains to this share is a pan or zoom, not a dissolve. */
const MOTION_EXPLAINED_MAX = 0.6;

/**
 * Whether a fitted span is a dissolve: every middle frame lies between the ends (its alpha in
 * [0, 1]; a recolouring runs past them), and global motion does not explain the change (a pan
 * over a smooth gradient is a near-perfect mix of its ends, but a shifted copy explains it better).
 */
export function isMixOfEnds(fit: Pick<MixFit, 'alphas' | 'motionExplained'>): boolean {
  return alphasInside(fit.alphas) && fit.motionExplained < MOTION_EXPLAINED_MAX;
}

function alphasInside(alphas: number[]): boolean {
  return alphas.every((a) => a >= -MIX_ALPHA_SLACK && a <= 1 + MIX_ALPHA_SLACK);
}

/** Features the classifier can take: logs of zero ratios floored, undefined differences (the first frames) as 0. */
function finite(xs: number[]): number[] {
  return xs.map((x) => (Number.isFinite(x) ? x : Number.isNaN(x) ? 0 : Math.sign(x) * 5));
}

/** c[i] over the mean of its ADAPTIVE_WINDOW neighbours on each side (floored at 1). */
function adaptiveRatio(c: number[], i: number): number {
  let sum = 0;
  let count = 0;
  for (let k = i - ADAPTIVE_WINDOW; k <= i + ADAPTIVE_WINDOW; k++) {
    if (k === i || k < 1 || k >= c.length || Number.isNaN(c[k])) continue;
    sum += c[k];
    count++;
  }
  return (Number.isFinite(c[i]) ? Math.max(c[i], 0) : 0) / Math.max(count ? sum / count : 0, 1);
}

/** One cut per frame, with the highest score any scale gave it. */
function mergeCuts(lists: { index: number; score: number }[][]): { index: number; score: number }[] {
  const byIndex = new Map<number, number>();
  for (const h of lists.flat()) byIndex.set(h.index, Math.max(byIndex.get(h.index) ?? 0, h.score));
  return [...byIndex].sort((a, b) => a[0] - b[0]).map(([index, score]) => ({ index, score }));
}

const HUE_BINS = 12;
const HUE_LEVELS = 3;
const GREY_BINS = 8;

/** Colour histogram of a frame: chroma-weighted pixels by hue and brightness level, the rest by grey level; sums to 1. */
export function colourHistogram(f: FrameFeatures): Float32Array {
  const h = new Float32Array(HUE_BINS * HUE_LEVELS + GREY_BINS);
  const n = f.val.length;
  for (let p = 0; p < n; p++) {
    const w = f.hueWeight[p] / 255;
    const v = f.val[p];
    if (w > 0) h[Math.floor((f.hue[p] * HUE_BINS) / 180) * HUE_LEVELS + Math.min(HUE_LEVELS - 1, Math.floor((v * HUE_LEVELS) / 256))] += w;
    if (w < 1) h[HUE_BINS * HUE_LEVELS + Math.floor((v * GREY_BINS) / 256)] += 1 - w;
  }
  for (let i = 0; i < h.length; i++) h[i] /= Math.max(1, n);
  return h;
}

/** Half the L1 distance of two histograms, as a percentage (0: same colours, 100: none shared). */
export function histogramDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return 50 * sum;
}

/** True when the picture before frame i comes back within FLASH_FRAMES frames after it, or frame i brings back one from just before. */
function flashAt(diffs: Map<number, number[]>, i: number, n: number): boolean {
  const jump = diffs.get(1)![i];
  for (let j = 1; j <= FLASH_FRAMES && i + j < n; j++) {
    const back = diffs.get(j + 1)![i + j]; // frame i - 1 against frame i + j
    if (back < FLASH_RETURN * jump) return true;
  }
  // The return from a flash: frame i matches one from before the flash.
  for (let j = 1; j <= FLASH_FRAMES && i - 1 - j >= 0; j++) {
    const back = diffs.get(j + 1)![i]; // frame i - 1 - j against frame i
    if (back < FLASH_RETURN * jump) return true;
  }
  return false;
}

/**
 * How far the colours from before frame i's jump come back within FLASH_FRAMES frames (the
 * histogram of frame i - 1 against those after i, and of frames before i - 1 against i), over
 * the jump itself (capped at 3): a flash, coloured or over half the frame, returns to the colours
 * it left while a zoom or rotation goes on moving the pixels, which the histogram is blind to;
 * a cut does not return.
 */
function histFlash(hist: Map<number, number[]>, i: number, n: number): number {
  const jump = Math.max(hist.get(1)![i], 1);
  let back = Infinity;
  for (let j = 1; j <= FLASH_FRAMES; j++) {
    const after = i + j < n ? hist.get(j + 1)![i + j] : NaN;
    const before = i - 1 - j >= 0 ? hist.get(j + 1)![i] : NaN;
    if (!Number.isNaN(after)) back = Math.min(back, after);
    if (!Number.isNaN(before)) back = Math.min(back, before);
  }
  return Number.isFinite(back) ? Math.min(3, back / jump) : 3;
}

/** |mid - (b + alpha (a - b))| / |a - b| (L1 over blocks and channels) with the least-squares alpha in [0, 1]. */
export function mixResidual(a: Uint8Array, mid: Uint8Array, b: Uint8Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += (mid[i] - b[i]) * d;
    den += d * d;
  }
  if (den === 0) return Infinity;
  const alpha = Math.min(1, Math.max(0, num / den));
  let residual = 0;
  let spread = 0;
  for (let i = 0; i < a.length; i++) {
    residual += Math.abs(mid[i] - b[i] - alpha * (a[i] - b[i]));
    spread += Math.abs(a[i] - b[i]);
  }
  return residual / spread;
}

/** Mean RGB of each block x block square (edge blocks smaller), as an RGB image of the blocks. */
export function blockMeans(rgb: Uint8Array, width: number, height: number, block: number): Uint8Array {
  const cols = Math.ceil(width / block);
  const rows = Math.ceil(height / block);
  const sums = new Float64Array(cols * rows * 3);
  const counts = new Float64Array(cols * rows);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / block) * cols;
    for (let x = 0; x < width; x++) {
      const b = row + Math.floor(x / block);
      const i = (y * width + x) * 3;
      sums[b * 3] += rgb[i];
      sums[b * 3 + 1] += rgb[i + 1];
      sums[b * 3 + 2] += rgb[i + 2];
      counts[b] += 1;
    }
  }
  const out = new Uint8Array(cols * rows * 3);
  for (let b = 0; b < counts.length; b++) for (let ch = 0; ch < 3; ch++) out[b * 3 + ch] = Math.round(sums[b * 3 + ch] / counts[b]);
  return out;
}

/** Median of a lagged series over the `span` values ending at `before` and those starting at `after`. */
function lagMedian(e: number[], before: number, after: number, span: number): number {
  const xs: number[] = [];
  for (let k = before - span; k <= before; k++) if (k >= 0 && k < e.length && !Number.isNaN(e[k])) xs.push(e[k]);
  for (let k = after; k <= after + span; k++) if (k >= 0 && k < e.length && !Number.isNaN(e[k])) xs.push(e[k]);
  if (xs.length === 0) return 0;
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

/** Median consecutive difference in the `span` frames before `before` and in those after `after`: [the calmer, the busier]. */
function sideMedians(c: number[], before: number, after: number, span: number): [number, number] {
  const median = (from: number, to: number) => {
    const xs: number[] = [];
    for (let k = from; k <= to; k++) if (k >= 1 && k < c.length && !Number.isNaN(c[k])) xs.push(c[k]);
    if (xs.length === 0) return null;
    xs.sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)];
  };
  const sides = [median(before - span, before), median(after, after + span - 1)].filter((x): x is number => x !== null);
  if (sides.length === 0) return [0, 0];
  return [Math.min(...sides), Math.max(...sides)];
}

export async function detectScenes(frames: AsyncIterable<RgbFrame>, opts: SceneDetectorOptions): Promise<SceneBoundary[]> {
  const detector = new SceneDetector(opts);
  for await (const frame of frames) detector.push(frame);
  return detector.finish();
}
