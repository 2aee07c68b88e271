// Noisy-pair detection: how well a pair score separates right captions from wrong ones.
// Wrong captions are made two ways: swapped with another image's caption (the coarse noise of
// web data), and a single attribute of one object edited (colour, shape, position or size), the
// fine-grained noise a bag-of-words scorer is most likely to miss. Quality is measured as AUROC
// and average precision, with "noisy" the positive class and a lower pair score meaning noisier.
import { COLOURS, SHAPES, type Colour, type DemoObject, type Shape } from '../../corpora/demo-corpus.ts';
import { seededRandom } from '../onnx/random.ts';
import { captionKey } from './corpora.ts';

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (the Mann-Whitney U statistic over the counts). NaN when
 * either class is empty.
 */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const order = sortedDescending(scores);
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < positive.length; i++) positive[i] ? pos++ : neg++;
  if (pos === 0 || neg === 0) return NaN;
  // Walk from the highest score down; each negative is beaten by the positives seen before it.
  let positivesAbove = 0;
  let wins = 0;
  for (let g = 0; g < order.length; ) {
    let end = g;
    let groupPos = 0;
    let groupNeg = 0;
    while (end < order.length && scores[order[end]] === scores[order[g]]) positive[order[end++]] ? groupPos++ : groupNeg++;
    wins += groupNeg * (positivesAbove + groupPos / 2);
    positivesAbove += groupPos;
    g = end;
  }
  return wins / (pos * neg);
}

/**
 * Average precision as scikit-learn defines it: the sum over score thresholds of
 * (recall step) x (precision at that threshold), tied scores forming one threshold.
 */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const order = sortedDescending(scores);
  let total = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) total++;
  if (total === 0) return NaN;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  for (let g = 0; g < order.length; ) {
    let end = g;
    let groupPos = 0;
    while (end < order.length && scores[order[end]] === scores[order[g]]) if (positive[order[end++]]) groupPos++;
    seen = end;
    tp += groupPos;
    ap += (groupPos / total) * (tp / seen);
    g = end;
  }
  return ap;
}

function sortedDescending(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
}

/** Noise scores from pair scores: the lower the alignment, the noisier. */
export function noiseScores(pairScores: ArrayLike<number>): Float64Array {
  return Float64Array.from(pairScores, (s) => -s);
}

/**
 * Gives `fraction` of the pairs another pair's caption: the chosen ones pass captions one step
 * along a shuffled cycle, re-drawn where a caption would land on a pair with the same caption.
 * Returns each pair's caption and whether it was swapped.
 */
export function swapCaptions(captions: string[], fraction: number, seed: number): { captions: string[]; swapped: boolean[] } {
  const random = seededRandom(seed ^ 0x5a9);
  const n = captions.length;
  const k = Math.round(n * fraction);
  const order = Array.from({ length: n }, (_, i) => i);
  shuffle(order, random);
  const chosen = order.slice(0, k);
  const out = captions.slice();
  const swapped = new Array<boolean>(n).fill(false);
  if (k < 2) return { captions: out, swapped };
  for (let attempt = 0; attempt < 20; attempt++) {
    const clash = chosen.some((idx, i) => captionKey(captions[idx]) === captionKey(captions[chosen[(i + 1) % k]]));
    if (!clash) break;
    shuffle(chosen, random);
  }
  chosen.forEach((idx, i) => {
    const donor = chosen[(i + 1) % k];
    out[idx] = captions[donor];
    // A caption that happens to equal this pair's own is not noise.
    swapped[idx] = captionKey(captions[donor]) !== captionKey(captions[idx]);
  });
  return { captions: out, swapped };
}

export const ATTRIBUTES = ['colour', 'shape', 'position', 'size'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

const POSITION_PHRASE = /^(in the |at the |on the |near the )(top left|top right|bottom left|bottom right|top|bottom|left|right|center|middle)( corner| side)?/;
const POSITIONS = ['top left', 'top', 'top right', 'left', 'center', 'right', 'bottom left', 'bottom', 'bottom right'];

function positionPhrase(position: string): string {
  if (position === 'center') return 'in the center';
  if (position.includes(' ')) return `in the ${position} corner`;
  if (position === 'left' || position === 'right') return `on the ${position}`;
  return `at the ${position}`;
}

/**
 * The caption with one attribute of one object changed so that it no longer describes the
 * image (a colour or shape no object in the image has in that combination, a free position, the
 * other size), or null when the caption does not state that attribute.
 */
export function editAttribute(caption: string, objects: DemoObject[], attribute: Attribute, random: () => number): string | null {
  const candidates = objects.filter((o) => caption.includes(o.phrase));
  const others = (o: DemoObject) => objects.filter((x) => x !== o);
  for (const o of shuffle(candidates.slice(), random)) {
    const at = caption.indexOf(o.phrase);
    const before = caption.slice(0, at);
    const after = caption.slice(at + o.phrase.length);
    const taken = new Set(others(o).map((x) => `${x.colour} ${x.shape}`));
    if (attribute === 'colour' || attribute === 'shape') {
      const options =
        attribute === 'colour'
          ? (Object.keys(COLOURS) as Colour[]).filter((c) => c !== o.colour && !taken.has(`${c} ${o.shape}`)).map((c) => o.phrase.replace(`${o.colour} ${o.shape}`, `${c} ${o.shape}`))
          : (SHAPES as readonly Shape[]).filter((s) => s !== o.shape && !taken.has(`${o.colour} ${s}`)).map((s) => o.phrase.replace(`${o.colour} ${o.shape}`, `${o.colour} ${s}`));
      const phrase = options[Math.floor(random() * options.length)];
      return `${withArticle(before, phrase)}${after}`;
    }
    if (attribute === 'size') {
      if (!o.phrase.startsWith(`${o.size} `)) continue;
      const phrase = o.phrase.replace(o.size, o.size === 'small' ? 'large' : 'small');
      return `${withArticle(before, phrase)}${after}`;
    }
    const m = POSITION_PHRASE.exec(after.trimStart());
    if (!m) continue;
    const lead = after.slice(0, after.length - after.trimStart().length);
    const occupied = new Set(objects.map((x) => x.position));
    const free = POSITIONS.filter((p) => !occupied.has(p));
    const position = free[Math.floor(random() * free.length)];
    return `${before}${o.phrase}${lead}${positionPhrase(position)}${after.trimStart().slice(m[0].length)}`;
  }
  return null;
}

/** `before` + `phrase`, with a trailing "a"/"an" of `before` made right for the new phrase (an orange, a red). */
function withArticle(before: string, phrase: string): string {
  const m = /\b(a|an) $/.exec(before);
  if (!m) return before + phrase;
  return `${before.slice(0, m.index)}${/^[aeiou]/.test(phrase) ? 'an' : 'a'} ${phrase}`;
}

function shuffle<T>(a: T[], random: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export interface DetectionResult {
  auroc: number;
  averagePrecision: number;
  /** Pairs scored and how many of them are noisy. */
  n: number;
  noisy: number;
}

export function detection(pairScores: ArrayLike<number>, noisy: boolean[]): DetectionResult {
  const s = noiseScores(pairScores);
  return { auroc: auroc(s, noisy), averagePrecision: averagePrecision(s, noisy), n: noisy.length, noisy: noisy.filter(Boolean).length };
}
