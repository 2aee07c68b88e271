// A family of synthetic clips (grey frames at the analysis rate, mono PCM) with a known audio
// delay, for measuring the AV sync estimate (tests/stages/video/av-sync-family.test.ts and
// scripts/eval-av-sync.ts). What varies is what makes sync hard on real video:
//   - frame rate: 24, 25, 30 or 60 frames/s, each analysed at its own rate;
//   - delays that are not whole frames, and events that start between frames;
//   - event kinds: flashes that appear and fade; squares that appear and later disappear
//     (two motion spikes, one sound) for a random or a fixed time; sustained sounds (a tone held
//     while the square stays); a moving object that stops on impact (sound at the stop);
//   - clips with nothing to align: digital silence under moving pictures, a still picture under
//     clicks, and clicks unrelated to the pictures;
//   - background: steady motion (a drifting square), audio noise level, click kind.
// Frames are rendered small (64x48) and straight to motion energy with the pipeline's own
// greyOf/motionEnergy/structureEnergy, so the estimate sees what it sees after decoding. Everything follows
// from the seed.
import { greyOf, motionEnergy, structureEnergy } from '../stages/align/av-sync.ts';
import { mulberry32 } from './make-demo-corpus.ts';

export type EventKind = 'flash' | 'appear_disappear' | 'appear_disappear_fixed' | 'sustained' | 'impact';
export type ClipKind = EventKind | 'silence' | 'no_motion' | 'unrelated';

export const FRAME_RATES = [24, 25, 30, 60];
/**
 * Kinds drawn by syncFamily. 'impact' (a sliding object that stops with a sound) is rendered by
 * renderSyncCase but left out of the family: its sound marks the end of motion, which rising
 * motion energy cannot see (docs/video.md, limits).
 */
export const CLIP_KINDS: ClipKind[] = ['flash', 'appear_disappear', 'appear_disappear_fixed', 'sustained', 'silence', 'no_motion', 'unrelated'];
export const SAMPLE_RATE = 16000;

export interface SyncCaseParams {
  seed: number;
  fps: number;
  kind: ClipKind;
  /** Audio delay in ms (positive: heard late); null for clips whose audio has no relation to the picture. */
  delayMs: number | null;
  /** Event times fall between frames (not on frame times). */
  betweenFrames: boolean;
  /** Standard deviation of the background audio noise (full scale 1). */
  noise: number;
  /** Clip length in seconds. */
  seconds: number;
}

export interface SyncCase {
  params: SyncCaseParams;
  /** Motion energy per analysis frame (NaN for frame 0), as the decoder gives it. */
  motion: Float64Array;
  /** Structure energy per analysis frame, as the decoder gives it. */
  structure: Float64Array;
  /** Audio starting `leadFrames` frames before the clip's first frame. */
  pcm: Float32Array;
  leadFrames: number;
  /** Whether the clip has events on both sides that belong together (an offset can be found). */
  alignable: boolean;
}

export interface SyncFamilyOptions {
  seeds: number[];
  casesPerSeed: number;
  /** Largest |delay| in frames (kept inside the search). Default 10. */
  maxDelayFrames?: number;
}

export function syncFamily(opts: SyncFamilyOptions): SyncCaseParams[] {
  const maxDelay = opts.maxDelayFrames ?? 10;
  const out: SyncCaseParams[] = [];
  for (const seed of opts.seeds) {
    const rnd = mulberry32(seed * 7789 + 3);
    for (let k = 0; k < opts.casesPerSeed; k++) {
      const fps = FRAME_RATES[Math.floor(rnd() * FRAME_RATES.length)];
      const kind = CLIP_KINDS[Math.floor(rnd() * CLIP_KINDS.length)];
      // A quarter in sync, the rest delayed by a random amount, often a fraction of a frame.
      const delayFrames = rnd() < 0.25 ? 0 : (rnd() * 2 - 1) * maxDelay;
      const delayMs = kind === 'unrelated' ? null : Math.round((delayFrames * 1000) / fps);
      out.push({ seed: seed * 1000 + k, fps, kind, delayMs, betweenFrames: rnd() < 0.5, noise: [0.002, 0.01, 0.03][Math.floor(rnd() * 3)], seconds: 4 + rnd() * 4 });
    }
  }
  return out;
}

const W = 64;
const H = 48;

interface Square {
  x: number;
  y: number;
  size: number;
  level: number;
}

export function renderSyncCase(p: SyncCaseParams, leadFrames = 15): SyncCase {
  const rnd = mulberry32(p.seed);
  const frames = Math.round(p.seconds * p.fps);
  // Event instants (seconds of picture time), irregular gaps of 0.25-0.85 s.
  const times: number[] = [];
  for (let t = 0.3 + rnd() * 0.3; t < p.seconds - 0.4; t += 0.25 + rnd() * 0.6) {
    times.push(p.betweenFrames ? (Math.floor(t * p.fps) + 0.2 + 0.6 * rnd()) / p.fps : Math.round(t * p.fps) / p.fps);
  }
  const fixedHold = 0.12 + rnd() * 0.1;
  const events = times.map((t) => ({
    t,
    hold: p.kind === 'appear_disappear_fixed' ? fixedHold : 0.08 + rnd() * 0.35,
    x: Math.floor(rnd() * (W - 12)),
    y: Math.floor(rnd() * (H - 12)),
    size: 6 + Math.floor(rnd() * 8),
    level: 140 + rnd() * 110,
    // Impacts: the object slides in from this far away and stops at (x, y) at time t.
    from: (rnd() < 0.5 ? -1 : 1) * (10 + rnd() * 15),
  }));

  // Picture: the frame at analysis frame k shows the scene at time k / fps (an event that starts
  // between frames first shows in the frame after it).
  const motion = new Float64Array(frames);
  const structure = new Float64Array(frames);
  let previous: Float32Array | null = null;
  let bx = rnd() * (W - 8);
  let by = rnd() * (H - 8);
  const vx = 0.6 + rnd();
  const vy = 0.4 + rnd() * 0.8;
  const still = p.kind === 'no_motion';
  for (let k = 0; k < frames; k++) {
    const t = k / p.fps;
    const rgb = new Uint8Array(W * H * 3).fill(30);
    const squares: Square[] = [];
    if (!still) {
      // Steady drift, bouncing: motion that is not an event.
      const px = Math.abs(((bx + vx * k) % (2 * (W - 8))) - (W - 8));
      const py = Math.abs(((by + vy * k) % (2 * (H - 8))) - (H - 8));
      squares.push({ x: px, y: py, size: 8, level: 70 });
      for (const e of events) {
        const age = t - e.t;
        if (p.kind === 'flash' && age >= 0 && age < 0.2) squares.push({ x: e.x, y: e.y, size: e.size, level: e.level * Math.exp(-age / 0.05) });
        if ((p.kind === 'appear_disappear' || p.kind === 'appear_disappear_fixed' || p.kind === 'sustained' || p.kind === 'silence' || p.kind === 'unrelated') && age >= 0 && age < e.hold) squares.push({ x: e.x, y: e.y, size: e.size, level: e.level });
        if (p.kind === 'impact') {
          // Slides in over 0.3 s, stops at t, stays for 0.3 s, then vanishes slowly (fades over 0.3 s).
          if (age >= -0.3 && age < 0) squares.push({ x: e.x + (e.from * -age) / 0.3, y: e.y, size: e.size, level: e.level });
          else if (age >= 0 && age < 0.6) squares.push({ x: e.x, y: e.y, size: e.size, level: e.level * Math.min(1, (0.6 - age) / 0.3) });
        }
      }
    } else squares.push({ x: bx, y: by, size: 8, level: 70 });
    for (const s of squares) fill(rgb, s);
    const grey = greyOf(rgb, W, H, 1);
    motion[k] = previous ? motionEnergy(previous, grey) : NaN;
    structure[k] = structureEnergy(grey, W, H);
    previous = grey;
  }

  // Sound: from leadFrames before the clip to leadFrames after it.
  const lead = leadFrames / p.fps;
  const pcm = new Float32Array(Math.round((p.seconds + 2 * lead) * SAMPLE_RATE));
  if (p.kind !== 'silence') for (let i = 0; i < pcm.length; i++) pcm[i] = gaussian(rnd) * p.noise;
  const heard = p.kind === 'unrelated' ? times.map(() => 0.2 + rnd() * (p.seconds - 0.4)) : times.map((t) => t + (p.delayMs ?? 0) / 1000);
  if (p.kind !== 'silence') {
    const clickKind = Math.floor(rnd() * 3);
    for (const [i, t] of heard.entries()) {
      const at = t + lead;
      if (p.kind === 'sustained') tone(pcm, at, events[i].hold, 300 + rnd() * 800);
      else if (clickKind === 0) click(pcm, at, 1000 + rnd() * 2000);
      else if (clickKind === 1) noiseBurst(pcm, at, rnd);
      else thud(pcm, at);
    }
  }
  const alignable = p.kind !== 'silence' && p.kind !== 'no_motion' && p.kind !== 'unrelated' && times.length >= 3;
  return { params: p, motion, structure, pcm, leadFrames, alignable };
}

function fill(rgb: Uint8Array, s: Square): void {
  const x0 = Math.max(0, Math.round(s.x));
  const y0 = Math.max(0, Math.round(s.y));
  for (let y = y0; y < Math.min(H, y0 + s.size); y++) {
    for (let x = x0; x < Math.min(W, x0 + s.size); x++) {
      const i = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) rgb[i + c] = Math.max(rgb[i + c], Math.min(255, Math.round(s.level)));
    }
  }
}

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

const sampleAt = (t: number) => Math.round(t * SAMPLE_RATE);

/** A 40 ms decaying two-tone click. */
function click(pcm: Float32Array, at: number, freq: number): void {
  const first = sampleAt(at);
  for (let n = 0; n < 0.04 * SAMPLE_RATE; n++) {
    const i = first + n;
    if (i < 0 || i >= pcm.length) continue;
    const t = n / SAMPLE_RATE;
    pcm[i] += 0.4 * Math.exp(-t / 0.012) * (Math.sin(2 * Math.PI * freq * t) + 0.5 * Math.sin(2 * Math.PI * 2.6 * freq * t));
  }
}

/** A 60 ms burst of noise with a fast attack. */
function noiseBurst(pcm: Float32Array, at: number, rnd: () => number): void {
  const first = sampleAt(at);
  for (let n = 0; n < 0.06 * SAMPLE_RATE; n++) {
    const i = first + n;
    if (i >= 0 && i < pcm.length) pcm[i] += 0.3 * Math.exp(-n / (0.02 * SAMPLE_RATE)) * (rnd() * 2 - 1);
  }
}

/** A low 80 ms thud (80 Hz, decaying). */
function thud(pcm: Float32Array, at: number): void {
  const first = sampleAt(at);
  for (let n = 0; n < 0.08 * SAMPLE_RATE; n++) {
    const i = first + n;
    const t = n / SAMPLE_RATE;
    if (i >= 0 && i < pcm.length) pcm[i] += 0.6 * Math.exp(-t / 0.03) * Math.sin(2 * Math.PI * 80 * t);
  }
}

/** A held note (four harmonics) with a 10 ms attack and a 40 ms release, for `seconds`: a sound that goes on, not a click. */
function tone(pcm: Float32Array, at: number, seconds: number, freq: number): void {
  const first = sampleAt(at);
  const length = seconds * SAMPLE_RATE;
  const release = 0.04 * SAMPLE_RATE;
  for (let n = 0; n < length + release; n++) {
    const i = first + n;
    if (i < 0 || i >= pcm.length) continue;
    const t = n / SAMPLE_RATE;
    const envelope = Math.min(1, t / 0.01) * (n < length ? 1 : 1 - (n - length) / release);
    let v = 0;
    for (let h = 1; h <= 4; h++) v += Math.sin(2 * Math.PI * h * freq * t) / h;
    pcm[i] += 0.15 * envelope * v;
  }
}
