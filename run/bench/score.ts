// weft bench score: image-caption pairs per second through the pipeline's score stage (decode
// and preprocess, tokenise, both towers in worker threads, cosine, stats) against bare
// onnxruntime sessions on the main thread running the same two models on the same pairs at
// the same batch size with the same thread count, with preprocessing and tokenisation done
// beforehand (the limit: model time alone). It also reports the bare sessions' rate when the
// same preprocessing and tokenisation are counted, done before the runs (no overlap). All are
// measured in the same process, alternating, best of ROUNDS each.
//
//   weft bench score [--n PAIRS]   (default 512 pairs of 64 px images)
//
// The scorer is the shipped random-feature reference scorer (models/reference) when it exists,
// else a tiny one trained here. The backbone scorer (models/reference-backbone: the frozen
// MobileNetV2 with a learned projection, 224 px) is measured the same way, stage against bare
// sessions of its joined vision model and text model, on the first BACKBONE_PAIRS pairs.
// The pretrained backbone (nsfwjs' MobileNetV2 converted to ONNX, 224 px) is measured the same
// way: the safety stage, which runs it over every image, against a bare session of the same model
// on the same preprocessed images (first BACKBONE_PAIRS pairs: it is ~50x the reference's cost).
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { VISION_HEAD_FILE, writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { trainReferenceScorer } from '../../scorer/reference-trainer.ts';
import { loadScorer } from '../../scorer/scorer.ts';
import { locateScorerFiles } from '../../scorer/scorer-registry.ts';
import { imagePreprocessingFrom, preprocessImage } from '../../scorer/clip-preprocess.ts';
import { TextTokenizer } from '../../scorer/clip-tokenizer.ts';
import { scoreStage } from '../../stages/score/score-stage.ts';
import { scoreColumnName } from '../../stages/score/score-columns.ts';
import { REFERENCE_BACKBONE_SCORER_DIR, REFERENCE_RANDOM_SCORER_DIR } from '../../kinds/run-scorer.ts';
import { RunStats } from '../../core/stats.ts';
import { RejectLedger } from '../../core/rejects.ts';
import { silentLogger } from '../../core/logger.ts';
import type { StageContext } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { ratioLine, type Bench } from './harness.ts';
import { openSafetyClassifier, safetyStage } from '../../stages/curate/safety-stage.ts';
import { BACKBONE_INPUT, BACKBONE_PREPROCESSOR_CONFIG, backboneModelPath } from '../../scorer/backbone/nsfwjs-mobilenet.ts';

const DEFAULT_PAIRS = 512;
const BATCH = 64;
const ROUNDS = 2;
const BACKBONE_PAIRS = 128;
const BACKBONE_BATCH = 32;

export const bench: Bench = async ({ n, workDir, log }) => {
  const count = n || DEFAULT_PAIRS;
  const threads = Math.min(4, os.availableParallelism());
  const scorerDir = existsSync(path.join(REFERENCE_RANDOM_SCORER_DIR, 'vision_model.onnx')) ? REFERENCE_RANDOM_SCORER_DIR : await tinyScorer(workDir, log);
  log(`scorer ${scorerDir}; ${count} pairs, batch ${BATCH}, ${threads} threads per session`);
  const corpus = await makeDemoCorpus(path.join(workDir, 'corpus'), { count, swapFraction: 0.1, size: 64, seed: 7 });
  const samples: ImageTextSample[] = (await readCaptionFolder(corpus.imagesDir))
    .filter((p) => p.id.startsWith('img-'))
    .map((p) => ({ id: p.id, kind: 'image_text', source: p.id, caption: p.caption, image: { bytes: p.image, path: p.id }, width: 64, height: 64, originalWidth: 64, originalHeight: 64, sha256: createHash('sha256').update(p.image).digest('hex') }));

  const pipelineRates: number[] = [];
  const bare: { modelOnly: number; withPreprocessing: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    pipelineRates.push(await pipelineRate(scorerDir, samples, threads));
    bare.push(await bareRate(scorerDir, samples, threads));
    log(`round ${round + 1}: stage ${pipelineRates.at(-1)!.toFixed(1)} pairs/s, bare sessions ${bare.at(-1)!.modelOnly.toFixed(1)} pairs/s (${bare.at(-1)!.withPreprocessing.toFixed(1)} with preprocessing)`);
  }
  const stage = Math.max(...pipelineRates);
  const limit = Math.max(...bare.map((b) => b.modelOnly));
  const sequential = Math.max(...bare.map((b) => b.withPreprocessing));

  const backboneSamples = samples.slice(0, BACKBONE_PAIRS);
  const backboneStage: number[] = [];
  const backboneBare: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    backboneStage.push(await safetyStageRate(backboneSamples, threads));
    backboneBare.push(await bareBackboneRate(backboneSamples, threads));
    log(`round ${round + 1}: backbone (safety stage) ${backboneStage.at(-1)!.toFixed(1)} pairs/s, bare backbone session ${backboneBare.at(-1)!.toFixed(1)} pairs/s`);
  }
  const bStage = Math.max(...backboneStage);
  const bLimit = Math.max(...backboneBare);

  const backboneScorer = existsSync(path.join(REFERENCE_BACKBONE_SCORER_DIR, VISION_HEAD_FILE)) ? REFERENCE_BACKBONE_SCORER_DIR : await tinyBackboneScorer(workDir, log);
  const lit: { stage: number; bare: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    lit.push({ stage: await pipelineRate(backboneScorer, backboneSamples, threads, BACKBONE_BATCH), bare: (await bareRate(backboneScorer, backboneSamples, threads, BACKBONE_BATCH)).modelOnly });
    log(`round ${round + 1}: backbone scorer ${backboneScorer}: stage ${lit.at(-1)!.stage.toFixed(1)} pairs/s, bare sessions ${lit.at(-1)!.bare.toFixed(1)} pairs/s`);
  }
  const litStage = Math.max(...lit.map((r) => r.stage));
  const litLimit = Math.max(...lit.map((r) => r.bare));
  return {
    name: 'score',
    lines: [
      ratioLine(`score stage vs bare sessions (model time only), ${samples.length} pairs, batch ${BATCH}`, stage, limit, 'pairs'),
      ratioLine('score stage vs bare sessions after the same preprocessing and tokenisation', stage, sequential, 'pairs'),
      ratioLine(`backbone: safety stage vs bare MobileNetV2 session (model time only), ${backboneSamples.length} pairs, batch ${BACKBONE_BATCH}`, bStage, bLimit, 'pairs'),
      ratioLine(`backbone scorer: score stage vs bare sessions (model time only), ${backboneSamples.length} pairs, batch ${BACKBONE_BATCH}`, litStage, litLimit, 'pairs'),
    ],
    metrics: {
      pairs: samples.length,
      batch: BATCH,
      threads,
      cpus: os.availableParallelism(),
      stage_pairs_per_s: round1(stage),
      bare_pairs_per_s: round1(limit),
      ratio: Math.round((stage / limit) * 1000) / 1000,
      bare_with_preprocessing_pairs_per_s: round1(sequential),
      ratio_with_preprocessing: Math.round((stage / sequential) * 1000) / 1000,
      backbone_pairs: backboneSamples.length,
      backbone_stage_pairs_per_s: round1(bStage),
      backbone_bare_pairs_per_s: round1(bLimit),
      backbone_ratio: Math.round((bStage / bLimit) * 1000) / 1000,
      backbone_scorer_stage_pairs_per_s: round1(litStage),
      backbone_scorer_bare_pairs_per_s: round1(litLimit),
      backbone_scorer_ratio: Math.round((litStage / litLimit) * 1000) / 1000,
    },
  };
};

async function pipelineRate(dir: string, samples: ImageTextSample[], threads: number, batch = BATCH): Promise<number> {
  const scorer = await loadScorer(dir, { batchSize: batch, threads });
  try {
    const ctx: StageContext = { config: {}, stats: new RunStats(), rejects: new RejectLedger(), log: silentLogger, signal: new AbortController().signal, unit: { id: 'bench', source: 'bench' } };
    const stage = scoreStage<ImageTextSample>({ scorer, column: scoreColumnName(scorer.id), batchSize: batch, threshold: null, grounding: null, reportExamples: 0 });
    const started = performance.now();
    let out = 0;
    for await (const _ of stage(fromArray(samples), ctx)) out++;
    if (out !== samples.length) throw new Error(`score stage kept ${out} of ${samples.length}`);
    return samples.length / ((performance.now() - started) / 1000);
  } finally {
    await scorer.close();
  }
}

/** Both towers as plain InferenceSessions on this thread, inputs prepared beforehand. */
async function bareRate(dir: string, samples: ImageTextSample[], threads: number, batch = BATCH): Promise<{ modelOnly: number; withPreprocessing: number }> {
  const BATCH = batch;
  const files = await locateScorerFiles(dir);
  const pre = imagePreprocessingFrom(files.preprocessor ? JSON.parse(await fs.readFile(files.preprocessor, 'utf8')) : {});
  const tokenizer = new TextTokenizer({
    tokenizer: JSON.parse(await fs.readFile(files.tokenizer!, 'utf8')),
    config: files.tokenizerConfig ? JSON.parse(await fs.readFile(files.tokenizerConfig, 'utf8')) : {},
  });
  const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const vision = await ort.InferenceSession.create(files.vision, options);
  const text = await ort.InferenceSession.create(files.text, options);
  try {
    const prepStarted = performance.now();
    const images = await Promise.all(samples.map((s) => preprocessImage(s.image.bytes, pre)));
    const { height, width } = images[0];
    const batches: { pixels: ort.Tensor; ids: Record<string, ort.Tensor> }[] = [];
    for (let start = 0; start < samples.length; start += BATCH) {
      const chunk = images.slice(start, start + BATCH);
      const pixels = new Float32Array(chunk.length * 3 * height * width);
      chunk.forEach((img, i) => pixels.set(img.data, i * 3 * height * width));
      const enc = tokenizer.encode(samples.slice(start, start + BATCH).map((s) => s.caption));
      const dims = [chunk.length, enc.length];
      const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(enc.ids, BigInt), dims) };
      if (text.inputNames.includes('attention_mask')) feeds.attention_mask = new ort.Tensor('int64', BigInt64Array.from(enc.mask, BigInt), dims);
      batches.push({ pixels: new ort.Tensor('float32', pixels, [chunk.length, 3, height, width]), ids: feeds });
    }
    const prepMs = performance.now() - prepStarted;
    const imageOut = vision.outputNames.includes('image_embeds') ? ['image_embeds'] : [vision.outputNames[0]];
    const textOut = text.outputNames.includes('text_embeds') ? ['text_embeds'] : [text.outputNames[0]];
    const started = performance.now();
    for (const b of batches) {
      await vision.run({ [vision.inputNames[0]]: b.pixels }, imageOut);
      await text.run(b.ids, textOut);
    }
    const runMs = performance.now() - started;
    return { modelOnly: samples.length / (runMs / 1000), withPreprocessing: samples.length / ((runMs + prepMs) / 1000) };
  } finally {
    await vision.release();
    await text.release();
  }
}

async function safetyStageRate(samples: ImageTextSample[], threads: number): Promise<number> {
  const classifier = await openSafetyClassifier(threads);
  try {
    const ctx: StageContext = { config: {}, stats: new RunStats(), rejects: new RejectLedger(), log: silentLogger, signal: new AbortController().signal, unit: { id: 'bench', source: 'bench' } };
    const stage = safetyStage<ImageTextSample>({ classifier, batchSize: BACKBONE_BATCH, maxNsfw: null });
    const started = performance.now();
    let out = 0;
    for await (const _ of stage(fromArray(samples), ctx)) out++;
    if (out !== samples.length) throw new Error(`safety stage kept ${out} of ${samples.length}`);
    return samples.length / ((performance.now() - started) / 1000);
  } finally {
    await classifier.close();
  }
}

/** The backbone as a plain InferenceSession on this thread, images preprocessed beforehand. */
async function bareBackboneRate(samples: ImageTextSample[], threads: number): Promise<number> {
  const pre = imagePreprocessingFrom(BACKBONE_PREPROCESSOR_CONFIG);
  const session = await ort.InferenceSession.create(await backboneModelPath(), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const images = await Promise.all(samples.map((s) => preprocessImage(s.image.bytes, pre)));
    const S = BACKBONE_INPUT;
    const batches: ort.Tensor[] = [];
    for (let start = 0; start < images.length; start += BACKBONE_BATCH) {
      const chunk = images.slice(start, start + BACKBONE_BATCH);
      const pixels = new Float32Array(chunk.length * 3 * S * S);
      chunk.forEach((img, i) => pixels.set(img.data, i * 3 * S * S));
      batches.push(new ort.Tensor('float32', pixels, [chunk.length, 3, S, S]));
    }
    const started = performance.now();
    for (const b of batches) await session.run({ pixel_values: b }, ['class_probs']);
    return samples.length / ((performance.now() - started) / 1000);
  } finally {
    await session.release();
  }
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function tinyScorer(workDir: string, log: (l: string) => void): Promise<string> {
  log('models/reference not found: training a small reference scorer for the measurement');
  const corpus = await makeDemoCorpus(path.join(workDir, 'train'), { count: 300, swapFraction: 0, size: 64, seed: 3 });
  const result = await trainReferenceScorer(await readCaptionFolder(corpus.imagesDir), { epochs: 10, channels: [16, 32, 32], dim: 64, batchSize: 128, whiteningPatches: 4000 });
  const dir = path.join(workDir, 'scorer');
  await writeReferenceScorer(dir, result.weights, { id: 'bench-reference' });
  return dir;
}

/** A small backbone scorer (projection head only), when the repository's is not there. */
async function tinyBackboneScorer(workDir: string, log: (l: string) => void): Promise<string> {
  log(`${REFERENCE_BACKBONE_SCORER_DIR} has no backbone scorer: training a small one for the measurement`);
  const corpus = await makeDemoCorpus(path.join(workDir, 'train-backbone'), { count: 64, swapFraction: 0, size: 64, seed: 4 });
  const result = await trainReferenceScorer(await readCaptionFolder(corpus.imagesDir), { imageTower: 'backbone', epochs: 5, dim: 64, batchSize: 32 });
  const dir = path.join(workDir, 'scorer-backbone');
  await writeReferenceScorer(dir, result.weights, { id: 'bench-reference-backbone' });
  return dir;
}

const round1 = (v: number) => Math.round(v * 10) / 10;
