// The `safety:` section: an NSFW classifier over every image (the MobileNetV2 of the npm package
// nsfwjs, converted to ONNX at first use; stages/safety/safety-stage.ts).
//   enabled:   run the classifier; its five class probabilities become columns (nsfw_drawing,
//              nsfw_hentai, nsfw_neutral, nsfw_porn, nsfw_sexy) and `nsfw` = hentai + porn + sexy.
//   max_nsfw:  drop pairs whose `nsfw` is above it (reason nsfw); null keeps all (default).
import { z } from 'zod';

export const safetySchema = z
  .object({
    enabled: z.boolean().default(false),
    max_nsfw: z.number().min(0).max(1).nullable().default(null),
    batch_size: z.number().int().positive().max(1024).default(32),
  })
  .strict()
  .refine((s) => s.enabled || s.max_nsfw === null, { message: 'max_nsfw needs enabled: true' });

