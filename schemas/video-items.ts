// What travels between the video stages, before a clip becomes a VideoClipSample: the video
// (a file, or a URL to fetch), its probe and subtitle cues, and the clip windows cut from it.
import type { Traceable } from '../core/stage.ts';
import type { VIDEO_CLIP, VideoClipSample } from './video.ts';

export interface VideoStreamInfo {
  index: number;
  codec: string;
  /** Coded size as stored. */
  width: number;
  height: number;
  /** Size as shown: rotation and sample aspect ratio applied (what ffmpeg's output frames have). */
  displayWidth: number;
  displayHeight: number;
  fps: number;
  /** Stream duration in seconds, when the container says. */
  duration: number | null;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  sampleRate: number;
  channels: number;
  duration: number | null;
}

export interface VideoProbe {
  path: string;
  /** Seconds; the container duration, else the longest stream. */
  duration: number;
  formatName: string;
  video: VideoStreamInfo;
  audio: AudioStreamInfo | null;
}

/** Where narration alignment placed a subtitle sentence on the video's timeline. */
export interface SentenceAlignment {
  alignedStart: number;
  alignedEnd: number;
  matchStart: number | null;
  matchEnd: number | null;
  score: number | null;
  alignable: boolean;
  /** aligned - original start (0 for a cue not moved); null where nothing was tried. */
  shift?: number | null;
  /** What the re-timing rests on: the speech, the pictures, both, or nothing (not moved). */
  evidence?: RetimeEvidence | null;
  /** Gain of the speech match the cue was re-timed to (speech-retime.ts), null without one. */
  speechGain?: number | null;
}

export type RetimeEvidence = 'speech' | 'visual' | 'both' | 'none';

export interface SubtitleCue {
  /** Seconds on the video's timeline, as the sidecar gives them. */
  start: number;
  end: number;
  text: string;
  /** Set when narration alignment ran on the video. */
  aligned?: SentenceAlignment;
}

/** One video of the source: a local file, or a URL that the fetch stage downloads. */
export interface VideoRef extends Traceable {
  kind: typeof VIDEO_CLIP;
  /** What outputs call the video: a path relative to the source root, or its URL. */
  name: string;
  /** Where the bytes are; null until a URL is fetched. */
  file: string | null;
  url: string | null;
  /** Consent verdict of a downloaded video; null for local files. */
  consent: string | null;
  /** Why a URL-list row names no video (the fetch stage drops it as bad_row). */
  error?: string;
}

/** A video whose bytes are on disk. */
export interface VideoFile extends VideoRef {
  file: string;
}

/** A video after probe and sidecar subtitles (null: none, or unreadable). */
export interface ProbedVideo extends VideoFile {
  probe: VideoProbe;
  cues: SubtitleCue[] | null;
}

/** What bounds a clip window at one end: a scene boundary (hard cut, fade, dissolve) with the
 *  detector's score, or none (the video's start or end, fixed and sentence windows, the split of a long scene). */
export interface ClipBound {
  type: 'hard' | 'fade' | 'dissolve' | 'none';
  score: number | null;
}

/** One window of a probed video, before decoding. */
export interface ClipCandidate extends Traceable {
  kind: typeof VIDEO_CLIP;
  /** What outputs call the video (relative path or URL); probe.path is where its bytes are. */
  video: string;
  /** Consent verdict of a downloaded video; null for local files. */
  consent: string | null;
  probe: VideoProbe;
  clipIndex: number;
  clipMode: VideoClipSample['clipMode'];
  start: number;
  end: number;
  /** Cues overlapping the window (in sentence mode: the sentence), original times. */
  cues: SubtitleCue[];
  cutIn: ClipBound;
  cutOut: ClipBound;
}

