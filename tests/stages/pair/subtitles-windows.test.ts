import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  cuesInWindow,
  findSidecar,
  formatSrtTime,
  parseSrt,
  parseSubtitles,
  parseTimestamp,
  parseTranscriptJson,
  parseVtt,
  SubtitleParseError,
} from '../../../stages/decode/subtitles.ts';
import { fixedWindows, sceneWindows, sentenceWindows, widenToMinimum } from '../../../stages/pair/video-clips.ts';

test('SubRip cues parse with ids, multi-line text, markup and CRLF', () => {
  const srt = '\uFEFF1\r\n00:00:01,500 --> 00:00:03,250\r\n<i>Hello</i> there,\r\ngeneral {\\an8}Kenobi\r\n\r\n2\r\n01:02:03,004 --> 01:02:04,000 X1:10\r\nsecond &amp; last\r\n';
  const cues = parseSrt(srt);
  assert.deepEqual(cues, [
    { start: 1.5, end: 3.25, text: 'Hello there, general Kenobi' },
    { start: 3723.004, end: 3724, text: 'second & last' },
  ]);
});

test('WebVTT needs its header, skips NOTE blocks, accepts short times and cue settings', () => {
  const vtt = 'WEBVTT - demo\n\nNOTE a comment\nspanning lines\n\nintro\n00:01.000 --> 00:02.500 align:start\nfirst <c.yellow>line</c>\n\n00:00:03.000 --> 00:00:04.000\nsecond\n';
  assert.deepEqual(parseVtt(vtt), [
    { start: 1, end: 2.5, text: 'first line' },
    { start: 3, end: 4, text: 'second' },
  ]);
  assert.throws(() => parseVtt('00:01.000 --> 00:02.000\nno header\n'), SubtitleParseError);
});

test('HowTo100M transcript json parses; inconsistent arrays are errors', () => {
  const cues = parseTranscriptJson(JSON.stringify({ text: ['b', ' a  cue '], start: [5, 1.25], end: [6, 2] }));
  assert.deepEqual(cues, [
    { start: 5, end: 6, text: 'b' },
    { start: 1.25, end: 2, text: 'a cue' },
  ]);
  assert.deepEqual(parseSubtitles(JSON.stringify({ text: ['b', 'a'], start: [5, 1], end: [6, 2] }), 'json').map((c) => c.text), ['a', 'b']);
  assert.throws(() => parseTranscriptJson(JSON.stringify({ text: ['a'], start: [1, 2], end: [2] })), /lengths differ/);
  assert.throws(() => parseTranscriptJson('{"text": ["a"], "start": [3], "end": [1]}'), /bad times/);
  assert.throws(() => parseTranscriptJson('not json'), SubtitleParseError);
});

test('malformed subtitle files are parse errors, not empty results', () => {
  assert.throws(() => parseSubtitles('just some prose\nwithout timings\n', 'srt'), /expected a cue timing line/);
  assert.throws(() => parseSubtitles('', 'srt'), /no cues/);
  assert.throws(() => parseSrt('1\n00:00:05,000 --> 00:00:01,000\nbackwards\n'), /ends/);
  assert.throws(() => parseTimestamp('00:61,000'), SubtitleParseError);
  assert.equal(formatSrtTime(3723.004), '01:02:03,004');
  assert.equal(parseTimestamp(formatSrtTime(12.345)), 12.345);
});

test('sidecars are found by stem, then by language-tagged name', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-subs-'));
  try {
    for (const f of ['a.mp4', 'a.vtt', 'a.srt', 'b.mp4', 'b.en.vtt', 'c.mp4', 'c.txt', 'cc.srt']) await writeFile(path.join(dir, f), '');
    assert.deepEqual(await findSidecar(path.join(dir, 'a.mp4')), { path: path.join(dir, 'a.srt'), format: 'srt' });
    assert.deepEqual(await findSidecar(path.join(dir, 'b.mp4')), { path: path.join(dir, 'b.en.vtt'), format: 'vtt' });
    assert.equal(await findSidecar(path.join(dir, 'c.mp4')), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const split = { minClipS: 1, negligibleS: 0.04 };

test('fixed windows cover the video with the given length and stride', () => {
  assert.deepEqual(fixedWindows(10, 4, 4, split).windows, [{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 10 }]);
  assert.deepEqual(fixedWindows(6, 4, 2, split).windows, [{ start: 0, end: 4 }, { start: 2, end: 6 }]);
  // A remainder under one frame is container rounding; one under min_clip_s is a recorded skip.
  assert.deepEqual(fixedWindows(4.01, 4, 4, split), { windows: [{ start: 0, end: 4 }], skipped: [] });
  const short = fixedWindows(8.5, 4, 4, split);
  assert.equal(short.windows.length, 2);
  assert.deepEqual(short.skipped.map((s) => [s.start, s.end, s.reason]), [[8, 8.5, 'clip_too_short']]);
});

test('scene windows run between boundaries, split long scenes and keep transition frames out', () => {
  const hard = (t: number) => ({ type: 'hard' as const, start: t, end: t, score: 5 });
  const { windows, skipped } = sceneWindows([hard(2), hard(3.5), hard(3.8)], 12, 5, split);
  assert.deepEqual(windows.map((w) => [w.start, w.end, w.cutIn?.type, w.cutOut?.type]), [[0, 2, 'none', 'hard'], [2, 3.5, 'hard', 'hard'], [3.8, 8.8, 'hard', 'none'], [8.8, 12, 'none', 'none']]);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].reason, 'clip_too_short');
  const boundaries = [{ type: 'dissolve' as const, start: 3, end: 4.5, score: 60 }, { type: 'fade' as const, start: 8, end: 9, score: 0.9 }];
  const excluded = sceneWindows(boundaries, 12, 10, { ...split, excludeTransitions: true });
  assert.deepEqual(excluded.windows.map((w) => [w.start, w.end, w.cutIn?.type, w.cutIn?.score, w.cutOut?.type]), [[0, 3, 'none', null, 'dissolve'], [4.5, 8, 'dissolve', 60, 'fade'], [9, 12, 'fade', 0.9, 'none']]);
  const kept = sceneWindows(boundaries, 12, 10, { ...split, excludeTransitions: false });
  assert.deepEqual(kept.windows.map((w) => [w.start, w.end]), [[0, 3.75], [3.75, 8.5], [8.5, 12]]);
});

test('short sentences are widened symmetrically to the minimum, inside the video', () => {
  assert.deepEqual(widenToMinimum(10, 11, 5, 100), [8, 13]);
  assert.deepEqual(widenToMinimum(1, 2, 5, 100), [0, 5]);
  assert.deepEqual(widenToMinimum(98, 99, 5, 100), [95, 100]);
  assert.deepEqual(widenToMinimum(10, 20, 5, 100), [10, 20]);
  const cues = [{ start: 1, end: 1.5, text: 'a' }, { start: 4, end: 9, text: 'b' }, { start: 30, end: 31, text: 'late' }];
  const { windows, skipped } = sentenceWindows(cues, 20, 2);
  assert.deepEqual(windows.map((w) => [w.start, w.end, w.sentence?.text]), [[0.25, 2.25, 'a'], [4, 9, 'b']]);
  assert.deepEqual(skipped.map((s) => s.reason), ['subtitle_out_of_range']);
  assert.deepEqual(cuesInWindow(cues, 1.5, 4.5).map((c) => c.text), ['b']);
});

