import { test } from 'node:test';
import assert from 'node:assert/strict';
import { audioOnsetEnvelope, estimateAvOffset, MIN_EVENTS } from '../../../stages/align/av-sync.ts';
import { greyOf, motionEnergy } from '../../../stages/decode/frame-signals.ts';
import { mulberry32 } from '../../../corpora/demo-corpus.ts';

const FPS = 25;
const RATE = 16000;

/** Irregular event frames, as the fixtures make them. */
function eventFrames(rng: () => number, frames: number): number[] {
  const out: number[] = [];
  for (let f = 5 + Math.floor(rng() * 5); f < frames - 5; f += 5 + Math.floor(rng() * 10)) out.push(f);
  return out;
}

/** Motion energy of a flash that appears at each event and fades: a spike then a small tail. */
function visualSignal(frames: number, events: number[]): number[] {
  const v = Array.from({ length: frames }, (_, k) => (k === 0 ? NaN : 0.2));
  for (const e of events) {
    v[e] += 40;
    if (e + 1 < frames) v[e + 1] += 15;
    if (e + 2 < frames) v[e + 2] += 8;
  }
  return v;
}

/** PCM with quiet noise and a 30 ms click at each event time + delay. */
function clickTrack(rng: () => number, seconds: number, times: number[]): Float32Array {
  const pcm = new Float32Array(Math.round(seconds * RATE));
  for (let i = 0; i < pcm.length; i++) pcm[i] = (rng() - 0.5) * 0.01;
  for (const t of times) {
    const first = Math.round(t * RATE);
    for (let n = 0; n < 0.03 * RATE; n++) if (first + n >= 0 && first + n < pcm.length) pcm[first + n] += 0.5 * Math.exp(-n / (0.01 * RATE)) * Math.sin((2 * Math.PI * 1000 * n) / RATE);
  }
  return pcm;
}

test('the onset envelope puts a click in the bin of its frame interval', () => {
  const rng = mulberry32(3);
  const pcm = clickTrack(rng, 2, [0.4, 1.2]);
  const env = audioOnsetEnvelope(pcm, RATE, FPS);
  assert.equal(env.length, 50);
  // Bin j holds the sounds that start in ((j - 1) / fps, j / fps]: a click on frame 10's time is frame 10's.
  const max = Math.max(...env);
  const peaks = Array.from(env.keys()).filter((j) => env[j] > 0.5 * max);
  assert.deepEqual(peaks, [10, 30]);
  // A click between two frames belongs to the later one (the first frame that can show its cause).
  const between = audioOnsetEnvelope(clickTrack(rng, 2, [0.41, 1.23]), RATE, FPS);
  const bmax = Math.max(...between);
  assert.deepEqual(Array.from(between.keys()).filter((j) => between[j] > 0.5 * bmax), [11, 31]);
  assert.ok(Array.from(env).every((x) => x >= 0));
});

test('steady noise gives no onsets at all', () => {
  const rng = mulberry32(4);
  const pcm = clickTrack(rng, 3, []);
  assert.equal(Array.from(audioOnsetEnvelope(pcm, RATE, FPS)).filter((x) => x > 0).length, 0);
});

test('known delays are recovered to the frame, with high confidence, for both signs', () => {
  const rng = mulberry32(11);
  const frames = 100;
  const lead = 15;
  for (const delayFrames of [-12, -5, -1, 0, 2, 7, 15]) {
    const events = eventFrames(rng, frames);
    const visual = visualSignal(frames, events);
    // The audio window starts `lead` frames before the clip, as the decoder pads it.
    const pcm = clickTrack(rng, (frames + 2 * lead) / FPS, events.map((e) => (e + lead + delayFrames) / FPS));
    const result = estimateAvOffset({ visual, audio: audioOnsetEnvelope(pcm, RATE, FPS), audioLead: lead, fps: FPS, vshift: 15 });
    assert.equal(result.offsetFrames, delayFrames, `delay ${delayFrames}`);
    // The sub-frame refinement stays within half a frame of the whole-frame shift.
    assert.ok(Math.abs(result.offsetMs - delayFrames * 40) <= 20, `offset ${result.offsetMs} ms for delay ${delayFrames}`);
    assert.equal(result.distances.length, 31);
    assert.ok(result.confidence >= 0.7, `confidence ${result.confidence} for delay ${delayFrames}`);
    assert.ok(result.peakMargin > 0.3, `margin ${result.peakMargin}`);
  }
});

test('audio unrelated to the picture gets a low confidence; too few events get none', () => {
  const rng = mulberry32(5);
  const frames = 100;
  const confidences: number[] = [];
  for (let i = 0; i < 5; i++) {
    const events = eventFrames(rng, frames);
    const clicks = events.map(() => rng() * 5);
    const r = estimateAvOffset({ visual: visualSignal(frames, events), audio: audioOnsetEnvelope(clickTrack(rng, 5.2, clicks), RATE, FPS), audioLead: 15, fps: FPS, vshift: 15 });
    confidences.push(r.confidence);
  }
  assert.ok(Math.max(...confidences) < 0.7, `unrelated confidences ${confidences.map((c) => c.toFixed(2))}`);

  const few = [20, 50].slice(0, MIN_EVENTS - 1);
  const sparse = estimateAvOffset({ visual: visualSignal(frames, few), audio: audioOnsetEnvelope(clickTrack(rng, 5.2, few.map((e) => (e + 15) / FPS)), RATE, FPS), audioLead: 15, fps: FPS, vshift: 15 });
  assert.equal(sparse.confidence, 0);
  assert.equal(sparse.offsetFrames, 0);
});

test('motion energy is the mean absolute grey difference', () => {
  const w = 4;
  const h = 2;
  const black = new Uint8Array(w * h * 3);
  const white = new Uint8Array(w * h * 3).fill(255);
  const a = greyOf(black, w, h, 1);
  const b = greyOf(white, w, h, 1);
  assert.equal(a.length, 8);
  assert.ok(Math.abs(motionEnergy(a, b) - 255) < 1e-3);
  assert.equal(motionEnergy(a, a), 0);
  assert.equal(greyOf(white, w, h, 2).length, 2);
});
