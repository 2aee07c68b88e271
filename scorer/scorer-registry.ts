// Recognises a scorer folder by its files. The layouts accepted, without any weft-specific file:
//   DIR/vision_model.onnx + DIR/text_model.onnx            (flat)
//   DIR/onnx/vision_model.onnx + DIR/onnx/text_model.onnx  (Hugging Face hub layout, e.g. Xenova/clip-*)
//   DIR/model.onnx or DIR/onnx/model.onnx with both pixel_values and input_ids inputs (optimum-cli)
// plus tokenizer.json, tokenizer_config.json and preprocessor_config.json in DIR (or DIR/onnx).
// An optional DIR/scorer.json gives the scorer's id, run options and other file names.
import fs from 'node:fs/promises';
import path from 'node:path';
import { composedVisionModel } from './backbone/backbone-tower.ts';
import { scorerJsonSchema, type ScorerJson } from '../schemas/scorer.ts';
import { UsageError } from '../core/usage-error.ts';

export interface ScorerFiles {
  dir: string;
  /** The image tower; the same file as `text` for a combined model; for a vision_backbone, the joined model in the cache. */
  vision: string;
  /** With a vision_backbone: the head file in the folder, and the backbone's name. */
  visionHead?: { file: string; backbone: string };
  text: string;
  tokenizer: string | null;
  tokenizerConfig: string | null;
  preprocessor: string | null;
  options: ScorerJson;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then((s) => s.isFile(), () => false);
}

async function firstExisting(candidates: string[]): Promise<string | null> {
  for (const c of candidates) if (await exists(c)) return c;
  return null;
}

async function readScorerJson(dir: string): Promise<ScorerJson> {
  const file = path.join(dir, 'scorer.json');
  if (!(await exists(file))) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = scorerJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Finds the model and tokenizer/preprocessor files of the scorer in `dir`, or says what is missing. */
export async function locateScorerFiles(dir: string): Promise<ScorerFiles> {
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat?.isDirectory()) throw new UsageError(`scorer folder ${dir} does not exist or is not a folder`);
  const options = await readScorerJson(dir);
  const where = (name: string) => [path.join(dir, name), path.join(dir, 'onnx', name)];

  let vision = options.vision_model ? path.resolve(dir, options.vision_model) : await firstExisting(where('vision_model.onnx'));
  let text = options.text_model ? path.resolve(dir, options.text_model) : await firstExisting(where('text_model.onnx'));
  if (!vision && !text) {
    const combined = await firstExisting(where('model.onnx'));
    if (combined) vision = text = combined;
  }
  if (!vision || !text) {
    const missing = [!vision && 'vision_model.onnx', !text && 'text_model.onnx'].filter(Boolean).join(' and ');
    throw new Error(`${dir} is not a scorer folder: no ${missing} (looked in the folder and its onnx/ subfolder; scorer.json may name other files)`);
  }
  for (const f of [vision, text]) if (!(await exists(f))) throw new Error(`${dir}: model file ${f} does not exist`);
  let visionHead: ScorerFiles['visionHead'];
  if (options.vision_backbone) {
    if (vision === text) throw new Error(`${dir}: vision_backbone needs separate vision and text models`);
    visionHead = { file: vision, backbone: options.vision_backbone };
    vision = await composedVisionModel(vision, options.vision_backbone);
  }

  return {
    dir,
    vision,
    ...(visionHead ? { visionHead } : {}),
    text,
    tokenizer: await firstExisting(where('tokenizer.json')),
    tokenizerConfig: await firstExisting(where('tokenizer_config.json')),
    preprocessor: await firstExisting(where('preprocessor_config.json')),
    options,
  };
}

