// Drop-DTW (Dvornik et al., NeurIPS 2021) for ordered narration: align N sentences to M frames
// in order, where every kept sentence takes a contiguous run of at least one frame, runs do not
// overlap and follow the sentence order, and any sentence or frame may be dropped instead.
// Matching sentence i with frame j gains sim[i][j] - dropThreshold; dropping gains nothing, so a
// frame joins a run only when it is more similar than the threshold, and a sentence whose best
// run would not pay for itself is dropped (not alignable). The threshold is a percentile of all
// similarities (dropThresholdAt), as Drop-DTW sets its drop costs from the cost distribution.
//
// Dynamic programme over (i sentences, j frames), O(N * M) time and one byte of back-pointer
// per cell and state:
//   M[i][j] = gain(i, j) + max(M[i][j-1]  (extend i's run),  D[i-1][j-1]  (start i's run at j))
//   D[i][j] = max(D[i][j-1]  (drop frame j),  D[i-1][j]  (drop sentence i),  M[i][j])

export interface FrameRun {
  /** First and last frame of the run (inclusive). */
  first: number;
  last: number;
  /** Mean similarity over the run. */
  meanSimilarity: number;
}

export interface DropDtwResult {
  /** Per sentence: its run of frames, or null when the sentence was dropped. */
  runs: (FrameRun | null)[];
  /** Total gain of the alignment. */
  gain: number;
  dropThreshold: number;
}

/** The p-th quantile (0..1, linear interpolation) of every similarity. */
export function dropThresholdAt(sim: ArrayLike<number>[], p: number): number {
  const all: number[] = [];
  for (const row of sim) for (let j = 0; j < row.length; j++) all.push(row[j]);
  if (all.length === 0) return 0;
  all.sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, p)) * (all.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(all.length - 1, lo + 1);
  return all[lo] + (all[hi] - all[lo]) * (pos - lo);
}

// Back-pointers. D: which move gave D[i][j]; M: whether the run was extended or started at j.
const D_DROP_FRAME = 0;
const D_DROP_SENTENCE = 1;
const D_MATCH = 2;
const M_EXTEND = 0;
const M_START = 1;

/** sim: N rows (sentences) of M similarities (frames), all rows the same length. */
export function dropDtw(sim: ArrayLike<number>[], dropThreshold: number): DropDtwResult {
  const n = sim.length;
  const m = n ? sim[0].length : 0;
  const w = m + 1;
  // Row i of D and M covers j = 0..m; row 0 / column 0 mean "nothing yet".
  const D = new Float64Array((n + 1) * w);
  const M = new Float64Array((n + 1) * w).fill(-Infinity);
  const dFrom = new Uint8Array((n + 1) * w);
  const mFrom = new Uint8Array((n + 1) * w);
  for (let i = 1; i <= n; i++) dFrom[i * w] = D_DROP_SENTENCE;
  for (let i = 1; i <= n; i++) {
    const row = sim[i - 1];
    for (let j = 1; j <= m; j++) {
      const at = i * w + j;
      const gain = row[j - 1] - dropThreshold;
      const extend = M[at - 1];
      const start = D[(i - 1) * w + j - 1];
      if (extend >= start) {
        M[at] = gain + extend;
        mFrom[at] = M_EXTEND;
      } else {
        M[at] = gain + start;
        mFrom[at] = M_START;
      }
      let best = D[at - 1];
      let from = D_DROP_FRAME;
      if (D[(i - 1) * w + j] > best) {
        best = D[(i - 1) * w + j];
        from = D_DROP_SENTENCE;
      }
      if (M[at] > best) {
        best = M[at];
        from = D_MATCH;
      }
      D[at] = best;
      dFrom[at] = from;
    }
  }

  const runs: (FrameRun | null)[] = Array.from({ length: n }, () => null);
  let i = n;
  let j = m;
  while (i > 0 && j > 0) {
    const move = dFrom[i * w + j];
    if (move === D_DROP_FRAME) j--;
    else if (move === D_DROP_SENTENCE) i--;
    else {
      // Follow sentence i's run back to where it started.
      const last = j - 1;
      while (mFrom[i * w + j] === M_EXTEND) j--;
      const first = j - 1;
      let sum = 0;
      for (let k = first; k <= last; k++) sum += sim[i - 1][k];
      runs[i - 1] = { first, last, meanSimilarity: sum / (last - first + 1) };
      i--;
      j--;
    }
  }
  return { runs, gain: D[n * w + m], dropThreshold };
}
