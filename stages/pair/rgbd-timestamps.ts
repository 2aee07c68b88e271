// Coarse RGB-D pairing by timestamp, as pure functions on arrays of seconds.
//
// `associateOneToOne` implements the rule of the TUM RGB-D benchmark's associate.py: every
// (a, b) with |a - (b + offset)| < maxDifference is a candidate; candidates are taken in order
// of increasing difference, and one is accepted when neither of its frames is taken yet.
// Ties in difference go to the smaller first index, then the smaller second index (associate.py
// breaks them by the timestamps themselves, which is the same order for sorted, distinct lists).
//
// Why the fast version gives the same pairs: the greedy result depends only on the candidate
// set and its order. For a fixed a, the b's that pass the window test form one contiguous run
// of the b's sorted by b + offset (|a - x| falls then rises as x grows, also in floating point,
// since rounded subtraction is monotone), and the start of that run only moves forward as a
// grows. A sweep over both sorted lists therefore lists exactly the candidates the direct
// O(n·m) double loop finds, each with the same floating-point difference; sorting them with
// the same comparator and running the same greedy pass gives the same pairs.
//
// Cost: O(n log n + m log m) to sort, O(n + m + K) to sweep and O(K log K) to order the K
// candidates. When the window holds O(1) frames of each stream, as with real cameras (30 Hz
// against a 20 ms window), K = O(n + m) and the total is O((n + m) log(n + m)); in the worst
// case (a window wider than the whole recording) K = n·m, no better than the direct version.

export interface IndexPair {
  /** Index into the first list (RGB). */
  first: number;
  /** Index into the second list (depth). */
  second: number;
  /** first - (second + offset), in seconds. */
  skew: number;
}

export interface Unpaired {
  index: number;
  /** Signed skew to the nearest frame of the other list (any frame, taken or not), in seconds; null if that list is empty. */
  nearestSkew: number | null;
  /** Index (in the other list) of that nearest frame; present when the other list is not empty. */
  nearest?: number;
  /**
   * Present when the nearest frame was inside the window but went to a closer match: the frame
   * of this frame's own list it was paired with, and that pair's skew (seconds, first - second).
   */
  takenBy?: { index: number; skew: number };
}

export interface PairingResult {
  /** Sorted by first index. */
  pairs: IndexPair[];
  unpairedFirst: Unpaired[];
  unpairedSecond: Unpaired[];
}

export interface PairingOptions {
  /** Largest accepted |a - (b + offset)|, exclusive, in seconds. Default 0.02. */
  maxDifference?: number;
  /** Added to every second-list timestamp before comparing. Default 0. */
  offset?: number;
}

interface Candidate {
  diff: number;
  first: number;
  second: number;
}

/** TUM associate semantics in O((n+m) log(n+m) + K log K); see the header comment. */
export function associateOneToOne(first: readonly number[], second: readonly number[], options: PairingOptions = {}): PairingResult {
  const { maxDifference, offset } = resolve(options);
  const firstOrder = sortedIndices(first);
  const shifted = second.map((b) => b + offset);
  const secondOrder = sortedIndices(shifted);

  const candidates: Candidate[] = [];
  let lo = 0;
  for (const i of firstOrder) {
    const a = first[i];
    // Skip b's too far below a; they are too far below every later a as well.
    while (lo < secondOrder.length && shifted[secondOrder[lo]] < a && !(Math.abs(a - shifted[secondOrder[lo]]) < maxDifference)) lo++;
    for (let k = lo; k < secondOrder.length; k++) {
      const j = secondOrder[k];
      const diff = Math.abs(a - shifted[j]);
      if (diff < maxDifference) candidates.push({ diff, first: i, second: j });
      else if (shifted[j] >= a) break;
    }
  }
  return greedy(candidates, first, shifted, maxDifference);
}

/** The direct O(n·m) statement of the rule, kept as the reference the fast version is tested against. */
export function associateOneToOneBruteForce(first: readonly number[], second: readonly number[], options: PairingOptions = {}): PairingResult {
  const { maxDifference, offset } = resolve(options);
  const shifted = second.map((b) => b + offset);
  const candidates: Candidate[] = [];
  for (let i = 0; i < first.length; i++) {
    for (let j = 0; j < second.length; j++) {
      const diff = Math.abs(first[i] - shifted[j]);
      if (diff < maxDifference) candidates.push({ diff, first: i, second: j });
    }
  }
  return greedy(candidates, first, shifted, maxDifference);
}

/**
 * Nearest-neighbour, many-to-one (NYU toolbox style): each first-list frame takes the nearest
 * second-list frame within the window, and a second-list frame may serve several. Second-list
 * frames nobody chose are reported unpaired. Ties go to the earlier second frame.
 */
export function associateNearest(first: readonly number[], second: readonly number[], options: PairingOptions = {}): PairingResult {
  const { maxDifference, offset } = resolve(options);
  const shifted = second.map((b) => b + offset);
  const secondOrder = sortedIndices(shifted);
  const sortedValues = secondOrder.map((j) => shifted[j]);
  const pairs: IndexPair[] = [];
  const used = new Uint8Array(second.length);
  for (let i = 0; i < first.length; i++) {
    const k = nearestSortedIndex(sortedValues, first[i]);
    if (k < 0) continue;
    const j = secondOrder[k];
    const skew = first[i] - shifted[j];
    if (Math.abs(skew) < maxDifference) {
      pairs.push({ first: i, second: j, skew });
      used[j] = 1;
    }
  }
  const firstUsed = new Uint8Array(first.length);
  for (const p of pairs) firstUsed[p.first] = 1;
  return { pairs, ...unpairedOf(pairs, first, shifted, firstUsed, used, maxDifference) };
}

function greedy(candidates: Candidate[], first: readonly number[], shifted: readonly number[], maxDifference: number): PairingResult {
  candidates.sort((x, y) => x.diff - y.diff || x.first - y.first || x.second - y.second);
  const firstTaken = new Uint8Array(first.length);
  const secondTaken = new Uint8Array(shifted.length);
  const pairs: IndexPair[] = [];
  for (const c of candidates) {
    if (firstTaken[c.first] || secondTaken[c.second]) continue;
    firstTaken[c.first] = 1;
    secondTaken[c.second] = 1;
    pairs.push({ first: c.first, second: c.second, skew: first[c.first] - shifted[c.second] });
  }
  pairs.sort((x, y) => x.first - y.first);
  return { pairs, ...unpairedOf(pairs, first, shifted, firstTaken, secondTaken, maxDifference) };
}

/** The frames of both lists that no pair uses, each with its nearest frame of the other list and who took it. */
function unpairedOf(pairs: IndexPair[], first: readonly number[], shifted: readonly number[], firstUsed: Uint8Array, secondUsed: Uint8Array, maxDifference: number): { unpairedFirst: Unpaired[]; unpairedSecond: Unpaired[] } {
  const partnerOfFirst = new Map<number, IndexPair>();
  const partnerOfSecond = new Map<number, IndexPair>();
  for (const p of pairs) {
    if (!partnerOfFirst.has(p.first)) partnerOfFirst.set(p.first, p);
    // Many-to-one matching can pair a depth frame several times; the closest pair names it.
    const q = partnerOfSecond.get(p.second);
    if (!q || Math.abs(p.skew) < Math.abs(q.skew)) partnerOfSecond.set(p.second, p);
  }
  const firstOrder = sortedIndices(first);
  const secondOrder = sortedIndices(shifted);
  const firstSorted = firstOrder.map((i) => first[i]);
  const secondSorted = secondOrder.map((j) => shifted[j]);
  const unpairedFirst: Unpaired[] = [];
  for (let i = 0; i < first.length; i++) {
    if (firstUsed[i]) continue;
    const k = nearestSortedIndex(secondSorted, first[i]);
    if (k < 0) {
      unpairedFirst.push({ index: i, nearestSkew: null });
      continue;
    }
    const j = secondOrder[k];
    const taken = Math.abs(first[i] - shifted[j]) < maxDifference ? partnerOfSecond.get(j) : undefined;
    unpairedFirst.push({ index: i, nearestSkew: first[i] - shifted[j], nearest: j, ...(taken ? { takenBy: { index: taken.first, skew: taken.skew } } : {}) });
  }
  const unpairedSecond: Unpaired[] = [];
  for (let j = 0; j < shifted.length; j++) {
    if (secondUsed[j]) continue;
    const k = nearestSortedIndex(firstSorted, shifted[j]);
    if (k < 0) {
      unpairedSecond.push({ index: j, nearestSkew: null });
      continue;
    }
    const i = firstOrder[k];
    const taken = Math.abs(first[i] - shifted[j]) < maxDifference ? partnerOfFirst.get(i) : undefined;
    unpairedSecond.push({ index: j, nearestSkew: first[i] - shifted[j], nearest: i, ...(taken ? { takenBy: { index: taken.second, skew: taken.skew } } : {}) });
  }
  return { unpairedFirst, unpairedSecond };
}

/** Index of the value nearest to x in an ascending array (the lower one on a tie); -1 when empty. */
function nearestSortedIndex(sorted: readonly number[], x: number): number {
  if (sorted.length === 0) return -1;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return 0;
  if (lo === sorted.length) return lo - 1;
  return x - sorted[lo - 1] <= sorted[lo] - x ? lo - 1 : lo;
}

function sortedIndices(values: readonly number[]): number[] {
  return values.map((_, i) => i).sort((x, y) => values[x] - values[y] || x - y);
}

function resolve(options: PairingOptions): { maxDifference: number; offset: number } {
  const maxDifference = options.maxDifference ?? 0.02;
  const offset = options.offset ?? 0;
  if (!(maxDifference > 0) || !Number.isFinite(maxDifference)) throw new RangeError(`maxDifference must be a positive number, got ${maxDifference}`);
  if (!Number.isFinite(offset)) throw new RangeError(`offset must be finite, got ${offset}`);
  return { maxDifference, offset };
}
