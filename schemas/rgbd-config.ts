// Config for RGB-D sources (`source.kind: rgbd`) and the RGB-D quality section (`rgbd:`).
import { z } from 'zod';

const intrinsicsSchema = z.object({ fx: z.number().positive(), fy: z.number().positive(), cx: z.number(), cy: z.number() }).strict();

export const rgbdSourceSchema = z
  .object({
    kind: z.literal('rgbd'),
    /** A sequence folder or a folder holding sequence folders (searched a few levels deep). */
    path: z.string().min(1),
    /** tum: rgb.txt + depth.txt; nyu: r-*.ppm + d-*.pgm; sunrgbd: sample folders with image/, depth/; generic: rgb/ + depth/ by file stem. */
    layout: z.enum(['auto', 'tum', 'nyu', 'sunrgbd', 'generic']).default('auto'),
    /** Largest |t_rgb - (t_depth + offset)| for a timestamp pair, exclusive, in seconds. */
    max_difference: z.number().positive().default(0.02),
    /** Added to depth timestamps before pairing, in seconds. */
    offset: z.number().default(0),
    /** one_to_one: TUM associate (greedy, each frame once); nearest: each RGB frame takes its nearest depth frame (NYU toolbox). */
    match: z.enum(['one_to_one', 'nearest']).default('one_to_one'),
    /**
     * Byte order of 16-bit PGM depth. The Netpbm spec says big-endian, but NYU Depth v2 raw
     * dumps are little-endian (its toolbox swaps bytes after reading), hence the default.
     */
    byte_order: z.enum(['big', 'little']).default('little'),
    /** What NYU raw depth values mean: Kinect disparity (converted with the NYU toolbox formula) or millimetres. */
    nyu_depth: z.enum(['kinect_disparity', 'millimetres']).default('kinect_disparity'),
    /** Depth units per metre of the input files; default by layout: tum 5000, others 1000. */
    depth_scale: z.number().positive().optional(),
    /** Camera intrinsics in pixels, for layouts that do not carry them (SUN RGB-D reads intrinsics.txt). */
    intrinsics: intrinsicsSchema.nullable().default(null),
    /** Registration search radius: integer shifts in [-max_shift, max_shift] on both axes are tried. */
    max_shift: z.number().int().min(0).max(32).default(12),
    /**
     * Worker threads for the registration check (pure JS, about 100 ms per 640x480 pair). Default:
     * run.concurrency, capped at the CPU count; 0 runs it on the main thread.
     */
    registration_workers: z.number().int().min(0).max(64).optional(),
    /** Sample folders per unit for sunrgbd (its samples are single frames, not sequences). */
    samples_per_unit: z.number().int().positive().default(500),
  })
  .strict();

export const rgbdQualitySchema = z
  .object({
    /** Drop pairs whose |skew| exceeds this (matters for `nearest`; one_to_one already keeps |skew| < max_difference). */
    max_skew_ms: z.number().nonnegative().default(20),
    /** Drop pairs whose measured |dx| or |dy| exceeds this many pixels (unless correct_shift). */
    max_registration_shift: z.number().int().nonnegative().default(2),
    /** Drop pairs whose registration confidence is below this (0 turns the filter off). */
    min_registration_confidence: z.number().min(0).max(1).default(0.15),
    /** Drop pairs whose fraction of valid (non-zero) depth pixels is below this. */
    min_valid_ratio: z.number().min(0).max(1).default(0.3),
    /** Instead of dropping a confidently misregistered pair, shift its stored depth back into register. */
    correct_shift: z.boolean().default(false),
  })
  .strict();

export type RgbdSourceConfig = z.infer<typeof rgbdSourceSchema>;
export type RgbdQualityConfig = z.infer<typeof rgbdQualitySchema>;

/** The two config sections the RGB-D reader needs. */
export interface RgbdReadConfig {
  source: RgbdSourceConfig;
  rgbd: RgbdQualityConfig;
}
