// Subtitle cues re-timed by the speech in the audio track (speech segments from
// stages/decode/voice-activity.ts). A subtitle file is usually off by one offset for the whole
// file plus a little per cue, so the alignment has two steps:
//   1. Global offset: the lag (within +-max_shift_s, 20 ms steps) that puts the most cue time
//      on speech and the least on non-speech: sum over cues of the integral of (+1 speech,
//      -1 not) over the shifted cue; plus, where the pictures place cues, visual_weight times
//      the cue time times their mean agreement with the lag (globalSpeechOffset).
//   2. Drop-DTW over the cue sequence and the segment sequence: each kept cue takes a contiguous
//      run of segments, in order, none shared; any cue or segment may be dropped. A cue's match
//      gains 1 - (|start jitter| + |end jitter|) / (2 * max_jitter_s) - 0.5 |ln(run / cue length)|,
//      where jitter is the distance of the run's start/end from the cue's, after the global
//      offset; a jitter beyond max_jitter_s or a total shift beyond max_shift_s cannot match.
//      Where the pictures place the cue (narration alignment with a score of at least
//      visual_min_score), the match also gains visual_weight / 4 * max(0, 1 - |run centre -
//      picture centre| / max_jitter_s): among runs the speech allows, the one the pictures
//      agree with wins, and a weak speech match the pictures confirm can still pay. A match
//      whose total gain is <= 0 cannot be made, and the cue is dropped (not alignable, not moved).
// A matched cue is re-timed to its run's span: the speech's own start and end.
import type { SpeechSegment } from '../decode/voice-activity.ts';

export interface RetimeOptions {
  max_shift_s: number;
  max_jitter_s: number;
  /** Weight of the pictures' agreement in the match gain; 0 or absent: speech only. */
  visual_weight?: number;
}

/** Where the pictures put a cue: its span after narration alignment (only strong enough matches are given). */
export interface VisualHint {
  start: number;
  end: number;
}

export interface CueSpan {
  start: number;
  end: number;
}

export interface SpeechMatch {
  /** Re-timed span (the matched speech), or null when the cue was dropped. */
  start: number;
  end: number;
  /** Matched segment indices (inclusive). */
  first: number;
  last: number;
  /** The speech's part of the match gain, and the pictures' part (0 without a hint). */
  gain: number;
  visualGain: number;
}

export interface SpeechRetimeResult {
  /** Global offset found (seconds, positive: speech later than the cues), null when no lag puts more cue time on speech than off it. */
  offset: number | null;
  matches: (SpeechMatch | null)[];
}

const LAG_STEP = 0.02;
/**
 * The share of visual_weight a single match gets. The pictures place one cue only to within a
 * scene (its span reaches halfway into the pauses, 0.3-0.8 s off on the fixture family), so per
 * cue they should only break near-ties between speech runs; across a file those errors average
 * out, so the offset gets the full weight. At the full weight per match, 2 of 72 cues that the
 * speech had right moved to a neighbouring run (docs/video.md).
 */
const DTW_VISUAL_SHARE = 0.25;

/**
 * The file's offset. `pictures` (optional) are the shifts the pictures give the cues they place,
 * and `weight` their say: each lag also gains weight * (total cue time) * the mean over those
 * cues of max(0, 1 - |lag - shift| / jitter), so where the speech alone finds no lag (speech
 * drowned in noise) the pictures can still fix one. Without pictures it is the speech's lag.
 */
export function globalSpeechOffset(cues: CueSpan[], segments: SpeechSegment[], duration: number, maxShift: number, pictures: { shifts: number[]; weight: number; jitter: number } | null = null): number | null {
  if (!cues.length || !segments.length) return null;
  const visual = pictures && pictures.weight > 0 && pictures.shifts.length ? pictures : null;
  // Total cue time in grid cells, the unit of the speech score below.
  const cueCells = cues.reduce((a, c) => a + (c.end - c.start), 0) / LAG_STEP;
  const pad = maxShift + 1;
  const origin = -pad;
  const cells = Math.ceil((duration + 2 * pad) / LAG_STEP) + 2;
  // Prefix sums of +1 (speech) / -1 (no speech) on a 20 ms grid from -pad to duration + pad.
  const mark = new Int8Array(cells).fill(-1);
  for (const s of segments) for (let c = Math.max(0, Math.round((s.start - origin) / LAG_STEP)); c < Math.min(cells, Math.round((s.end - origin) / LAG_STEP)); c++) mark[c] = 1;
  const prefix = new Float64Array(cells + 1);
  for (let c = 0; c < cells; c++) prefix[c + 1] = prefix[c] + mark[c];
  const at = (t: number) => prefix[Math.max(0, Math.min(cells, Math.round((t - origin) / LAG_STEP)))];
  let best = -Infinity;
  let bestLag = 0;
  const steps = Math.round(maxShift / LAG_STEP);
  for (let k = -steps; k <= steps; k++) {
    const lag = k * LAG_STEP;
    let score = 0;
    for (const c of cues) score += at(c.end + lag) - at(c.start + lag);
    if (visual) {
      let agree = 0;
      for (const shift of visual.shifts) agree += Math.max(0, 1 - Math.abs(lag - shift) / visual.jitter);
      score += (visual.weight * cueCells * agree) / visual.shifts.length;
    }
    // Ties go to the smaller shift.
    score -= Math.abs(lag) * 1e-6;
    if (score > best) {
      best = score;
      bestLag = lag;
    }
  }
  return best > 0 ? round3(bestLag) : null;
}

export function retimeBySpeech(cues: CueSpan[], segments: SpeechSegment[], duration: number, o: RetimeOptions, visual: (VisualHint | null)[] = []): SpeechRetimeResult {
  const weight = o.visual_weight ?? 0;
  const gainOf = (i: number, start: number, end: number) => {
    const speech = matchGain(cues[i], start, end, offset!, o);
    if (speech === -1) return { speech, pictures: 0, total: -1 };
    const pictures = weight > 0 && visual[i] ? DTW_VISUAL_SHARE * weight * visualAgreement(visual[i]!, start, end, o) : 0;
    return { speech, pictures, total: speech + pictures };
  };
  const shifts = cues.flatMap((c, i) => (visual[i] ? [(visual[i]!.start + visual[i]!.end) / 2 - (c.start + c.end) / 2] : []));
  const offset = globalSpeechOffset(cues, segments, duration, o.max_shift_s, { shifts, weight, jitter: o.max_jitter_s });
  const matches: (SpeechMatch | null)[] = cues.map(() => null);
  if (offset === null) return { offset, matches };
  const n = cues.length;
  const m = segments.length;
  const w = m + 1;
  // D[i][j]: best gain of the first i cues over the first j segments.
  const D = new Float64Array((n + 1) * w);
  // Back-pointer: -1 drop segment, -2 drop cue, a >= 0 cue i took segments a..j-1.
  const from = new Int32Array((n + 1) * w);
  for (let i = 1; i <= n; i++) from[i * w] = -2;
  for (let i = 1; i <= n; i++) {
    const cue = cues[i - 1];
    for (let j = 1; j <= m; j++) {
      const at = i * w + j;
      let best = D[at - 1];
      let how = -1;
      if (D[at - w] > best) {
        best = D[at - w];
        how = -2;
      }
      for (let a = j - 1; a >= 0; a--) {
        // Runs longer than the cue allows cannot gain: stop once past it.
        if (segments[j - 1].end - segments[a].start > (cue.end - cue.start) * 4 + 2 * o.max_jitter_s) break;
        const g = gainOf(i - 1, segments[a].start, segments[j - 1].end).total;
        if (g > 0 && D[(i - 1) * w + a] + g > best) {
          best = D[(i - 1) * w + a] + g;
          how = a;
        }
      }
      D[at] = best;
      from[at] = how;
    }
  }
  let i = n;
  let j = m;
  while (i > 0 && j > 0) {
    const how = from[i * w + j];
    if (how === -1) j--;
    else if (how === -2) i--;
    else {
      const start = segments[how].start;
      const end = segments[j - 1].end;
      const g = gainOf(i - 1, start, end);
      matches[i - 1] = { start, end, first: how, last: j - 1, gain: round3(g.speech), visualGain: round3(g.pictures) };
      i--;
      j = how;
    }
  }
  return { offset, matches };
}

/** 1 when the run is centred where the pictures put the cue, falling to 0 at max_jitter_s away. */
function visualAgreement(hint: VisualHint, start: number, end: number, o: RetimeOptions): number {
  const apart = Math.abs((start + end) / 2 - (hint.start + hint.end) / 2);
  return Math.max(0, 1 - apart / o.max_jitter_s);
}

/** The speech's gain of a match, -1 where the jitter or shift limits forbid it. */
function matchGain(cue: CueSpan, start: number, end: number, offset: number, o: RetimeOptions): number {
  const js = Math.abs(start - (cue.start + offset));
  const je = Math.abs(end - (cue.end + offset));
  if (js > o.max_jitter_s || je > o.max_jitter_s) return -1;
  if (Math.abs(start - cue.start) > o.max_shift_s || Math.abs(end - cue.end) > o.max_shift_s) return -1;
  const ratio = Math.log(Math.max(1e-3, end - start) / Math.max(1e-3, cue.end - cue.start));
  return 1 - (js + je) / (2 * o.max_jitter_s) - 0.5 * Math.abs(ratio);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
