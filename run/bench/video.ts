// weft bench video: clips per second end to end (probe, windows, frames + audio from ffmpeg,
// motion energy, JPEG frames, AV sync, WAV, Arrow shards, index, report) against ffmpeg
// decoding the same frames alone (same windows, analysis rate and size, raw RGB to the null
// muxer, one process per clip, the same number at once), measured in the same run on the same
// files. Scene detection is measured on the same videos and reported as a share of that clip
// decoding, with the detector's own compute share beside it, two ways: on a decode of its own
// (the whole video at scene_fps and 64 px from ffmpeg, through the detector), and as
// clip.mode scenes runs it, on the one decode per video it shares with the clips (video-pass.ts):
// there, what detection adds is the pass with the detector less the same pass without it. Each measurement runs in its own child process, so each peak RSS is its own (ffmpeg's
// own memory is in its child processes and counted in neither).
//
//   weft bench video [--n CLIPS]        (default 24 clips of 4 s, 3 per 12 s video, 320x240)
//   node --import tsx run/bench/video.ts --child <limit|pipeline> ...   (used by the bench)
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import { makeVideoFixtures } from '../fixtures/video-fixtures.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { videoSourceSchema } from '../../schemas/video-config.ts';
import { resolveFfmpeg } from '../../stages/decode/ffmpeg-path.ts';
import { runFfmpeg, inputSeekArgs } from '../../stages/decode/ffmpeg-run.ts';
import { outputSize } from '../../stages/decode/video-frames.ts';
import type { SceneDetector } from '../../stages/pair/scene-detector.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { VideoProbe } from '../../schemas/video-items.ts';
import { measurePipeline, ratioLine, reportFromChild, runChildMeasurement, type Bench, type PipelineMeasurement } from './harness.ts';

const DEFAULT_CLIPS = 24;
const CLIPS_PER_VIDEO = 3;
const CLIP_S = 4;
const WIDTH = 320;
const HEIGHT = 240;
const SCRIPT = 'run/bench/video.ts';
/** Pipeline measurements; the fastest counts (other processes on a shared machine add noise). */
const ROUNDS = 2;

interface ScenesResult {
  videos: number;
  frames: number;
  boundaries: number;
  wall_ms: number;
  /** Time inside the detector (push and finish), not waiting for ffmpeg. */
  detector_ms: number;
  /** CPU of this process and its finished ffmpeg children (cpuWithChildrenMs). */
  cpu_ms: number;
  peak_rss_mib: number;
}

/** The shared decode of scenes mode over each whole video (video-pass.ts), with or without the scene detector on it: the same fields. */
type SharedResult = ScenesResult;

interface LimitResult {
  clips: number;
  frames: number;
  wall_ms: number;
  cpu_ms: number;
  peak_rss_mib: number;
}

type PipelineResult = PipelineMeasurement & { clips: number };

export const bench: Bench = async ({ n, workDir, log }) => {
  const videos = Math.max(1, Math.ceil((n || DEFAULT_CLIPS) / CLIPS_PER_VIDEO));
  const clips = videos * CLIPS_PER_VIDEO;
  const dataDir = path.join(workDir, 'data');
  log(`rendering ${videos} flash videos of ${CLIPS_PER_VIDEO * CLIP_S} s at ${WIDTH}x${HEIGHT}, 25 fps, with AAC clicks (${clips} clips)`);
  // Delays within the default max_abs_offset_ms, so every clip is kept and written.
  const delaysMs = Array.from({ length: videos }, (_, i) => [-120, -40, 0, 80, 160][i % 5]);
  await makeVideoFixtures(dataDir, { seed: 17, delaysMs, inSyncClips: 0, unrelatedClips: 0, clipSeconds: CLIPS_PER_VIDEO * CLIP_S, width: WIDTH, height: HEIGHT, extras: false });

  const config = path.join(workDir, 'video.yaml');
  await writeFile(config, `name: bench-video\nsource: { kind: video, path: data/sync, clip: { mode: fixed, length_s: ${CLIP_S}, stride_s: ${CLIP_S} } }\n`);
  const { ffmpeg } = resolveFfmpeg({});
  const version = (await runFfmpeg(ffmpeg, ['-version'])).toString().split('\n')[0];
  log(`ffmpeg: ${ffmpeg} (${version})`);

  const limits: LimitResult[] = [];
  const runs: PipelineResult[] = [];
  const scenes: ScenesResult[] = [];
  const shared: SharedResult[] = [];
  const bare: SharedResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`scene detection on its own decode, round ${round}`);
    scenes.push(await runChildMeasurement<ScenesResult>(SCRIPT, ['--child', 'scenes', config]));
    log(`shared decode with and without scene detection, round ${round}`);
    shared.push(await runChildMeasurement<SharedResult>(SCRIPT, ['--child', 'shared', config, path.join(workDir, `spool-${round}`), 'scenes']));
    bare.push(await runChildMeasurement<SharedResult>(SCRIPT, ['--child', 'shared', config, path.join(workDir, `spool-${round}`), 'bare']));
    log(`limit, round ${round}: ffmpeg decoding the same frames alone`);
    limits.push(await runChildMeasurement<LimitResult>(SCRIPT, ['--child', 'limit', config]));
    log(`pipeline, round ${round}`);
    runs.push(await runChildMeasurement<PipelineResult>(SCRIPT, ['--child', 'pipeline', config, path.join(workDir, `out-${round}`)]));
  }
  const fastest = <T extends { wall_ms: number }>(xs: T[]) => xs.reduce((a, b) => (b.wall_ms < a.wall_ms ? b : a));
  const limit = fastest(limits);
  const scene = fastest(scenes);
  const sceneShare = scene.wall_ms / limit.wall_ms;
  const detectorShare = scene.detector_ms / limit.wall_ms;
  const withScenes = fastest(shared);
  const passAlone = fastest(bare);
  // What detection adds to the decode scenes mode does anyway, as a share of the clips' decoding.
  const sharedShare = (withScenes.wall_ms - passAlone.wall_ms) / limit.wall_ms;
  const sharedDetectorShare = withScenes.detector_ms / limit.wall_ms;
  // The same in CPU time (this process and its ffmpeg children), each the least of its rounds.
  const leastCpu = (xs: { cpu_ms: number }[]) => Math.min(...xs.map((x) => x.cpu_ms));
  const limitCpu = leastCpu(limits);
  const cpuShares = { own: leastCpu(scenes) / limitCpu, shared: (leastCpu(shared) - leastCpu(bare)) / limitCpu };
  const pipeline = fastest(runs);
  const rate = (count: number, ms: number) => (count * 1000) / ms;
  const pipelineRate = rate(pipeline.clips, pipeline.wall_ms);
  const limitRate = rate(limit.clips, limit.wall_ms);
  const cfg = videoSourceSchema.parse({ kind: 'video', path: '.' });
  const busy = Object.entries(pipeline.busy_ms).map(([stage, ms]) => `${stage} ${(ms / pipeline.clips).toFixed(0)}`).join(', ');
  const lines = [
    `video: ${pipeline.clips} clips of ${CLIP_S} s from ${videos} videos at ${WIDTH}x${HEIGHT}; analysis ${cfg.sync.fps} fps, stored ${cfg.frames.fps} fps at max side ${cfg.frames.max_side}; ${cfg.concurrency} clips at once; ${availableParallelism()} CPUs`,
    `ffmpeg: ${version}`,
    ratioLine('end to end vs ffmpeg decoding the same frames alone', pipelineRate, limitRate, 'clips'),
    `all rounds: pipeline ${runs.map((r) => rate(r.clips, r.wall_ms).toFixed(2)).join(', ')} clips/s; limit ${limits.map((r) => rate(r.clips, r.wall_ms).toFixed(2)).join(', ')} clips/s`,
    `scene detection on its own decode (${cfg.clip.scene_fps} fps, 64 px, whole videos, ${scene.frames} frames, ${scene.boundaries} boundaries): ${(100 * sceneShare).toFixed(1)} % of the time ffmpeg takes to decode the clips alone; the detector's own compute ${(100 * detectorShare).toFixed(1)} %`,
    `scene detection on the shared decode (clip.mode scenes: one pass per video for detector and clips, ${withScenes.frames} detector frames, ${withScenes.boundaries} boundaries): adds ${(100 * sharedShare).toFixed(1)} % of the clips' decoding time (pass ${withScenes.wall_ms.toFixed(0)} ms with the detector, ${passAlone.wall_ms.toFixed(0)} ms without; all rounds ${shared.map((r) => r.wall_ms.toFixed(0)).join(', ')} / ${bare.map((r) => r.wall_ms.toFixed(0)).join(', ')} ms); the detector's own compute ${(100 * sharedDetectorShare).toFixed(1)} %; the pass without the detector is ${(passAlone.wall_ms / limit.wall_ms).toFixed(2)} times the per-clip decoding`,
    `scene detection in CPU time (node and ffmpeg, least of the rounds; limit ${limitCpu.toFixed(0)} ms): on its own decode ${(100 * cpuShares.own).toFixed(1)} % of the clips' decoding, on the shared decode it adds ${(100 * cpuShares.shared).toFixed(1)} % (pass ${leastCpu(shared).toFixed(0)} ms with the detector, ${leastCpu(bare).toFixed(0)} ms without)`,
    `kept ${pipeline.kept}, dropped ${pipeline.dropped}; busy ms per clip by stage: ${busy}`,
    `peak RSS: pipeline ${pipeline.peak_rss_mib.toFixed(0)} MiB, limit ${limit.peak_rss_mib.toFixed(0)} MiB (node processes; ffmpeg children not included)`,
  ];
  return {
    name: 'video',
    lines,
    metrics: {
      clips: pipeline.clips,
      cpus: availableParallelism(),
      ffmpeg: version,
      pipeline_clips_per_s: pipelineRate,
      ffmpeg_decode_clips_per_s: limitRate,
      ratio: pipelineRate / limitRate,
      scene_detection_share_of_decode: sceneShare,
      scene_detector_compute_share_of_decode: detectorShare,
      shared_scene_detection_share_of_decode: sharedShare,
      shared_scene_detector_compute_share_of_decode: sharedDetectorShare,
      shared_pass_over_decode: passAlone.wall_ms / limit.wall_ms,
      scene_detection_cpu_share_of_decode: cpuShares.own,
      shared_scene_detection_cpu_share_of_decode: cpuShares.shared,
      pipeline_peak_rss_mib: pipeline.peak_rss_mib,
      limit_peak_rss_mib: limit.peak_rss_mib,
      kept: pipeline.kept,
      dropped: pipeline.dropped,
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Measurement children

/**
 * User + system CPU of this process and of its children that have exited (ffmpeg), in ms, from
 * /proc/self/stat (Linux; clock ticks of 10 ms); NaN elsewhere. On a loaded machine CPU time
 * moves far less than wall time, so the bench reports scene shares in both.
 */
function cpuWithChildrenMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    const ticks = [11, 12, 13, 14].reduce((sum, k) => sum + Number(fields[k]), 0);
    return ticks * 10;
  } catch {
    return NaN;
  }
}

/** The pipeline's clips, decoded by ffmpeg alone: same windows, analysis rate, size and parallelism. */
async function limitChild(configPath: string): Promise<void> {
  const loaded = await loadConfigFile(configPath);
  const src = loaded.config.source;
  if (src.kind !== 'video') throw new Error('video bench config must have source.kind video');
  const { listVideoUnits } = await import('../../stages/sources/video-units.ts');
  const { probeVideo } = await import('../../stages/decode/video-probe.ts');
  const { fixedWindows } = await import('../../stages/pair/video-clips.ts');
  const { ffmpeg, ffprobe } = resolveFfmpeg(src);
  const fps = Math.max(src.sync.fps, src.frames.fps);
  const limit = pLimit(src.concurrency);
  let clips = 0;
  let frames = 0;
  const started = performance.now();
  for (const unit of await listVideoUnits(src, loaded.baseDir)) {
    // Probed inside the timing, as the pipeline probes each video.
    const probe = await probeVideo(unit.spec.file as string, { ffprobePath: ffprobe, audioRequired: false, minDurationS: 0 });
    const { width, height } = outputSize(probe.video.displayWidth, probe.video.displayHeight, src.frames.max_side);
    const { windows } = fixedWindows(probe.duration, src.clip.length_s, src.clip.stride_s, { minClipS: src.clip.min_clip_s, negligibleS: 1 / probe.video.fps });
    await Promise.all(
      windows.map((w) =>
        limit(async () => {
          const args = ['-v', 'error', ...inputSeekArgs(w.start), '-i', probe.path, '-t', (w.end - w.start).toFixed(6), '-map', '0:v:0', '-an', '-vf', `fps=${fps},scale=${width}:${height}:flags=area,setsar=1`, '-pix_fmt', 'rgb24', '-f', 'null', '-'];
          await runFfmpeg(ffmpeg, args);
          clips += 1;
          frames += Math.round((w.end - w.start) * fps);
        }),
      ),
    );
  }
  reportFromChild({ clips, frames, wall_ms: performance.now() - started, cpu_ms: cpuWithChildrenMs() });
}

type SceneFrame = Parameters<SceneDetector['push']>[0];

interface SceneVideo {
  src: VideoSourceConfig;
  ffmpeg: string;
  probe: VideoProbe;
  index: number;
  /** Where the decode hands each scene frame; null when the variant runs no detector. */
  onFrame: ((frame: SceneFrame) => void) | null;
}

/**
 * Scene detection over every whole video of the bench config, `source.concurrency` videos at
 * once as clips are: `decode` feeds one probed video's scene frames to `onFrame`. The
 * detector's own compute is timed around its calls.
 */
async function sceneDetectionChild(configPath: string, withDetector: boolean, decode: (video: SceneVideo) => Promise<void>): Promise<void> {
  const loaded = await loadConfigFile(configPath);
  const src = loaded.config.source;
  if (src.kind !== 'video') throw new Error('video bench config must have source.kind video');
  const { listVideoUnits } = await import('../../stages/sources/video-units.ts');
  const { probeVideo } = await import('../../stages/decode/video-probe.ts');
  const { SceneDetector } = await import('../../stages/pair/scene-detector.ts');
  const { sceneDetectorOptions } = await import('../../stages/pair/video-clips.ts');
  const { ffmpeg, ffprobe } = resolveFfmpeg(src);
  const limit = pLimit(src.concurrency);
  let videos = 0;
  let frames = 0;
  let boundaries = 0;
  let detectorMs = 0;
  const started = performance.now();
  await Promise.all(
    (await listVideoUnits(src, loaded.baseDir)).map((unit, index) =>
      limit(async () => {
        const probe = await probeVideo(unit.spec.file as string, { ffprobePath: ffprobe, audioRequired: false, minDurationS: 0 });
        const detector = withDetector ? new SceneDetector(sceneDetectorOptions(src.clip)) : null;
        const onFrame = detector
          ? (frame: SceneFrame) => {
              const t0 = performance.now();
              detector.push(frame);
              detectorMs += performance.now() - t0;
              frames += 1;
            }
          : null;
        await decode({ src, ffmpeg, probe, index, onFrame });
        if (detector) {
          const t0 = performance.now();
          boundaries += detector.finish().length;
          detectorMs += performance.now() - t0;
        }
        videos += 1;
      }),
    ),
  );
  reportFromChild({ videos, frames, boundaries, wall_ms: performance.now() - started, detector_ms: detectorMs, cpu_ms: cpuWithChildrenMs() });
}

/** Scene detection on a decode of its own: the whole video at scene_fps and 64 px from ffmpeg. */
async function scenesChild(configPath: string): Promise<void> {
  const { streamRgbFrames } = await import('../../stages/decode/video-frames.ts');
  const { SCENE_FRAME_SIDE } = await import('../../stages/pair/video-clips.ts');
  await sceneDetectionChild(configPath, true, async ({ src, ffmpeg, probe, onFrame }) => {
    const size = outputSize(probe.video.displayWidth, probe.video.displayHeight, SCENE_FRAME_SIDE);
    for await (const frame of streamRgbFrames({ ffmpegPath: ffmpeg, file: probe.path, startS: 0, durationS: probe.duration, fps: src.clip.scene_fps, ...size })) onFrame!(frame);
  });
}

/** Scenes mode's shared decode over each whole video (frames JPEG-spooled, signals, audio), with the detector on its scene frames ('scenes') or without them ('bare'). */
async function sharedChild(configPath: string, spoolDir: string, variant: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { decodeVideoOnce } = await import('../../stages/decode/video-pass.ts');
  const { syncs } = await import('../../stages/decode/clip-decode.ts');
  const { SCENE_FRAME_SIDE } = await import('../../stages/pair/video-clips.ts');
  await mkdir(spoolDir, { recursive: true });
  await sceneDetectionChild(configPath, variant === 'scenes', async ({ src, ffmpeg, probe, index, onFrame }) => {
    await decodeVideoOnce({
      ffmpegPath: ffmpeg,
      file: probe.path,
      durationS: probe.duration,
      stored: { fps: src.frames.fps, ...outputSize(probe.video.displayWidth, probe.video.displayHeight, src.frames.max_side), jpegQuality: src.frames.jpeg_quality },
      analysisFps: syncs(src, probe) ? Math.max(src.sync.fps, src.frames.fps) : null,
      audio: probe.audio ? { sampleRate: src.audio.sample_rate, streamDurationS: probe.audio.duration ?? probe.duration } : null,
      scene: onFrame ? { fps: src.clip.scene_fps, ...outputSize(probe.video.displayWidth, probe.video.displayHeight, SCENE_FRAME_SIDE), onFrame } : null,
      spoolDir,
      spoolName: `video-${index}`,
    });
  });
}

async function pipelineChild(configPath: string, outDir: string): Promise<void> {
  const m = await measurePipeline(configPath, outDir);
  // Clips = windows that entered decoding.
  reportFromChild({ ...m, clips: m.stage_in.video_decode ?? 0 });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--child') {
  const [mode, ...args] = process.argv.slice(3);
  if (mode === 'limit') await limitChild(args[0]);
  else if (mode === 'pipeline') await pipelineChild(args[0], args[1]);
  else if (mode === 'scenes') await scenesChild(args[0]);
  else if (mode === 'shared') await sharedChild(args[0], args[1], args[2]);
  else throw new Error(`unknown child mode ${mode}`);
}
