// Narration alignment of one video: the sentence-by-frame similarity matrix (cosines of scorer
// embeddings), aligned in order by Drop-DTW (drop-dtw.ts). Each sentence gets:
//   match_start / match_end  the span of the frames it was matched to (start of the first
//                            sampled frame's interval to the end of the last one's);
//   aligned_start / aligned_end  the sentence re-timed: its original duration, centred on the
//                            matched span (subtitle lengths are usually right, their offset is
//                            what drifts), clamped to the video;
//   score                    the mean similarity over the matched frames;
//   alignable                false when Drop-DTW dropped the sentence; its aligned times are then
//                            its original ones and the match fields are null.
// The original start and end stay beside the aligned ones.
import { cosine } from '../../scorer/scorer.ts';
import { dropDtw, dropThresholdAt } from './drop-dtw.ts';
import type { SentenceAlignment } from '../../schemas/video-items.ts';

export interface NarrationCue {
  text: string;
  start: number;
  end: number;
}

export interface NarrationInput {
  cues: NarrationCue[];
  /** One pooled embedding per cue. */
  sentenceEmbeddings: Float32Array[];
  /** Times (seconds) of the sampled frames, ascending, one per `frameInterval`. */
  frameTimes: number[];
  frameEmbeddings: Float32Array[];
  frameInterval: number;
  videoDuration: number;
  /** Percentile (0..1) of all similarities used as the drop threshold. */
  dropPercentile: number;
}

export interface NarrationResult {
  sentences: SentenceAlignment[];
  dropThreshold: number;
  /** N rows of M similarities, for reports and tuning. */
  similarity: Float64Array[];
}

export function similarityMatrix(sentences: Float32Array[], frames: Float32Array[]): Float64Array[] {
  return sentences.map((s) => Float64Array.from(frames, (f) => cosine(s, f)));
}

export function alignNarration(input: NarrationInput): NarrationResult {
  const similarity = similarityMatrix(input.sentenceEmbeddings, input.frameEmbeddings);
  const dropThreshold = dropThresholdAt(similarity, input.dropPercentile);
  const { runs } = dropDtw(similarity, dropThreshold);
  const sentences = input.cues.map((cue, i): SentenceAlignment => {
    const run = runs[i];
    if (!run) return { alignedStart: cue.start, alignedEnd: cue.end, matchStart: null, matchEnd: null, score: null, alignable: false, shift: 0, evidence: 'none' };
    const matchStart = input.frameTimes[run.first];
    const matchEnd = Math.min(input.videoDuration, input.frameTimes[run.last] + input.frameInterval);
    const length = Math.min(cue.end - cue.start, input.videoDuration);
    let alignedStart = (matchStart + matchEnd) / 2 - length / 2;
    alignedStart = Math.max(0, Math.min(input.videoDuration - length, alignedStart));
    return { alignedStart: round3(alignedStart), alignedEnd: round3(alignedStart + length), matchStart: round3(matchStart), matchEnd: round3(matchEnd), score: round3(run.meanSimilarity), alignable: true, shift: round3(alignedStart - cue.start), evidence: 'visual' };
  });
  return { sentences, dropThreshold, similarity };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
