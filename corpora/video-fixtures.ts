// Synthetic videos with known audio-visual truth, for tests and benchmarks. Everything follows
// from the seed; truth.json says what a reader should find.
//
//   sync/    flash clips: squares flash (and fade) at irregular, seeded instants while a click
//            sounds at the same instants; some clips carry the clicks delayed by a known amount
//            (positive = audio late), some are in sync, and a few carry clicks unrelated to
//            the flashes (no offset can be trusted).
//   bad/     files that must each end as a reject with a stated reason (zero-byte, truncated,
//            garbage, no audio, no video, too short) and a good clip whose sidecar subtitles
//            are unreadable (kept, with a subtitle_parse_failed reject for the sidecar).
//   scenes/  one clip built from lavfi test sources with known cut times.
//   demo/    slideshows of the demo corpus's scenes with subtitles (.srt, .vtt, HowTo100M json)
//            whose timings are shifted by known amounts, for narration alignment.
//
//   node --import tsx scripts/make-video-fixtures.ts OUT_DIR [--seed N]
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { encodeWav } from '../stages/decode/audio-extract.ts';
import { runFfmpeg } from '../stages/decode/ffmpeg-run.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { formatSrtTime, formatVttTime } from '../stages/decode/subtitles.ts';
import { makeDemoCorpus, mulberry32 } from './demo-corpus.ts';

export interface VideoFixtureOptions {
  seed?: number;
  /** Injected audio delays in ms, one flash clip each. */
  delaysMs?: number[];
  /** In-sync flash clips. */
  inSyncClips?: number;
  /** Flash clips whose clicks are unrelated to the flashes. */
  unrelatedClips?: number;
  /** Flash clip length in seconds. */
  clipSeconds?: number;
  fps?: number;
  width?: number;
  height?: number;
  /** Demo slideshows to make (0 skips the demo corpus). */
  demoVideos?: number;
  /** false: only the sync clips (no bad files, scene clip or demo videos), e.g. for benchmarks. */
  extras?: boolean;
}

export interface SyncClipTruth {
  file: string;
  /** null: the clicks are unrelated to the flashes. */
  delay_ms: number | null;
  /** Flash onsets in seconds of the picture; clicks sound at onset + delay. */
  events_s: number[];
}

export interface BadFileTruth {
  file: string;
  stage: string;
  reason: string;
}

export interface SubtitleTruth {
  text: string;
  /** When the scene the sentence describes is on screen. */
  true_start: number;
  true_end: number;
  /** What the sidecar says. */
  start: number;
  end: number;
}

export interface DemoVideoTruth {
  file: string;
  sidecar: string;
  shift_s: number;
  sentences: SubtitleTruth[];
}

export interface VideoFixtureTruth {
  seed: number;
  fps: number;
  sync: SyncClipTruth[];
  bad: BadFileTruth[];
  /** null when made without extras. */
  scenes: { file: string; duration_s: number; cuts_s: number[]; short_scene_cut_s: number } | null;
  demo: DemoVideoTruth[];
}

const AUDIO_RATE = 48000;

export async function makeVideoFixtures(dir: string, opts: VideoFixtureOptions = {}): Promise<VideoFixtureTruth> {
  const seed = opts.seed ?? 1;
  const fps = opts.fps ?? 25;
  const width = opts.width ?? 160;
  const height = opts.height ?? 120;
  const seconds = opts.clipSeconds ?? 4;
  const delays = opts.delaysMs ?? [-240, -200, -120, -60, 40, 80, 100, 160, 240, 320];
  const inSync = opts.inSyncClips ?? 3;
  const { ffmpeg } = resolveFfmpeg({});
  const rng = mulberry32(seed);
  const extras = opts.extras ?? true;
  for (const sub of extras ? ['sync', 'bad', 'scenes', 'demo'] : ['sync']) {
    await rm(path.join(dir, sub), { recursive: true, force: true }); // only the folders this script owns
    await mkdir(path.join(dir, sub), { recursive: true });
  }

  const sync: SyncClipTruth[] = [];
  const clipDelays = [...delays, ...Array.from({ length: inSync }, () => 0)];
  const names = new Set<string>();
  for (const [i, delay] of clipDelays.entries()) {
    let name = delay === 0 ? `insync-${Math.max(0, i - delays.length)}.mp4` : `delay_${delay >= 0 ? '+' : ''}${delay}ms.mp4`;
    // A delay listed twice (or a zero among the delays) still gets a file of its own.
    if (names.has(name)) name = name.replace(/\.mp4$/, `-${i}.mp4`);
    names.add(name);
    const file = path.join('sync', name);
    const events = await writeFlashClip(ffmpeg, path.join(dir, file), { rng, fps, width, height, seconds, delayMs: delay });
    sync.push({ file, delay_ms: delay, events_s: events });
  }
  for (let i = 0; i < (opts.unrelatedClips ?? 3); i++) {
    const file = path.join('sync', `unrelated-${i}.mp4`);
    const events = await writeFlashClip(ffmpeg, path.join(dir, file), { rng, fps, width, height, seconds, delayMs: 0, unrelatedAudio: true });
    sync.push({ file, delay_ms: null, events_s: events });
  }

  const bad = extras ? await writeBadFiles(ffmpeg, dir, { rng, fps, width, height }) : [];
  const scenes = extras ? await writeSceneClip(ffmpeg, dir, width, height, fps) : null;
  const demoCount = extras ? (opts.demoVideos ?? 3) : 0;
  const demo = demoCount > 0 ? await writeDemoVideos(ffmpeg, dir, { rng, fps, seed, count: demoCount }) : [];

  const truth: VideoFixtureTruth = { seed, fps, sync, bad, scenes, demo };
  await writeFile(path.join(dir, 'truth.json'), JSON.stringify(truth, null, 2) + '\n');
  return truth;
}

interface FlashOptions {
  rng: () => number;
  fps: number;
  width: number;
  height: number;
  seconds: number;
  delayMs: number;
  /** Clicks at their own random instants, unrelated to the flashes (a clip that cannot be synced). */
  unrelatedAudio?: boolean;
  /** Encode with the index at the front (a truncated copy then still probes). */
  faststart?: boolean;
}

/** Brightness of a flash over the frames after it appears: a sharp onset and a slow fade, like a real flash. */
const FLASH_FADE = [1, 0.55, 0.3, 0.15, 0.07];

async function writeFlashClip(ffmpeg: string, out: string, o: FlashOptions): Promise<number[]> {
  const frames = Math.round(o.seconds * o.fps);
  // Irregular gaps give the correlation a single clear peak.
  const eventFrames: number[] = [];
  for (let f = Math.round(0.2 * o.fps + o.rng() * 0.3 * o.fps); f < frames - 0.3 * o.fps; f += Math.round((0.22 + o.rng() * 0.4) * o.fps)) eventFrames.push(f);
  const flashes = eventFrames.map((frame) => ({
    frame,
    x: Math.floor(o.rng() * (o.width - 40)),
    y: Math.floor(o.rng() * (o.height - 40)),
    colour: [200 + o.rng() * 55, 200 + o.rng() * 55, 200 + o.rng() * 55],
  }));

  const rgb = new Uint8Array(frames * o.width * o.height * 3);
  let bx = o.rng() * (o.width - 16);
  let by = o.rng() * (o.height - 16);
  let vx = 1.5;
  let vy = 1.1;
  for (let f = 0; f < frames; f++) {
    const base = f * o.width * o.height * 3;
    // A dim square drifting and bouncing off the walls: steady motion that is not an event.
    fillRect(rgb, base, o.width, Math.round(bx), Math.round(by), 16, 16, [70, 70, 90], 1);
    bx += vx;
    by += vy;
    if (bx < 0 || bx > o.width - 16) vx = -vx;
    if (by < 0 || by > o.height - 16) vy = -vy;
    for (const fl of flashes) {
      const age = f - fl.frame;
      if (age >= 0 && age < FLASH_FADE.length) fillRect(rgb, base, o.width, fl.x, fl.y, 36, 36, fl.colour, FLASH_FADE[age]);
    }
  }

  const pcm = new Float32Array(Math.round(o.seconds * AUDIO_RATE));
  for (let i = 0; i < pcm.length; i++) pcm[i] = (o.rng() - 0.5) * 0.01;
  const events = eventFrames.map((f) => f / o.fps);
  const clickTimes = o.unrelatedAudio ? events.map(() => 0.1 + o.rng() * (o.seconds - 0.2)) : events.map((t) => t + o.delayMs / 1000);
  for (const t of clickTimes) addClick(pcm, t);
  await encodeClip(ffmpeg, out, rgb, pcm, o);
  return events;
}

function fillRect(rgb: Uint8Array, base: number, width: number, x0: number, y0: number, w: number, h: number, colour: number[], level: number): void {
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      const i = base + (y * width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[i + c] = Math.max(rgb[i + c], Math.round(colour[c] * level));
    }
  }
}

/** A 40 ms two-tone burst with a fast decay; clicks before 0 or past the end are cut. */
function addClick(pcm: Float32Array, at: number): void {
  const first = Math.round(at * AUDIO_RATE);
  const length = Math.round(0.04 * AUDIO_RATE);
  for (let n = 0; n < length; n++) {
    const i = first + n;
    if (i < 0 || i >= pcm.length) continue;
    const t = n / AUDIO_RATE;
    pcm[i] += 0.5 * Math.exp(-t / 0.012) * (Math.sin(2 * Math.PI * 1000 * t) + 0.5 * Math.sin(2 * Math.PI * 2600 * t));
  }
}

async function encodeClip(ffmpeg: string, out: string, rgb: Uint8Array | null, pcm: Float32Array | null, o: { fps: number; width: number; height: number; faststart?: boolean }): Promise<void> {
  const wavPath = `${out}.tmp.wav`;
  const args = ['-y', '-v', 'error'];
  if (rgb) args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${o.width}x${o.height}`, '-r', String(o.fps), '-i', 'pipe:0');
  if (pcm) {
    await writeFile(wavPath, encodeWav(pcm, AUDIO_RATE));
    args.push('-i', wavPath);
  }
  if (rgb) args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(o.fps), '-pix_fmt', 'yuv420p');
  if (pcm) args.push('-c:a', 'aac', '-b:a', '64k');
  if (o.faststart) args.push('-movflags', '+faststart');
  args.push(out);
  try {
    await runFfmpeg(ffmpeg, args, { stdin: rgb ?? undefined });
  } finally {
    if (pcm) await rm(wavPath, { force: true });
  }
}

async function writeBadFiles(ffmpeg: string, dir: string, o: { rng: () => number; fps: number; width: number; height: number }): Promise<BadFileTruth[]> {
  const at = (name: string) => path.join(dir, 'bad', name);
  const flash = { ...o, seconds: 3, delayMs: 0 };
  await writeFile(at('empty.mp4'), new Uint8Array(0));

  // The index (moov) of a plain mp4 is at the end: cutting the file in half loses it.
  await writeFlashClip(ffmpeg, at('whole.tmp.mp4'), flash);
  const whole = await readFile(at('whole.tmp.mp4'));
  await writeFile(at('truncated.mp4'), whole.subarray(0, whole.length >> 1));
  // With the index at the front the cut file still probes, but its later clips cannot be decoded.
  await writeFlashClip(ffmpeg, at('whole-faststart.tmp.mp4'), { ...flash, seconds: 8, faststart: true });
  const faststart = await readFile(at('whole-faststart.tmp.mp4'));
  await writeFile(at('truncated-faststart.mp4'), faststart.subarray(0, Math.floor(faststart.length * 0.4)));
  await rm(at('whole.tmp.mp4'));
  await rm(at('whole-faststart.tmp.mp4'));

  const garbage = new Uint8Array(4096).map(() => Math.floor(o.rng() * 256));
  await writeFile(at('garbage.mp4'), garbage);

  await runFfmpeg(ffmpeg, ['-y', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=3`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', at('no-audio.mp4')]);
  await runFfmpeg(ffmpeg, ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:a', 'aac', at('audio-only.mp4')]);
  await writeFlashClip(ffmpeg, at('too-short.mp4'), { ...flash, seconds: 0.48 });

  await writeFlashClip(ffmpeg, at('bad-subtitles.mp4'), flash);
  await writeFile(at('bad-subtitles.srt'), 'this is not a subtitle file\nno cue timings at all\n');

  return [
    { file: 'bad/empty.mp4', stage: 'video_probe', reason: 'probe_failed' },
    { file: 'bad/truncated.mp4', stage: 'video_probe', reason: 'probe_failed' },
    { file: 'bad/truncated-faststart.mp4', stage: 'video_decode', reason: 'decode_failed' },
    { file: 'bad/garbage.mp4', stage: 'video_probe', reason: 'probe_failed' },
    { file: 'bad/no-audio.mp4', stage: 'video_probe', reason: 'no_audio_stream' },
    { file: 'bad/audio-only.mp4', stage: 'video_probe', reason: 'no_video_stream' },
    { file: 'bad/too-short.mp4', stage: 'video_probe', reason: 'too_short' },
    { file: 'bad/bad-subtitles.srt', stage: 'video_subtitles', reason: 'subtitle_parse_failed' },
  ];
}

/** testsrc2 | smptebars | a 0.3 s red flash | rgbtestsrc: cuts at 2.0, 3.5 and 3.8 s. */
async function writeSceneClip(ffmpeg: string, dir: string, width: number, height: number, fps: number): Promise<NonNullable<VideoFixtureTruth['scenes']>> {
  const size = `${width}x${height}`;
  const parts = [`testsrc2=size=${size}:rate=${fps}:duration=2`, `smptebars=size=${size}:rate=${fps}:duration=1.5`, `color=c=red:size=${size}:rate=${fps}:duration=0.3`, `rgbtestsrc=size=${size}:rate=${fps}:duration=1.2`];
  const file = path.join('scenes', 'four-shots.mp4');
  const args = ['-y', '-v', 'error'];
  for (const p of parts) args.push('-f', 'lavfi', '-i', p);
  args.push('-f', 'lavfi', '-i', 'sine=frequency=330:duration=5');
  args.push('-filter_complex', `${parts.map((_, i) => `[${i}:v]`).join('')}concat=n=${parts.length}:v=1:a=0,format=yuv420p[v]`, '-map', '[v]', '-map', `${parts.length}:a`);
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', path.join(dir, file));
  await runFfmpeg(ffmpeg, args);
  return { file, duration_s: 5, cuts_s: [2, 3.5], short_scene_cut_s: 3.8 };
}

/** Slideshows of demo-corpus scenes; each scene's caption is a subtitle whose timing is shifted. */
async function writeDemoVideos(ffmpeg: string, dir: string, o: { rng: () => number; fps: number; seed: number; count: number }): Promise<DemoVideoTruth[]> {
  const scenesPerVideo = 5;
  const side = 128;
  const corpusDir = path.join(dir, 'demo', 'corpus.tmp');
  await makeDemoCorpus(corpusDir, { count: scenesPerVideo * o.count, seed: o.seed, swapFraction: 0, size: side });
  const truth = JSON.parse(await readFile(path.join(corpusDir, 'truth.json'), 'utf8')) as { samples: Record<string, { file: string; true_caption: string }> };
  const samples = Object.values(truth.samples);
  const sidecars = ['json', 'vtt', 'srt'] as const;
  const out: DemoVideoTruth[] = [];
  for (let v = 0; v < o.count; v++) {
    const durations = Array.from({ length: scenesPerVideo }, () => Math.round((2 + o.rng() * 2) * o.fps) / o.fps);
    const total = durations.reduce((a, b) => a + b, 0);
    const frames = Math.round(total * o.fps);
    const rgb = new Uint8Array(frames * side * side * 3);
    const sentences: SubtitleTruth[] = [];
    const shift = (o.rng() < 0.5 ? -1 : 1) * (0.6 + o.rng() * 0.8);
    let t = 0;
    for (let s = 0; s < scenesPerVideo; s++) {
      const sample = samples[v * scenesPerVideo + s];
      const image = await sharp(path.join(corpusDir, 'images', sample.file)).resize(side, side).removeAlpha().raw().toBuffer();
      const first = Math.round(t * o.fps);
      const last = Math.round((t + durations[s]) * o.fps);
      for (let f = first; f < last; f++) rgb.set(image, f * side * side * 3);
      // The narration covers the middle of the scene; the sidecar carries it shifted with jitter.
      const trueStart = t + 0.25 * durations[s];
      const trueEnd = t + 0.85 * durations[s];
      const moved = shift + (o.rng() - 0.5) * 0.4;
      sentences.push({ text: sample.true_caption, true_start: round3(trueStart), true_end: round3(trueEnd), start: round3(Math.max(0, trueStart + moved)), end: round3(Math.max(0.1, trueEnd + moved)) });
      t += durations[s];
    }
    const pcm = new Float32Array(Math.round(total * AUDIO_RATE));
    for (let i = 0; i < pcm.length; i++) pcm[i] = (o.rng() - 0.5) * 0.02;
    const file = path.join('demo', `demo-${v}.mp4`);
    await encodeClip(ffmpeg, path.join(dir, file), rgb, pcm, { fps: o.fps, width: side, height: side });
    const format = sidecars[v % sidecars.length];
    const sidecar = path.join('demo', `demo-${v}.${format}`);
    await writeFile(path.join(dir, sidecar), renderSidecar(format, sentences));
    out.push({ file, sidecar, shift_s: round3(shift), sentences });
  }
  await rm(corpusDir, { recursive: true, force: true });
  return out;
}

function renderSidecar(format: 'srt' | 'vtt' | 'json', sentences: SubtitleTruth[]): string {
  if (format === 'json') return JSON.stringify({ text: sentences.map((s) => s.text), start: sentences.map((s) => s.start), end: sentences.map((s) => s.end) }) + '\n';
  if (format === 'vtt') return `WEBVTT\n\n${sentences.map((s) => `${formatVttTime(s.start)} --> ${formatVttTime(s.end)}\n${s.text}\n`).join('\n')}`;
  return sentences.map((s, i) => `${i + 1}\n${formatSrtTime(s.start)} --> ${formatSrtTime(s.end)}\n${s.text}\n`).join('\n');
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
