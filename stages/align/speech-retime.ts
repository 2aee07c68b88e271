// Subtitle cues re-timed by the speech in the audio track (speech segments from
// stages/decode/voice-activity.ts). A subtitle file is usually off by one offset for the whole
// file plus a little per cue, so the alignment has two steps:
//   1. Global offset: the lag (within +-max_shift_s, 20 ms steps) that puts the most cue time
//      on speech and the least on non-speech: sum over cues of the integral of (+1 speech,
//      -1 not) over the shifted cue.
//   2. Drop-DTW over the cue sequence and the segment sequence: each kept cue takes a contiguous
//      run of segments, in order, none shared; any cue or segment may be dropped. A cue's match
//      gains 1 - (|start jitter| + |end jitter|) / (2 * max_jitter_s) - 0.5 |ln(run / cue length)|,
//      where jitter is the distance of the run's start/end from the cue's, after the global
//      offset; a jitter beyond max_jitter_s, a total shift beyond max_shift_s or a gain <= 0
//      cannot match, and the cue is dropped (not alignable, not moved).
// A matched cue is re-timed to its run's span: the speech's own start and end.
import type { SpeechSegment } from '../decode/voice-activity.ts';

export interface RetimeOptions {
  max_shift_s: number;
  max_jitter_s: number;
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
  gain: number;
}

export interface SpeechRetimeResult {
  /** Global offset found (seconds, positive: speech later than the cues), null when no lag puts more cue time on speech than off it. */
  offset: number | null;
  matches: (SpeechMatch | null)[];
}

const LAG_STEP = 0.02;

export function globalSpeechOffset(cues: CueSpan[], segments: SpeechSegment[], duration: number, maxShift: number): number | null {
  if (!cues.length || !segments.length) return null;
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
    // Ties go to the smaller shift.
    score -= Math.abs(lag) * 1e-6;
    if (score > best) {
      best = score;
      bestLag = lag;
    }
  }
  return best > 0 ? round3(bestLag) : null;
}

export function retimeBySpeech(cues: CueSpan[], segments: SpeechSegment[], duration: number, o: RetimeOptions): SpeechRetimeResult {
  const offset = globalSpeechOffset(cues, segments, duration, o.max_shift_s);
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
        const g = matchGain(cue, segments[a].start, segments[j - 1].end, offset, o);
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
      matches[i - 1] = { start, end, first: how, last: j - 1, gain: round3(matchGain(cues[i - 1], start, end, offset, o)) };
      i--;
      j = how;
    }
  }
  return { offset, matches };
}

function matchGain(cue: CueSpan, start: number, end: number, offset: number, o: RetimeOptions): number {
  const js = Math.abs(start - (cue.start + offset));
  const je = Math.abs(end - (cue.end + offset));
  if (js > o.max_jitter_s || je > o.max_jitter_s) return -1;
  if (Math.abs(start - cue.start) > o.max_shift_s || Math.abs(end - cue.end) > o.max_shift_s) return -1;
  const ratio = Math.log(Math.max(1e-3, end - start) / Math.max(1e-3, cue.end - cue.start));
  return 1 - (js + je) / (2 * o.max_jitter_s) - 0.5 * Math.abs(ratio);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
