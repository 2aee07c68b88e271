// The files of a scorer folder that weft reads besides the ONNX models:
//  - scorer.json (optional, weft's own): id and run options;
//  - preprocessor_config.json (Hugging Face image processor format, as CLIP exports ship it).
// Unknown keys are allowed in preprocessor_config.json because exporters add their own.
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const scorerJsonSchema = z
  .object({
    /** Names the scorer in score columns, shard metadata and the manifest. Default: the folder name. */
    id: z.string().min(1).optional(),
    description: z.string().optional(),
    /** Images or texts per session.run. */
    batch_size: positiveInt.optional(),
    /** onnxruntime intra-op threads per session. */
    threads: positiveInt.optional(),
    /** Token sequence length; overrides what tokenizer files and the model say. */
    context_length: positiveInt.optional(),
    /** Model files relative to the folder, when they are not named as optimum names them. */
    vision_model: z.string().min(1).optional(),
    text_model: z.string().min(1).optional(),
    /**
     * A pretrained network weft derives from an installed package (scorer/backbone/): vision_model
     * is then a head taking its `feature_grid`, and the two are joined into one model at load.
     */
    vision_backbone: z.string().min(1).optional(),
    /** Output names, when they differ from the CLIP export's. */
    outputs: z
      .object({
        image_embeds: z.string().optional(),
        text_embeds: z.string().optional(),
        patch_embeds: z.string().optional(),
        token_embeds: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ScorerJson = z.infer<typeof scorerJsonSchema>;

/** `224` or `{ height: 224, width: 224 }`. */
const cropSize = z.union([positiveInt, z.object({ height: positiveInt, width: positiveInt }).loose()]);
/** `224` (shortest edge), `{ shortest_edge: 224 }` or `{ height, width }` (exact). */
const resizeSize = z.union([
  positiveInt,
  z.object({ shortest_edge: positiveInt }).loose(),
  z.object({ height: positiveInt, width: positiveInt }).loose(),
]);
const rgb = z.array(z.number()).length(3);

export const preprocessorConfigSchema = z
  .object({
    do_resize: z.boolean().default(true),
    size: resizeSize.default({ shortest_edge: 224 }),
    /** PIL resample code: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
    resample: z.number().int().min(0).max(5).default(3),
    do_center_crop: z.boolean().default(true),
    crop_size: cropSize.default({ height: 224, width: 224 }),
    do_rescale: z.boolean().default(true),
    rescale_factor: z.number().positive().default(1 / 255),
    do_normalize: z.boolean().default(true),
    image_mean: rgb.default([0.48145466, 0.4578275, 0.40821073]),
    image_std: rgb.default([0.26862954, 0.26130258, 0.27577711]),
  })
  .loose();

export type PreprocessorConfig = z.infer<typeof preprocessorConfigSchema>;
