// The safety stage: the nsfwjs MobileNetV2 (scorer/backbone/) classifies every decoded
// image into drawing / hentai / neutral / porn / sexy. Each sample gets the five probabilities
// and `nsfw` = hentai + porn + sexy (the three classes a safe-for-work filter removes); with
// max_nsfw set, samples above it are dropped (reason nsfw, with the probabilities as detail).
// Stats: histogram `safety:nsfw`, and counts of the most probable class (group safety:class).
// Images the classifier cannot read are dropped (reason safety_image_unreadable).
import { batchMapStage, drop, errorMessage, type Drop, type Stage } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { imagePreprocessingFrom, preprocessImage } from '../../scorer/clip-preprocess.ts';
import { OnnxEncoder, floatTensor } from '../../scorer/onnx-encoder.ts';
import { BACKBONE_INPUT, BACKBONE_PREPROCESSOR_CONFIG, NSFW_CLASSES, backboneModelPath, type NsfwClass } from '../../scorer/backbone/nsfwjs-mobilenet.ts';

export type SafetyScores = Record<NsfwClass, number> & { nsfw: number };

export interface SafetyFields {
  safety?: SafetyScores;
}

/** The classes a safe-for-work filter removes; `nsfw` is their summed probability. */
export const UNSAFE_CLASSES: NsfwClass[] = ['hentai', 'porn', 'sexy'];
export const NSFW_HISTOGRAM = 'safety:nsfw';
export const NSFW_CLASS_GROUP = 'safety:class';

export interface SafetyClassifier {
  classify(images: Uint8Array[]): Promise<(SafetyScores | { error: string })[]>;
  close(): Promise<void>;
}

const PREPROCESSING = imagePreprocessingFrom(BACKBONE_PREPROCESSOR_CONFIG);

export async function openSafetyClassifier(threads?: number): Promise<SafetyClassifier> {
  const encoder = await OnnxEncoder.open(await backboneModelPath(), threads ? { threads } : {});
  const S = BACKBONE_INPUT;
  return {
    async classify(images) {
      const pixels = await Promise.all(images.map((b) => preprocessImage(b, PREPROCESSING).then((r) => r.data, (err: unknown) => new Error(errorMessage(err)))));
      const readable = pixels.map((_, i) => i).filter((i) => !(pixels[i] instanceof Error));
      const out: (SafetyScores | { error: string })[] = pixels.map((p) => ({ error: p instanceof Error ? p.message : '' }));
      if (readable.length === 0) return out;
      const batch = new Float32Array(readable.length * 3 * S * S);
      readable.forEach((i, k) => batch.set(pixels[i] as Float32Array, k * 3 * S * S));
      const result = await encoder.run({ pixel_values: floatTensor(batch, [readable.length, 3, S, S]) }, ['class_probs']);
      const probs = result.class_probs.data as Float32Array;
      readable.forEach((i, k) => {
        const s = Object.fromEntries(NSFW_CLASSES.map((c, j) => [c, round(probs[k * NSFW_CLASSES.length + j])])) as SafetyScores;
        s.nsfw = round(UNSAFE_CLASSES.reduce((a, c) => a + probs[k * NSFW_CLASSES.length + NSFW_CLASSES.indexOf(c)], 0));
        out[i] = s;
      });
      return out;
    },
    close: () => encoder.close(),
  };
}

export interface SafetyStageOptions {
  classifier: SafetyClassifier;
  batchSize: number;
  maxNsfw: number | null;
}

export function safetyStage<S extends ImageTextSample>(o: SafetyStageOptions): Stage<S, S & SafetyFields> {
  // One batch is classified while the next is pulled from upstream (and decoded there).
  return batchMapStage<S, S & SafetyFields>(
    'safety',
    async (batch, ctx): Promise<(S & SafetyFields | Drop)[]> => {
      const histogram = ctx.stats.histogram(NSFW_HISTOGRAM, 0, 1, 20);
      const scores = await o.classifier.classify(batch.map((s) => s.image.bytes));
      return batch.map((sample, i) => {
        const s = scores[i];
        if ('error' in s) return drop('safety_image_unreadable', s.error);
        histogram.add(s.nsfw);
        const top = NSFW_CLASSES.reduce((a, c) => (s[c] > s[a] ? c : a), NSFW_CLASSES[0]);
        ctx.stats.count(NSFW_CLASS_GROUP, top);
        if (o.maxNsfw !== null && s.nsfw > o.maxNsfw) {
          return drop('nsfw', `nsfw ${s.nsfw.toFixed(4)} > max_nsfw ${o.maxNsfw} (${NSFW_CLASSES.map((c) => `${c} ${s[c].toFixed(3)}`).join(', ')})`, { value: s.nsfw, threshold: o.maxNsfw });
        }
        return { ...sample, safety: s };
      });
    },
    { batchSize: o.batchSize },
  );
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
