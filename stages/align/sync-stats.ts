// What the av_sync stage records for the report, for every clip it measures (kept or dropped):
// the offset and confidence histograms, and for the clips that rank among the worst (largest
// |offset|, lowest confidence, lowest confidence among kept clips) an example with a filmstrip
// of small frames, the two signals the offset came from (motion energy and audio onsets),
// downsampled, so the report can draw them under the frames, and the correlation distance at
// every shift (the sync curve). Thumbnails are made only for clips that would enter a worst set.
import type { RunStats, Example } from '../../core/stats.ts';
import type { Drop } from '../../core/stage.ts';
import { AV_CONFIDENCE_RANGE, VIDEO_STATS } from '../../schemas/video.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { AvSyncResult } from './av-sync.ts';
import { makeThumbnail } from '../decode/thumbnails.ts';
import type { DecodedClip } from '../decode/clip-decode.ts';

/** Frames in a filmstrip, their longest side, and points per drawn signal. */
const FILMSTRIP_FRAMES = 6;
const FILMSTRIP_SIDE = 64;
const SIGNAL_POINTS = 120;

export type SyncVerdict = { kept: true; corrected: boolean } | Drop;

/** The offset histogram's range: one bin per shift, centred on it. */
function offsetHistogramRange(cfg: VideoSourceConfig, analysisFps: number): [number, number, number] {
  const frameMs = 1000 / analysisFps;
  const v = cfg.sync.vshift;
  return [-(v + 0.5) * frameMs, (v + 0.5) * frameMs, 2 * v + 1];
}

export async function recordSyncStats(stats: RunStats, c: DecodedClip, result: AvSyncResult, onsets: Float64Array, cfg: VideoSourceConfig, verdict: SyncVerdict, worstK = 6): Promise<void> {
  stats.histogram(VIDEO_STATS.offsetHistogram, ...offsetHistogramRange(cfg, c.analysisFps)).add(result.offsetMs);
  stats.histogram(VIDEO_STATS.confidenceHistogram, ...AV_CONFIDENCE_RANGE).add(result.confidence);

  const byOffset = stats.worstSet(VIDEO_STATS.worstOffset, worstK);
  const byConfidence = stats.worstSet(VIDEO_STATS.worstConfidence, worstK);
  // Confidence is at most 1: halving it only orders clips with the same |offset|.
  const offsetValue = Math.abs(result.offsetFrames) + Math.min(1, result.confidence) / 2;
  const confidenceValue = 1 - result.confidence;
  // The weakest kept clips, ranked like byConfidence (ties by id): the same ones on any split of the run.
  const byConfidenceKept = stats.worstSet(VIDEO_STATS.worstConfidenceKept, worstK);
  const wantOffset = byOffset.wouldKeep(offsetValue, c.id);
  const wantConfidence = byConfidence.wouldKeep(confidenceValue, c.id);
  const wantKept = !('drop' in verdict) && byConfidenceKept.wouldKeep(confidenceValue, c.id);
  if (!wantOffset && !wantConfidence && !wantKept) return;
  const example = await syncExample(c, result, onsets, verdict);
  if (wantOffset) byOffset.add(offsetValue, c.id, example);
  if (wantConfidence) byConfidence.add(confidenceValue, c.id, example);
  if (wantKept) byConfidenceKept.add(confidenceValue, c.id, example);
}

async function syncExample(c: DecodedClip, result: AvSyncResult, onsets: Float64Array, verdict: SyncVerdict): Promise<Example> {
  const picks = pickEvenly(c.frames.length, FILMSTRIP_FRAMES);
  const filmstrip = await Promise.all(picks.map(async (i) => ({ time: round(c.frames[i].time - c.start, 3), thumb: await makeThumbnail(c.frames[i].image.bytes, FILMSTRIP_SIDE) })));
  // The onsets that line up with the clip's frames: bin audioLead + k is heard with frame k.
  const lead = c.audio?.leadFrames ?? 0;
  const clipOnsets = Float64Array.from({ length: c.motion.length }, (_, k) => onsets[lead + k] ?? 0);
  return {
    id: c.id,
    source: c.source,
    caption: `${c.video} ${c.start.toFixed(2)}-${c.end.toFixed(2)} s: offset ${result.offsetMs >= 0 ? '+' : ''}${result.offsetMs.toFixed(0)} ms, confidence ${result.confidence.toFixed(2)}`,
    start: round(c.start, 3),
    duration: round(c.end - c.start, 3),
    offset_ms: round(result.offsetMs, 1),
    confidence: round(result.confidence, 3),
    analysis_fps: c.analysisFps,
    filmstrip,
    motion: downsample(c.motion, SIGNAL_POINTS),
    onsets: downsample(clipOnsets, SIGNAL_POINTS),
    distances: result.distances.map((d) => round(d, 3)),
    ...('drop' in verdict ? { verdict: 'dropped', stage: 'av_sync', reason: verdict.reason, detail: verdict.detail } : { verdict: verdict.corrected ? 'kept, audio shifted back' : 'kept' }),
  };
}

/** `count` indices spread evenly over 0..n-1 (all of them when n <= count). */
export function pickEvenly(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)));
}

/** Max-pooled to at most `points` values scaled to [0, 1] (NaN counts as 0), 3 decimals. */
export function downsample(values: ArrayLike<number>, points: number): number[] {
  const n = values.length;
  const bins = Math.min(points, n);
  const pooled: number[] = [];
  for (let b = 0; b < bins; b++) {
    let m = 0;
    for (let i = Math.floor((b * n) / bins); i < Math.floor(((b + 1) * n) / bins); i++) if (values[i] > m) m = values[i];
    pooled.push(m);
  }
  const max = Math.max(0, ...pooled);
  return pooled.map((v) => (max > 0 ? round(v / max, 3) : 0));
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));
