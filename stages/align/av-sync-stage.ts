// The av_sync stage: DecodedClip -> VideoClipSample. Measures the offset, filters, optionally
// shifts the audio back into sync, encodes the stored audio. Drops: `low_sync_confidence`,
// `av_offset_too_large`.
import { mapStage, drop, DropError, type Stage } from '../../core/stage.ts';
import type { RunStats } from '../../core/stats.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP, type SubtitleSpan, type VideoClipSample } from '../../schemas/video.ts';
import { encodeAudio } from '../decode/audio-extract.ts';
import { mediaBaseName, syncs, type ClipStageOptions, type DecodedClip } from '../decode/clip-decode.ts';
import { audioOnsetEnvelope, estimateAvOffset, type AvSyncResult } from './av-sync.ts';
import { recordSyncStats, type SyncVerdict } from './sync-stats.ts';

const AV_SYNC_STAGE = 'av_sync';

export function avSyncStage(cfg: VideoSourceConfig, opts: ClipStageOptions): Stage<DecodedClip, VideoClipSample> {
  return mapStage(AV_SYNC_STAGE, (c, ctx) => syncAndAssemble(c, cfg, opts, ctx.signal, ctx.stats), { concurrency: cfg.concurrency });
}

/** The offset of a decoded clip and the audio onsets it was measured on; null when it has no audio or sync is off. */
function measureClipSync(c: DecodedClip, cfg: VideoSourceConfig): { result: AvSyncResult; onsets: Float64Array } | null {
  if (!c.audio || !syncs(cfg, c.probe)) return null;
  const onsets = audioOnsetEnvelope(c.audio.pcm, c.audio.sampleRate, c.analysisFps);
  const result = estimateAvOffset({ visual: c.motion, structure: c.structure, audio: onsets, audioLead: c.audio.leadFrames, fps: c.analysisFps, vshift: cfg.sync.vshift });
  return { result, onsets };
}

/** Keep (and whether to shift the audio) or drop, by the configured sync filters. */
function syncVerdict(result: AvSyncResult, cfg: VideoSourceConfig): SyncVerdict {
  const where = `offset ${fmtMs(result.offsetMs)}, confidence ${result.confidence.toFixed(3)}`;
  if (result.confidence < cfg.sync.min_confidence) return drop('low_sync_confidence', `${where} < min_confidence ${cfg.sync.min_confidence}`, { value: result.confidence, threshold: cfg.sync.min_confidence });
  if (cfg.sync.correct) return { kept: true, corrected: result.offsetMs !== 0 };
  if (Math.abs(result.offsetMs) > cfg.sync.max_abs_offset_ms) return drop('av_offset_too_large', `${where}; |offset| > max_abs_offset_ms ${cfg.sync.max_abs_offset_ms}`, { value: Math.abs(result.offsetMs), threshold: cfg.sync.max_abs_offset_ms });
  return { kept: true, corrected: false };
}

async function syncAndAssemble(c: DecodedClip, cfg: VideoSourceConfig, opts: ClipStageOptions, signal?: AbortSignal, stats?: RunStats): Promise<VideoClipSample> {
  const measured = measureClipSync(c, cfg);
  const result = measured?.result ?? null;
  let shiftS = 0;
  if (measured) {
    const verdict = syncVerdict(measured.result, cfg);
    if (stats) await recordSyncStats(stats, c, measured.result, measured.onsets, cfg, verdict);
    if ('drop' in verdict) throw new DropError(verdict.reason, verdict.detail, verdict.values);
    if (verdict.corrected) shiftS = measured.result.offsetMs / 1000;
  }

  let audio: VideoClipSample['audio'] = null;
  if (c.audio) {
    const { pcm, sampleRate, leadFrames } = c.audio;
    const first = Math.round((leadFrames / c.analysisFps + shiftS) * sampleRate);
    const window = sliceWithSilence(pcm, first, Math.round((c.end - c.start) * sampleRate));
    const ext = cfg.audio.format;
    audio = { bytes: await encodeAudio(ext, opts.ffmpegPath, window, sampleRate, signal), path: `${mediaBaseName(c.video)}@${c.start.toFixed(3)}.${ext}` };
  }

  const cues = c.cues.map(
    (q): SubtitleSpan => ({
      text: q.text,
      start: q.start,
      end: q.end,
      alignedStart: q.aligned?.alignedStart ?? null,
      alignedEnd: q.aligned?.alignedEnd ?? null,
      matchStart: q.aligned?.matchStart ?? null,
      matchEnd: q.aligned?.matchEnd ?? null,
      score: q.aligned?.score ?? null,
      alignable: q.aligned?.alignable ?? null,
      shift: q.aligned?.shift ?? null,
      evidence: q.aligned?.evidence ?? null,
    }),
  );
  return {
    id: c.id,
    kind: VIDEO_CLIP,
    source: c.source,
    video: c.video,
    clipIndex: c.clipIndex,
    clipMode: c.clipMode,
    start: c.start,
    end: c.end,
    videoDuration: c.probe.duration,
    fps: cfg.frames.fps,
    width: c.width,
    height: c.height,
    frames: c.frames,
    audio,
    samplingRate: c.audio ? c.audio.sampleRate : null,
    avOffsetMs: result ? result.offsetMs : null,
    avConfidence: result ? result.confidence : null,
    avCorrected: shiftS !== 0,
    subtitle: cues.length ? cues.map((q) => q.text).join(' ') : null,
    subtitleCues: cues,
    consent: c.consent,
    cutInType: c.cutIn.type,
    cutInScore: c.cutIn.score,
    cutOutType: c.cutOut.type,
    cutOutScore: c.cutOut.score,
  };
}

/** pcm[first .. first + length), with silence where that range leaves the array. */
function sliceWithSilence(pcm: Float32Array, first: number, length: number): Float32Array {
  const out = new Float32Array(Math.max(0, length));
  const from = Math.max(0, first);
  const to = Math.min(pcm.length, first + length);
  if (to > from) out.set(pcm.subarray(from, to), from - first);
  return out;
}

const fmtMs = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(0)} ms`;
