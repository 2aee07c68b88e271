// The `score:` section: which scorer runs, and how its scores filter the run.
//   scorer: 'none' (no scoring), 'reference' or 'reference-random' (models/reference in the repo),
//           'reference-backbone' (models/reference-backbone) or a path to a scorer folder
//           (relative paths resolve against the config file's folder).
//   threshold: drop pairs whose score is below it (reason score_below_threshold).
//   min_p_aligned: drop pairs whose calibrated probability of being aligned (p_aligned, from a
//             two-component mixture fitted to the run's scores) is below it; applied at finalise.
//   keep_top: keep this fraction of the scored pool, DataComp-style; the cut is a quantile of
//             the run-wide merged t-digest, so it is applied when the run is finalised.
import { z } from 'zod';

const fraction = z.number().gt(0).lte(1);

const groundingSchema = z
  .object({
    /** Noun phrases of each caption grounded to image regions (needs patch and token embeddings). */
    enabled: z.boolean().default(false),
    /** Drop pairs whose grounding recall is below this (reason low_grounding_recall); null keeps all. */
    min_recall: z.number().min(0).max(1).nullable().default(null),
    /** A phrase counts as grounded when the cosine of its embedding and its best region's passes this. */
    phrase_threshold: z.number().min(-1).max(1).default(0.1),
    /** At most this many phrases per caption. */
    max_phrases: z.number().int().positive().default(8),
  })
  .strict();

export const scoreSchema = z
  .object({
    scorer: z.string().min(1).default('none'),
    /** Pairs embedded per batch (also the scorer's session batch size). */
    batch_size: z.number().int().positive().max(4096).default(32),
    threshold: z.number().min(-1).max(1).nullable().default(null),
    keep_top: fraction.nullable().default(null),
    min_p_aligned: z.number().min(0).max(1).nullable().default(null),
    grounding: groundingSchema.prefault({}),
  })
  .strict();

export type ScoreConfig = z.infer<typeof scoreSchema>;
