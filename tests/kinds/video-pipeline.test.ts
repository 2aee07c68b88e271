// End to end on real files: fixtures made by ffmpeg, probed, clipped, decoded and synced by
// ffmpeg, frames checked with sharp, shards read back with apache-arrow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import sharp from 'sharp';
import { videoSourceSchema, type VideoSourceConfig } from '../../schemas/video-config.ts';
import { videoClipSchema, type VideoClipSample } from '../../schemas/video.ts';
import { listVideoUnits } from '../../stages/sources/video-units.ts';
import { videoPipeline } from '../../kinds/video.ts';
import { resolveFfmpeg } from '../../stages/decode/ffmpeg-path.ts';
import { decodeWav } from '../../stages/decode/audio-extract.ts';
import { streamRgbFrames } from '../../stages/decode/video-frames.ts';
import { audioOnsetEnvelope } from '../../stages/align/av-sync.ts';
import { greyOf, motionEnergy } from '../../stages/decode/frame-signals.ts';
import { arrowSchemaOf, toRecordBatch } from '../../output/arrow-shard-writer.ts';
import { makeVideoFixtures, type VideoFixtureTruth } from '../../run/fixtures/video-fixtures.ts';
import { testContext } from '../helpers/context.ts';

const FRAME_MS = 40; // fixtures and sync analysis run at 25 fps

let dir: string;
let truth: VideoFixtureTruth;
let syncRun: { samples: Map<string, VideoClipSample>; ctx: ReturnType<typeof testContext> };

function config(over: Record<string, unknown>): VideoSourceConfig {
  return videoSourceSchema.parse({ kind: 'video', ...over });
}

async function run(cfg: VideoSourceConfig, filter: (file: string) => boolean = () => true) {
  const ctx = testContext();
  const samples = new Map<string, VideoClipSample>();
  for (const unit of await listVideoUnits(cfg, dir)) {
    // Sources and video names are relative to the source root (cfg.path); the truth is relative to dir.
    if (!filter(path.posix.join(cfg.path, unit.source))) continue;
    for await (const s of videoPipeline(unit, cfg, ctx)) samples.set(path.posix.join(cfg.path, s.video) + `#${s.clipIndex}`, s);
  }
  return { samples, ctx };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-video-'));
  // Short clips and few extras keep the file fast; the ten delays stay, for the 90 % bar.
  truth = await makeVideoFixtures(dir, { seed: 5, clipSeconds: 3, inSyncClips: 2, unrelatedClips: 2, demoVideos: 2 });
  // Offsets up to the search range are kept, so every delayed clip's estimate can be checked.
  syncRun = await run(config({ path: 'sync', sync: { max_abs_offset_ms: 1000 } }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('injected audio delays are recovered within one frame, confidently; in-sync clips measure zero', () => {
  const cfg = config({ path: 'sync' });
  const delayed = truth.sync.filter((c) => c.delay_ms !== null && c.delay_ms !== 0);
  const inSync = truth.sync.filter((c) => c.delay_ms === 0);
  assert.ok(delayed.length >= 10 && inSync.length >= 2);
  let recovered = 0;
  for (const c of delayed) {
    const s = syncRun.samples.get(`${c.file}#0`);
    assert.ok(s, `${c.file} kept`);
    if (Math.abs(s.avOffsetMs! - c.delay_ms!) <= FRAME_MS && s.avConfidence! > cfg.sync.min_confidence) recovered++;
  }
  assert.ok(recovered / delayed.length >= 0.9, `recovered ${recovered} of ${delayed.length}`);
  for (const c of inSync) {
    const s = syncRun.samples.get(`${c.file}#0`)!;
    assert.ok(Math.abs(s.avOffsetMs!) <= FRAME_MS, `${c.file}: ${s.avOffsetMs} ms`);
    assert.ok(s.avConfidence! > cfg.sync.min_confidence);
  }
});

test('clips whose audio is unrelated to the picture are rejected for low sync confidence', () => {
  const unrelated = truth.sync.filter((c) => c.delay_ms === null);
  assert.ok(unrelated.length > 0);
  for (const c of unrelated) {
    assert.equal(syncRun.samples.has(`${c.file}#0`), false);
    const row = syncRun.ctx.rejects.rows.find((r) => path.posix.join('sync', r.source) === c.file);
    assert.equal(row?.stage, 'av_sync');
    assert.equal(row?.reason, 'low_sync_confidence');
    assert.match(row!.detail, /confidence 0\.\d+ < min_confidence 0\.7/);
  }
  assert.equal(syncRun.ctx.stats.stage('av_sync').out, truth.sync.length - unrelated.length);
});

test('a clip carries JPEG frames at the configured rate with their times, and 16 kHz mono WAV audio', async () => {
  const s = syncRun.samples.get(`${truth.sync[0].file}#0`)!;
  assert.equal(s.fps, 4);
  assert.equal(s.frames.length, 12);
  // Stored frames are the 25 fps analysis frames nearest to the 4 fps grid.
  s.frames.forEach((f, i) => assert.ok(Math.abs(f.time - i * 0.25) <= 0.02 + 1e-9, `frame ${i} at ${f.time}`));
  const meta = await sharp(s.frames[3].image.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 160, 120]);
  assert.deepEqual([s.width, s.height], [160, 120]);
  const wav = decodeWav(s.audio!.bytes);
  assert.equal(wav.sampleRate, 16000);
  assert.equal(s.samplingRate, 16000);
  assert.equal(wav.pcm.length, 3 * 16000);
  assert.equal(s.avCorrected, false);
});

test('far-off clips are rejected by default and shifted back into sync with sync.correct', async () => {
  const far = truth.sync.filter((c) => c.delay_ms !== null && Math.abs(c.delay_ms) > 200).map((c) => c.file);
  assert.ok(far.length >= 2);
  const strict = await run(config({ path: 'sync' }), (f) => far.includes(f));
  assert.equal(strict.samples.size, 0);
  assert.deepEqual(strict.ctx.rejects.rows.map((r) => r.reason), far.map(() => 'av_offset_too_large'));

  const corrected = await run(config({ path: 'sync', sync: { correct: true }, audio: { format: 'flac' } }), (f) => far.includes(f));
  assert.equal(corrected.samples.size, far.length);
  for (const file of far) {
    const s = corrected.samples.get(`${file}#0`)!;
    assert.equal(s.avCorrected, true);
    const bytes = s.audio!.bytes;
    assert.equal(String.fromCharCode(...bytes.subarray(0, 4)), 'fLaC');
    // Decode the stored FLAC independently and check its clicks now fall on the flash frames.
    const events = truth.sync.find((c) => c.file === file)!.events_s;
    const { ffmpeg } = resolveFfmpeg({});
    const flacPath = path.join(dir, 'check.flac');
    await writeFile(flacPath, bytes);
    const { extractAudioPcm } = await import('../../stages/decode/audio-extract.ts');
    const pcm = await extractAudioPcm({ ffmpegPath: ffmpeg, file: flacPath, startS: 0, durationS: 3, sampleRate: 16000 });
    const env = audioOnsetEnvelope(pcm, 16000, 25);
    const onsets = Array.from(env.keys()).filter((j) => env[j] > 1);
    const eventFrames = events.map((t) => Math.round(t * 25));
    const hits = eventFrames.filter((e) => onsets.some((j) => Math.abs(j - e) <= 1)).length;
    assert.ok(hits >= eventFrames.length - 1, `${file}: ${hits} of ${eventFrames.length} clicks on their flash`);
  }
});

test('every bad file ends as a reject with its reason; a bad sidecar keeps the video', async () => {
  const { samples, ctx } = await run(config({ path: 'bad', sync: { min_confidence: 0 } }));
  for (const bad of truth.bad) {
    const row = ctx.rejects.rows.find((r) => path.posix.join('bad', r.source) === bad.file);
    assert.ok(row, `${bad.file} has a reject`);
    assert.equal(row.stage, bad.stage, bad.file);
    assert.equal(row.reason, bad.reason, `${bad.file}: ${row.detail}`);
    assert.ok(row.detail.length > 0);
  }
  const kept = [...samples.keys()];
  assert.deepEqual(kept, ['bad/bad-subtitles.mp4#0']);
  // Outputs name files relative to the source root, so they do not depend on where the data sits.
  for (const r of ctx.rejects.rows) assert.ok(!path.isAbsolute(r.source) && !r.source.includes(dir), r.source);
  assert.equal(samples.get('bad/bad-subtitles.mp4#0')!.video, 'bad-subtitles.mp4');
  assert.equal(samples.get('bad/bad-subtitles.mp4#0')!.source, 'bad-subtitles.mp4');
  assert.equal(samples.get('bad/bad-subtitles.mp4#0')!.subtitle, null);
  assert.equal(ctx.stats.stage('video_probe').in, 8);
});

test('with audio optional, a silent video is kept without audio or sync', async () => {
  const { samples, ctx } = await run(config({ path: 'bad', audio_required: false }), (f) => f === 'bad/no-audio.mp4');
  const s = samples.get('bad/no-audio.mp4#0')!;
  assert.ok(s, JSON.stringify(ctx.rejects.rows));
  assert.equal(s.audio, null);
  assert.equal(s.samplingRate, null);
  assert.equal(s.avOffsetMs, null);
  assert.equal(s.frames.length, 12);
});

test('scene mode cuts at the shot changes and honours the minimum scene length', async () => {
  const { samples } = await run(config({ path: 'scenes', clip: { mode: 'scenes', length_s: 10, min_scene_s: 1 }, sync: { enabled: false } }));
  const windows = [...samples.values()].map((s) => [s.start, s.end]);
  assert.equal(windows.length, 3);
  const frame = 1 / 10; // scene_fps
  const scenes = truth.scenes!;
  assert.ok(Math.abs(windows[0][1] - scenes.cuts_s[0]) <= frame + 1e-9);
  assert.ok(Math.abs(windows[1][1] - scenes.cuts_s[1]) <= frame + 1e-9);
  assert.ok(Math.abs(windows[2][1] - scenes.duration_s) < 0.1);
  // Each window says what bounds it: the video's start, hard cuts, the video's end.
  const bounds = [...samples.values()].map((s) => [s.cutInType, s.cutOutType]);
  assert.deepEqual(bounds, [['none', 'hard'], ['hard', 'hard'], ['hard', 'none']]);
  const scores = [...samples.values()].map((s) => [s.cutInScore, s.cutOutScore]);
  assert.equal(scores[0][0], null);
  assert.ok((scores[0][1] ?? 0) >= 3 && scores[0][1] === scores[1][0]);
});

test('scene mode with the learned boundary classifier cuts at the same shot changes', async () => {
  const { samples } = await run(config({ path: 'scenes', clip: { mode: 'scenes', length_s: 10, min_scene_s: 1, scene_detector: 'learned' }, sync: { enabled: false } }));
  const scenes = truth.scenes!;
  const cuts = [...samples.values()].slice(0, -1).map((s) => s.end);
  assert.equal(cuts.length, scenes.cuts_s.length, JSON.stringify(cuts));
  cuts.forEach((t, i) => assert.ok(Math.abs(t - scenes.cuts_s[i]) <= 1 / 10 + 1e-9, `${t} vs ${scenes.cuts_s[i]}`));
  assert.deepEqual([...samples.values()].map((s) => [s.cutInType, s.cutOutType]), [['none', 'hard'], ['hard', 'hard'], ['hard', 'none']]);
});

test('sentence mode makes one clip per cue from .vtt and transcript json sidecars, keeping the original times', async () => {
  const { samples, ctx } = await run(config({ path: 'demo', clip: { mode: 'sentences', min_sentence_s: 2 }, frames: { fps: 1 }, sync: { enabled: false } }));
  assert.deepEqual(ctx.rejects.rows, []);
  for (const video of truth.demo) {
    const clips = [...samples.values()].filter((s) => path.posix.join('demo', s.video) === video.file);
    assert.equal(clips.length, video.sentences.length, video.sidecar);
    clips.forEach((s, i) => {
      const cue = video.sentences[i];
      assert.equal(s.subtitle, cue.text);
      const unaligned = { alignedStart: null, alignedEnd: null, matchStart: null, matchEnd: null, score: null, alignable: null, shift: null, evidence: null };
      assert.deepEqual(s.subtitleCues, [{ text: cue.text, start: cue.start, end: cue.end, ...unaligned }]);
      assert.ok(s.end - s.start >= 2 - 1e-9 || s.end === s.videoDuration);
      assert.ok(s.start <= cue.start + 1e-9 && s.end >= Math.min(cue.end, s.videoDuration) - 1e-9);
    });
  }
});

test('video clips round-trip through an Arrow IPC stream with frames as list<struct<time, image>>', () => {
  const rows = [...syncRun.samples.values()].slice(0, 3);
  const schema = arrowSchemaOf(videoClipSchema, {});
  const table = new arrow.Table([toRecordBatch(videoClipSchema, schema, rows)]);
  const back = arrow.tableFromIPC(arrow.tableToIPC(table, 'stream'));
  assert.equal(back.numRows, 3);
  const frames = back.getChild('frames')!.get(1)!;
  assert.equal(frames.length, rows[1].frames.length);
  assert.equal(frames.get(2).time, rows[1].frames[2].time);
  assert.deepEqual(Buffer.from(frames.get(2).image.bytes), Buffer.from(rows[1].frames[2].image.bytes));
  assert.deepEqual(Buffer.from(back.getChild('audio')!.get(0)!.bytes), Buffer.from(rows[0].audio!.bytes));
  assert.equal(back.getChild('av_offset_ms')!.get(0), rows[0].avOffsetMs);
  assert.equal(back.getChild('subtitle_cues')!.get(0)!.length, 0);
});

test('audio and picture line up from the first sample with both the system and the packaged ffmpeg', async () => {
  // The packaged 2018 build, asked to seek to 0, plays the AAC priming samples instead of trimming them (21 ms early).
  const builds = new Set([resolveFfmpeg({}).ffmpeg, resolveFfmpeg({}, { PATH: '' }).ffmpeg]);
  const clip = truth.sync.find((c) => c.delay_ms === 0)!;
  const file = path.join(dir, clip.file);
  const { extractAudioPcm } = await import('../../stages/decode/audio-extract.ts');
  for (const ffmpegPath of builds) {
    const pcm = await extractAudioPcm({ ffmpegPath, file, startS: 0, durationS: 1.5, sampleRate: 16000 });
    const firstClick = pcm.findIndex((x) => Math.abs(x) > 0.1) / 16000;
    assert.ok(Math.abs(firstClick - clip.events_s[0]) < 0.003, `${ffmpegPath}: first click at ${firstClick} s, flash at ${clip.events_s[0]} s`);
    let previous: Float32Array | null = null;
    let firstFlash = -1;
    for await (const f of streamRgbFrames({ ffmpegPath, file, startS: 0, durationS: 1.5, fps: 25, width: 160, height: 120 })) {
      const grey = greyOf(f.rgb, f.width, f.height);
      if (previous && firstFlash < 0 && motionEnergy(previous, grey) > 5) firstFlash = f.time;
      previous = grey;
    }
    assert.ok(Math.abs(firstFlash - clip.events_s[0]) < 1e-6, `${ffmpegPath}: first flash frame at ${firstFlash} s`);
  }
});

test('frames stream one at a time and stopping early ends ffmpeg', async () => {
  const { ffmpeg } = resolveFfmpeg({});
  const frames = streamRgbFrames({ ffmpegPath: ffmpeg, file: path.join(dir, truth.sync[0].file), startS: 1, durationS: 2, fps: 25, width: 80, height: 60 });
  const seen: number[] = [];
  for await (const f of frames) {
    assert.equal(f.rgb.length, 80 * 60 * 3);
    seen.push(f.time);
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, [1, 1.04, 1.08]);
});

test('ffmpeg is found from the config key, else PATH, else a clear error naming the key', async () => {
  const fake = path.join(dir, 'not-executable');
  await writeFile(fake, '');
  await chmod(fake, 0o644);
  assert.throws(() => resolveFfmpeg({ ffmpeg_path: fake }), /source\.ffmpeg_path/);
  assert.throws(() => resolveFfmpeg({}, { PATH: dir }, false), /ffmpeg was not found on PATH.*source\.ffmpeg_path/);
  // Without a system ffmpeg the packaged static build is used, so a fresh npm install suffices.
  assert.match(resolveFfmpeg({}, { PATH: dir }).ffmpeg, /ffmpeg-installer/);
  assert.match(resolveFfmpeg({}).ffprobe, /ffprobe$/);
});
