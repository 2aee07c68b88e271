// The shared decode of scenes mode on real files made by ffmpeg: the detector sees the frames
// its own decode would give (same boundaries, types and scores), and a clip cut from the pass
// has the frames, motion signal and audio of a per-clip decode of the same window.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveFfmpeg } from '../../../stages/decode/ffmpeg-path.ts';
import { runFfmpeg } from '../../../stages/decode/ffmpeg-run.ts';
import { outputSize, streamRgbFrames, type RgbFrame } from '../../../stages/decode/video-frames.ts';
import { openClipMedia } from '../../../stages/decode/clip-media.ts';
import { decodeVideoOnce, type VideoPassRequest } from '../../../stages/decode/video-pass.ts';
import { DropError } from '../../../core/stage.ts';
import { SceneDetector, detectScenes } from '../../../stages/pair/scene-detector.ts';
import { SCENE_FRAME_SIDE, sceneDetectorOptions } from '../../../stages/pair/video-clips.ts';
import { videoSourceSchema } from '../../../schemas/video-config.ts';
import { makeSceneFamily, type SceneVideoTruth } from '../../../run/fixtures/scene-fixtures.ts';

const { ffmpeg } = resolveFfmpeg({});
const clipCfg = videoSourceSchema.parse({ kind: 'video', path: '.' }).clip;
const ANALYSIS_FPS = 25;
const SAMPLE_RATE = 16000;
const STORED = { fps: 4, width: 160, height: 120, jpegQuality: 85 };
let dir: string;
let family: SceneVideoTruth[];
/** testsrc2 for 2.5 s, then smptebars for 2.5 s, 25 fps, with a 330 Hz tone. */
let withAudio: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-video-pass-'));
  family = await makeSceneFamily(ffmpeg, dir, { seed: 21, videos: 3, concurrency: 1 });
  withAudio = path.join(dir, 'two-shots.mp4');
  const size = '160x120';
  await runFfmpeg(ffmpeg, [
    '-y', '-v', 'error',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=2.5`,
    '-f', 'lavfi', '-i', `smptebars=size=${size}:rate=25:duration=2.5`,
    '-f', 'lavfi', '-i', 'sine=frequency=330:duration=5',
    '-filter_complex', '[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]', '-map', '[v]', '-map', '2:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', withAudio,
  ]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function passRequest(file: string, durationS: number, scene: { width: number; height: number }, onFrame: (frame: RgbFrame) => void, over: Partial<VideoPassRequest> = {}): VideoPassRequest {
  return {
    ffmpegPath: ffmpeg,
    file,
    durationS,
    stored: STORED,
    analysisFps: ANALYSIS_FPS,
    audio: null,
    scene: { fps: clipCfg.scene_fps, ...scene, onFrame },
    spoolDir: dir,
    spoolName: path.basename(file),
    ...over,
  };
}

test('the detector finds the same boundaries, types and scores in the shared pass as from its own decode', { timeout: 300_000 }, async () => {
  let boundaries = 0;
  for (const t of family) {
    const file = path.join(dir, t.file);
    const size = outputSize(t.width, t.height, SCENE_FRAME_SIDE);
    const own = await detectScenes(streamRgbFrames({ ffmpegPath: ffmpeg, file, startS: 0, durationS: t.duration_s, fps: clipCfg.scene_fps, ...size }), sceneDetectorOptions(clipCfg));
    const detector = new SceneDetector(sceneDetectorOptions(clipCfg));
    await decodeVideoOnce(passRequest(file, t.duration_s, size, (f) => detector.push(f)));
    assert.equal(detector.frames, Math.round(t.duration_s * clipCfg.scene_fps), t.file);
    assert.deepEqual(detector.finish(), own, t.file);
    boundaries += own.length;
  }
  assert.ok(boundaries >= 6, `${boundaries} boundaries: the family must have some to compare`);
});

test('a clip cut from the pass has the frames, motion signal and audio of a per-clip decode', async () => {
  const pass = await decodeVideoOnce(passRequest(withAudio, 5, { width: 64, height: 48 }, () => undefined, { audio: { sampleRate: SAMPLE_RATE, streamDurationS: 5 } }));
  const vshift = 15;
  // 1.0 s lies on the 25 fps grid, so both decodes sample the same frames.
  const cut = await pass.slice({ start: 1, end: 3, leadFrames: vshift, trailFrames: vshift, name: 'two-shots.mp4' });
  const lead = vshift / ANALYSIS_FPS;
  const media = openClipMedia({
    ffmpegPath: ffmpeg,
    file: withAudio,
    startS: 1,
    durationS: 2,
    stored: STORED,
    analysisFps: ANALYSIS_FPS,
    audio: { leadS: lead, trailS: lead, sampleRate: SAMPLE_RATE, streamDurationS: 5 },
  });
  const times: number[] = [];
  for await (const f of media.frames) times.push(f.time);
  assert.deepEqual(cut.frames.map((f) => f.time.toFixed(6)), times.map((t) => t.toFixed(6)));
  assert.ok(cut.frames.every((f) => f.image.bytes[0] === 0xff && f.image.bytes[1] === 0xd8), 'frames are JPEGs');
  assert.equal(cut.frames[0].image.path, 'two-shots.mp4@1.000.jpg');
  const motion = media.motion();
  assert.equal(cut.motion.length, motion.length);
  assert.ok(Number.isNaN(cut.motion[0]) && Number.isNaN(motion[0]));
  for (let i = 1; i < motion.length; i++) assert.ok(Math.abs(cut.motion[i] - motion[i]) < 1e-6, `motion ${i}: ${cut.motion[i]} vs ${motion[i]}`);
  const structure = media.structure();
  for (let i = 0; i < structure.length; i++) assert.ok(Math.abs(cut.structure[i] - structure[i]) < 1e-6, `structure ${i}`);
  // The cut at 2.5 s is in the motion signal of both.
  const peak = cut.motion.indexOf(Math.max(...cut.motion.filter((x) => !Number.isNaN(x))));
  assert.equal(peak, 38);
  const pcm = media.audio()!;
  assert.equal(cut.audio!.leadFrames, vshift);
  assert.equal(cut.audio!.pcm.length, pcm.length);
  let diff = 0;
  let energy = 0;
  for (let i = 0; i < pcm.length; i++) {
    diff += (cut.audio!.pcm[i] - pcm[i]) ** 2;
    energy += pcm[i] ** 2;
  }
  assert.ok(energy > 0 && diff / energy < 0.01, `audio differs: ${(diff / energy).toFixed(4)} of its energy`);
});

test('a window off the analysis grid starts at the next grid frame, with its audio cut around that frame', async () => {
  const pass = await decodeVideoOnce(passRequest(withAudio, 5, { width: 64, height: 48 }, () => undefined, { audio: { sampleRate: SAMPLE_RATE, streamDurationS: 5 } }));
  const cut = await pass.slice({ start: 0.21, end: 1.5, leadFrames: 15, trailFrames: 15, name: 'v' });
  // First analysis frame: 6 / 25 = 0.24 s; only 6 frames of lead exist before it.
  assert.equal(cut.audio!.leadFrames, 6);
  assert.equal(cut.frames[0].time.toFixed(3), '0.240');
  assert.equal(cut.motion.length, Math.round(1.29 * ANALYSIS_FPS));
  assert.equal(cut.audio!.pcm.length, Math.round((1.29 + 21 / ANALYSIS_FPS) * SAMPLE_RATE));
  // Past the video's end the audio is silence, not an error.
  const tail = await pass.slice({ start: 4, end: 5, leadFrames: 15, trailFrames: 15, name: 'v' });
  assert.equal(tail.audio!.pcm.length, Math.round((1 + 30 / ANALYSIS_FPS) * SAMPLE_RATE));
  assert.equal(tail.audio!.pcm.at(-1), 0);
});

test('a file ffmpeg cannot read is a decode_failed drop, not a crash', async () => {
  const bad = path.join(dir, 'not-a-video.mp4');
  await writeFile(bad, 'this is text');
  await assert.rejects(decodeVideoOnce(passRequest(bad, 5, { width: 64, height: 48 }, () => undefined)), (err: unknown) => err instanceof DropError && err.reason === 'decode_failed');
});
