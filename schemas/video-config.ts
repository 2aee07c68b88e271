// Config for video sources (`source.kind: video`): local video files or folders, with optional
// sidecar subtitles (.srt, .vtt) or HowTo100M-style transcript json beside each video.
import { z } from 'zod';

const clipSchema = z
  .object({
    /**
     * fixed: windows of length_s every stride_s; scenes: cuts found by the content detector
     * (scenes longer than length_s are split into length_s pieces); sentences: one window per
     * subtitle cue, widened symmetrically to at least min_sentence_s.
     */
    mode: z.enum(['fixed', 'scenes', 'sentences']).default('fixed'),
    length_s: z.number().positive().default(4),
    stride_s: z.number().positive().default(4),
    /** Least content difference between consecutive downscaled frames (0-255 scale: hue on the circle, weighted saturation, brightness) of a hard cut. */
    scene_threshold: z.number().positive().default(12),
    /** A hard cut's difference over the mean difference of its two neighbours on each side (adaptive: sustained motion does not cut). */
    scene_ratio: z.number().min(1).default(3),
    /** Mean luma (0-255) under which a frame counts as black: a dip under it with a ramp is a fade. */
    fade_floor: z.number().positive().max(128).default(32),
    /** Keep the frames of fades and dissolves out of scene windows (windows end where a transition starts and begin where it ends). */
    exclude_transitions: z.boolean().default(true),
    /** No hard cut within this many seconds of the previous hard cut or fade (or of the start); dissolves do not count. */
    min_scene_s: z.number().nonnegative().default(1),
    /** Who decides on hard-cut and dissolve candidates: the hand rules, or the small learned classifier (stages/pair/scene-boundary-model.json); fades follow their rule in both. */
    scene_detector: z.enum(['rules', 'learned']).default('learned'),
    /** Frames per second the scene detector looks at. */
    scene_fps: z.number().positive().max(60).default(10),
    /** Sentence windows shorter than this are widened around their centre (as HowTo100M loaders do). */
    min_sentence_s: z.number().nonnegative().default(2),
    /** The last window of a video is kept when at least this long (fixed and scenes modes). */
    min_clip_s: z.number().positive().default(1),
  })
  .strict();

const framesSchema = z
  .object({
    /** Stored frames per second of clip. */
    fps: z.number().positive().max(60).default(4),
    /** Longer side of stored frames in pixels (never upscaled). */
    max_side: z.number().int().min(16).max(4096).default(224),
    jpeg_quality: z.number().int().min(1).max(100).default(85),
  })
  .strict();

const audioSchema = z
  .object({
    sample_rate: z.number().int().min(4000).max(48000).default(16000),
    format: z.enum(['wav', 'flac']).default('wav'),
  })
  .strict();

const syncSchema = z
  .object({
    /** Measure the audio-visual offset of each clip that has audio. */
    enabled: z.boolean().default(true),
    /** Frame rate of the sync analysis (at least frames.fps is used). */
    fps: z.number().positive().max(60).default(25),
    /** Shifts tried: -vshift..+vshift analysis frames. */
    vshift: z.number().int().min(1).max(100).default(15),
    /** Drop clips whose |offset| exceeds this (unless `correct`). */
    max_abs_offset_ms: z.number().nonnegative().default(200),
    /** Drop clips whose sync confidence (median - min of the distance curve, 0..2) is below this; 0 keeps all.
     *  On 3-4 s synthetic flash clips, synced ones score 0.86-1.0 and ones with unrelated audio 0.17-0.65. */
    min_confidence: z.number().nonnegative().default(0.7),
    /** Shift the stored audio by the measured offset instead of dropping far-off clips. */
    correct: z.boolean().default(false),
  })
  .strict();

const narrationSchema = z
  .object({
    /** Re-time each video's subtitle sentences by the run's scorer (score.scorer) with Drop-DTW. */
    enabled: z.boolean().default(false),
    /** Frames per second of the whole video that are embedded for the alignment. */
    fps: z.number().positive().max(10).default(2),
    /** Longer side of those frames before the scorer's own preprocessing. */
    max_side: z.number().int().min(16).max(1024).default(224),
    /** Percentile (0..1) of all sentence-frame similarities used as the drop threshold: a frame
     *  joins a sentence only when more similar than this, a sentence with no such frames is not alignable. */
    drop_percentile: z.number().min(0).max(1).default(0.5),
  })
  .strict();

const vadSchema = z
  .object({
    /** dB the speech-band energy must stand above the adaptive noise floor. */
    threshold_db: z.number().min(0).max(40).default(8),
    /** Frames with a flatter speech-band spectrum than this are noise-like (0..1). */
    max_flatness: z.number().min(0).max(1).default(0.45),
    /** Quieter frames (speech-band dBFS) are silence. */
    min_energy_db: z.number().max(0).default(-60),
    min_speech_s: z.number().nonnegative().default(0.12),
    /** Pauses shorter than this inside speech are closed. */
    min_gap_s: z.number().nonnegative().default(0.18),
    hangover_s: z.number().nonnegative().default(0.06),
    /** Window of the adaptive noise floor. */
    floor_window_s: z.number().positive().default(6),
  })
  .strict();

const subtitlesSchema = z
  .object({
    /** Re-time sidecar cues to the speech in the audio track (voice-activity detection + Drop-DTW), and to the pictures where narration alignment also runs. */
    retime: z.boolean().default(false),
    /** No cue moves further than this. */
    max_shift_s: z.number().positive().max(60).default(5),
    /** How far one cue may sit from the file's global offset. */
    max_jitter_s: z.number().positive().max(10).default(1),
    /** Narration alignment (pictures) counts as evidence only at this mean similarity or above. */
    visual_min_score: z.number().min(-1).max(1).default(0.2),
    /** Weight of the pictures' agreement in the speech Drop-DTW's match gain (0: pictures only as a second witness after it). */
    visual_weight: z.number().min(0).max(10).default(2),
    vad: vadSchema.prefault({}),
  })
  .strict();

export const videoSourceSchema = z
  .object({
    kind: z.literal('video'),
    /**
     * A video file, a folder searched recursively for video files, or a URL list (.csv, .tsv,
     * .jsonl, .json, .txt, .parquet, optionally .gz): one video per row, downloaded through the
     * fetcher under the `fetch:` section's politeness, consent and safety rules.
     */
    path: z.string().min(1),
    /** URL lists: the column holding the video URL (a .txt list has one URL per line). */
    url_column: z.string().min(1).default('url'),
    /** URL lists: downloads larger than this are refused (`too_large`); replaces fetch.max_body_bytes for videos. */
    max_download_bytes: z.number().int().positive().default(2 * 1024 ** 3),
    /** ffmpeg / ffprobe binaries; default: found on PATH. */
    ffmpeg_path: z.string().min(1).optional(),
    ffprobe_path: z.string().min(1).optional(),
    /** Reject videos without an audio stream; when false they are kept without audio or sync. */
    audio_required: z.boolean().default(true),
    /** Reject videos shorter than this many seconds. */
    min_duration_s: z.number().nonnegative().default(1),
    /** Videos per unit (and so per shard run): packing many short videos into one unit lets
     *  shards reach output.max_shard_bytes instead of one small shard per video. */
    videos_per_unit: z.number().int().min(1).default(1),
    /** Local files: also close a unit once its videos' file bytes reach this (0: by count only). */
    unit_bytes: z.number().int().nonnegative().default(0),
    /** Clips decoded at once within a video. */
    concurrency: z.number().int().min(1).max(16).default(2),
    clip: clipSchema.prefault({}),
    frames: framesSchema.prefault({}),
    audio: audioSchema.prefault({}),
    sync: syncSchema.prefault({}),
    narration: narrationSchema.prefault({}),
    subtitles: subtitlesSchema.prefault({}),
  })
  .strict();

export type VideoSourceConfig = z.infer<typeof videoSourceSchema>;
export type VideoNarrationConfig = z.infer<typeof narrationSchema>;
export type VideoSubtitlesConfig = z.infer<typeof subtitlesSchema>;
