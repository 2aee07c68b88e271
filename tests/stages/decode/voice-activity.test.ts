// Voice-activity detection on real espeak-ng speech, alone and under white noise, and on tracks
// with no speech at all (digital silence, noise alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '../../../core/random.ts';
import { decodeWav } from '../../../stages/decode/audio-extract.ts';
import { detectSpeech } from '../../../stages/decode/voice-activity.ts';

async function say(text: string): Promise<{ pcm: Float32Array; rate: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-vad-'));
  try {
    await promisify(execFile)('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', path.join(dir, 'a.wav'), text]);
    const { pcm, sampleRate } = decodeWav(new Uint8Array(await readFile(path.join(dir, 'a.wav'))));
    return { pcm, rate: sampleRate };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function noise(n: number, sigma: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: n }, () => sigma * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd()));
}

test('speech placed at a known time is found there, in quiet and under noise', async () => {
  const { pcm, rate } = await say('Turn the screw clockwise until it sits flush with the board.');
  let first = 0;
  let last = pcm.length - 1;
  while (Math.abs(pcm[first]) < 0.02) first++;
  while (Math.abs(pcm[last]) < 0.02) last--;
  for (const sigma of [0, 0.02]) {
    const track = noise(rate * 8, sigma, 3);
    const at = 2.5 * rate;
    for (let i = 0; i < pcm.length; i++) track[at + i] += pcm[i] * 0.5;
    const segments = detectSpeech(track, rate);
    assert.ok(segments.length >= 1, `sigma ${sigma}: no speech`);
    const start = segments[0].start;
    const end = segments.at(-1)!.end;
    assert.ok(Math.abs(start - (2.5 + first / rate)) < 0.1, `sigma ${sigma}: starts ${start}`);
    assert.ok(Math.abs(end - (2.5 + last / rate)) < 0.25, `sigma ${sigma}: ends ${end}`);
    // Nothing outside the sentence.
    assert.ok(segments.every((s) => s.start > 2.3 && s.end < 2.5 + pcm.length / rate + 0.2), JSON.stringify(segments));
  }
});

test('silence and noise alone hold no speech', () => {
  assert.deepEqual(detectSpeech(new Float32Array(16000 * 5), 16000), []);
  assert.deepEqual(detectSpeech(noise(16000 * 5, 0.05, 9), 16000), []);
  assert.deepEqual(detectSpeech(new Float32Array(10), 16000), []);
});
