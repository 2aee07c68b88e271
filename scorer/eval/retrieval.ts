// Cross-modal retrieval recall: pair i is (images[i], texts[i]); for each image the texts are
// ranked by cosine (image -> text), and for each text the images (text -> image). R@k is the
// share of queries whose own partner ranks in the top k. Ties count in the query's favour:
// two identical captions are equally right.

export interface RetrievalRecall {
  imageToText: Record<number, number>;
  textToImage: Record<number, number>;
  /** Queries per direction. */
  n: number;
}

/** Cosine similarity matrix [images x texts] of unit vectors, row-major. */
export function similarityMatrix(images: Float32Array[], texts: Float32Array[]): Float32Array {
  const n = images.length;
  const m = texts.length;
  const sim = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const a = images[i];
    for (let j = 0; j < m; j++) {
      const b = texts[j];
      let s = 0;
      for (let d = 0; d < a.length; d++) s += a[d] * b[d];
      sim[i * m + j] = s;
    }
  }
  return sim;
}

/** How many candidates score strictly higher than each query's own partner, per direction. */
function retrievalRanks(images: Float32Array[], texts: Float32Array[]): { imageToText: Int32Array; textToImage: Int32Array } {
  const n = images.length;
  if (texts.length !== n) throw new Error(`retrieval needs as many texts as images, got ${texts.length} and ${n}`);
  const sim = similarityMatrix(images, texts);
  const imageToText = new Int32Array(n);
  const textToImage = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const own = sim[i * n + i];
    for (let j = 0; j < n; j++) {
      if (sim[i * n + j] > own) imageToText[i] += 1;
      if (sim[j * n + i] > own) textToImage[i] += 1;
    }
  }
  return { imageToText, textToImage };
}

export function retrievalRecall(images: Float32Array[], texts: Float32Array[], ks = [1, 5, 10]): RetrievalRecall {
  const n = images.length;
  const ranks = retrievalRanks(images, texts);
  const at = (r: Int32Array) => Object.fromEntries(ks.map((k) => [k, n === 0 ? 0 : r.filter((x) => x < k).length / n]));
  return { imageToText: at(ranks.imageToText), textToImage: at(ranks.textToImage), n };
}
