// Sidecar subtitles and transcripts of a video: SubRip (.srt), WebVTT (.vtt), and transcript
// json in the HowTo100M shape ({"text": [...], "start": [...], "end": [...]}, seconds). A file
// that yields no cue at all, or has a malformed timing line, throws SubtitleParseError; the
// video_subtitles stage turns that into a `subtitle_parse_failed` reject for the sidecar and
// keeps the video (its clips just carry no subtitles).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { dropItem, errorMessage, expandStage, type Drop, type Stage } from '../../core/stage.ts';
import type { ProbedVideo, SubtitleCue, VideoFile, VideoProbe } from '../../schemas/video-items.ts';

/** The times a cue stands for: its aligned ones when narration alignment found it, else the sidecar's. */
export function cueTimes(cue: SubtitleCue): { start: number; end: number } {
  return cue.aligned?.alignable ? { start: cue.aligned.alignedStart, end: cue.aligned.alignedEnd } : { start: cue.start, end: cue.end };
}

export type SubtitleFormat = 'srt' | 'vtt' | 'json';

export class SubtitleParseError extends Error {}

const TIMING = /^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s+.*)?$/;

/** "01:02:03,456" / "02:03.456" / "1:02:03.4" -> seconds. */
export function parseTimestamp(s: string): number {
  const parts = s.trim().replace(',', '.').split(':');
  if (parts.length < 2 || parts.length > 3) throw new SubtitleParseError(`bad timestamp ${s}`);
  const secs = Number(parts.at(-1));
  const mins = Number(parts.at(-2));
  const hours = parts.length === 3 ? Number(parts[0]) : 0;
  if (![secs, mins, hours].every(Number.isFinite) || secs >= 60 || mins >= 60) throw new SubtitleParseError(`bad timestamp ${s}`);
  return hours * 3600 + mins * 60 + secs;
}

/** SubRip and WebVTT share the cue layout: an optional id line, a timing line, text lines, a blank line. */
function parseCueBlocks(text: string, format: 'srt' | 'vtt'): SubtitleCue[] {
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  const cues: SubtitleCue[] = [];
  let i = 0;
  if (format === 'vtt') {
    if (!/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? '')) throw new SubtitleParseError('a WebVTT file must start with WEBVTT');
    i = 1;
  }
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    // WebVTT NOTE, STYLE and REGION blocks carry no cues.
    if (format === 'vtt' && /^(NOTE|STYLE|REGION)\b/.test(line)) {
      while (i < lines.length && lines[i].trim() !== '') i++;
      continue;
    }
    const timingAt = TIMING.test(line) ? i : TIMING.test(lines[i + 1] ?? '') ? i + 1 : -1;
    if (timingAt < 0) throw new SubtitleParseError(`line ${i + 1}: expected a cue timing line, got "${line.slice(0, 60)}"`);
    const [, from, to] = TIMING.exec(lines[timingAt])!;
    const body: string[] = [];
    i = timingAt + 1;
    while (i < lines.length && lines[i].trim() !== '') body.push(lines[i++]);
    const start = parseTimestamp(from);
    const end = parseTimestamp(to);
    if (end < start) throw new SubtitleParseError(`line ${timingAt + 1}: cue ends (${to}) before it starts (${from})`);
    const cueText = cleanCueText(body.join(' '));
    if (cueText) cues.push({ start, end, text: cueText });
  }
  return cues;
}

/** Drop markup (<i>, <c.colour>, <00:01.000> karaoke stamps, {\an8}) and squeeze spaces. */
function cleanCueText(s: string): string {
  return s.replace(/<[^>]*>/g, '').replace(/\{\\[^}]*\}/g, '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&nbsp;/g, ' ').replace(/\s+/g, ' ').trim();
}

export function parseSrt(text: string): SubtitleCue[] {
  return parseCueBlocks(text, 'srt');
}

export function parseVtt(text: string): SubtitleCue[] {
  return parseCueBlocks(text, 'vtt');
}

/** HowTo100M caption json: parallel arrays text / start / end (seconds). */
export function parseTranscriptJson(text: string): SubtitleCue[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SubtitleParseError(`not json: ${(err as Error).message}`);
  }
  const d = data as { text?: unknown; start?: unknown; end?: unknown };
  if (!Array.isArray(d.text) || !Array.isArray(d.start) || !Array.isArray(d.end)) throw new SubtitleParseError('expected {"text": [...], "start": [...], "end": [...]}');
  if (d.text.length !== d.start.length || d.text.length !== d.end.length) throw new SubtitleParseError(`array lengths differ: text ${d.text.length}, start ${d.start.length}, end ${d.end.length}`);
  const cues: SubtitleCue[] = [];
  for (let i = 0; i < d.text.length; i++) {
    const start = Number(d.start[i]);
    const end = Number(d.end[i]);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start || start < 0) throw new SubtitleParseError(`entry ${i}: bad times ${String(d.start[i])} .. ${String(d.end[i])}`);
    const cueText = String(d.text[i] ?? '').replace(/\s+/g, ' ').trim();
    if (cueText) cues.push({ start, end, text: cueText });
  }
  return cues;
}

export function parseSubtitles(text: string, format: SubtitleFormat): SubtitleCue[] {
  const cues = format === 'srt' ? parseSrt(text) : format === 'vtt' ? parseVtt(text) : parseTranscriptJson(text);
  if (cues.length === 0) throw new SubtitleParseError('no cues');
  return cues.sort((a, b) => a.start - b.start || a.end - b.end);
}

const SIDECAR_FORMATS: SubtitleFormat[] = ['srt', 'vtt', 'json'];

/**
 * The sidecar of `video`: `<stem>.srt`, `<stem>.vtt`, `<stem>.json`, then language-tagged names
 * such as `<stem>.en.vtt` (as yt-dlp writes them), first match in that order.
 */
export async function findSidecar(video: string): Promise<{ path: string; format: SubtitleFormat } | null> {
  const dir = path.dirname(video);
  const stem = path.basename(video, path.extname(video));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const present = new Set(names);
  for (const format of SIDECAR_FORMATS) if (present.has(`${stem}.${format}`)) return { path: path.join(dir, `${stem}.${format}`), format };
  const tagged = names.filter((n) => n.startsWith(`${stem}.`) && /^\.[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?\.(srt|vtt)$/.test(n.slice(stem.length))).sort();
  const first = tagged[0];
  return first ? { path: path.join(dir, first), format: path.extname(first).slice(1) as SubtitleFormat } : null;
}

async function readSubtitles(file: string, format: SubtitleFormat): Promise<SubtitleCue[]> {
  return parseSubtitles(await readFile(file, 'utf8'), format);
}

/** Cues that overlap [start, end) (by their aligned times where they have them). */
export function cuesInWindow(cues: SubtitleCue[], start: number, end: number): SubtitleCue[] {
  return cues.filter((c) => cueTimes(c).end > start && cueTimes(c).start < end);
}

export function formatSrtTime(seconds: number): string {
  return formatClock(seconds, ',');
}

export function formatVttTime(seconds: number): string {
  return formatClock(seconds, '.');
}

function formatClock(seconds: number, decimal: string): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${decimal}${pad(ms % 1000, 3)}`;
}

const VIDEO_SUBTITLES_STAGE = 'video_subtitles';

/**
 * The video_subtitles stage: a probed video -> the video with its sidecar's cues (null without a
 * sidecar). A sidecar that cannot be read is dropped as `subtitle_parse_failed`, the video goes
 * on without cues. Counts sidecars: in = videos with one, out = sidecars read.
 */
export function subtitlesStage(): Stage<VideoFile & { probe: VideoProbe }, ProbedVideo> {
  return expandStage<VideoFile & { probe: VideoProbe }, ProbedVideo>(
    VIDEO_SUBTITLES_STAGE,
    async (video): Promise<(ProbedVideo | Drop)[]> => {
      const sidecar = await findSidecar(video.file);
      if (!sidecar) return [{ ...video, cues: null }];
      try {
        return [{ ...video, cues: await readSubtitles(sidecar.path, sidecar.format) }];
      } catch (err) {
        const detail = err instanceof SubtitleParseError ? err.message : errorMessage(err);
        const sidecarName = path.posix.join(path.posix.dirname(video.source), path.basename(sidecar.path));
        const sidecarItem = { id: `${video.id}/subtitles`, kind: video.kind, source: sidecarName };
        return [{ ...video, cues: null }, dropItem(sidecarItem, 'subtitle_parse_failed', `${path.basename(sidecar.path)}: ${detail}`)];
      }
    },
    { weight: (video) => (video.cues ? 1 : 0) },
  );
}
