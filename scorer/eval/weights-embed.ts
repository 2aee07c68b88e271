// Embeddings straight from reference-scorer weights and precomputed pyramid features, without
// exporting ONNX: the evaluation trains several models on subsets of one feature matrix (k-fold
// scoring, curation lift) and scores with each. Same math as the exported towers
// (stages/score/onnx/reference-model.ts); tests/stages/score/eval-embed.test.ts checks they agree.
import { TextTokenizer } from '../clip-tokenizer.ts';
import { embedCaptions, projectImages } from '../contrastive.ts';
import { wordTokenizerFiles, type ReferenceScorerWeights } from '../onnx/reference-model.ts';
import { captionRows, withCharNgrams } from '../reference-trainer.ts';

/** Unit image embeddings of feature rows `rows` of `features` ([*, featureSize]). */
export function imageEmbeddingsFromFeatures(w: ReferenceScorerWeights, features: Float32Array, featureSize: number, rows: number[]): Float32Array[] {
  const selected = new Float32Array(rows.length * featureSize);
  rows.forEach((r, i) => selected.set(features.subarray(r * featureSize, (r + 1) * featureSize), i * featureSize));
  // A non-linear head's two layers, laid out as contrastive.ts expects them (W1 then W2, b1 then b2).
  const projection = w.head ? concat(w.projection, w.head.weight) : w.projection;
  const bias = w.head ? concat(w.projectionBias, w.head.bias) : w.projectionBias;
  const params = { featureSize, dim: w.dim, ...(w.head ? { hidden: w.head.hidden } : {}), projection, bias, words: w.wordEmbeddings, bigrams: w.bigramEmbeddings };
  return unitRows(projectImages(params, selected, rows.length), rows.length, w.dim);
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Unit text embeddings, tokenised by the model's own tokenizer.json. */
export function textEmbeddingsFromWeights(w: ReferenceScorerWeights, captions: string[]): Float32Array[] {
  const files = wordTokenizerFiles(w.vocab, w.contextLength);
  const tokenizer = new TextTokenizer({ tokenizer: files.tokenizer, config: files.tokenizerConfig });
  const V = w.vocab.length;
  const bigramIndex = new Map(w.bigrams.map(([a, b], i) => [a * V + b, i + 1]));
  // Character n-gram rows follow the bigram rows, as in training (reference-trainer.ts withCharNgrams).
  const ngrams = w.charNgrams && w.ngramEmbeddings ? { options: w.charNgrams, known: new Set(w.vocab), offset: w.bigrams.length + 1 } : null;
  const rows = captions.map((c) => withCharNgrams(captionRows(tokenizer.encodeOne(c).slice(0, w.contextLength), V, bigramIndex), c, w.contextLength, ngrams));
  const bigrams = ngrams ? concat(w.bigramEmbeddings, w.ngramEmbeddings!) : w.bigramEmbeddings;
  const params = { featureSize: 0, dim: w.dim, projection: new Float32Array(0), bias: new Float32Array(0), words: w.wordEmbeddings, bigrams };
  return unitRows(embedCaptions(params, rows), captions.length, w.dim);
}

function unitRows(x: Float32Array, n: number, D: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => {
    const row = x.slice(i * D, (i + 1) * D);
    let s = 0;
    for (let d = 0; d < D; d++) s += row[d] * row[d];
    const norm = Math.sqrt(s);
    if (norm > 0) for (let d = 0; d < D; d++) row[d] /= norm;
    return row;
  });
}
