// Global offset plus Drop-DTW of cues over speech segments, on segment lists with a known truth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globalSpeechOffset, retimeBySpeech } from '../../../stages/align/speech-retime.ts';

const opts = { max_shift_s: 5, max_jitter_s: 1 };

test('cues shifted by one offset with jitter come back to their speech; a cue over silence is dropped', () => {
  const speech = [
    { start: 1.0, end: 3.1 },
    { start: 3.6, end: 4.4 },
    { start: 4.6, end: 5.9 }, // one sentence in two segments (a pause inside it)
    { start: 12.0, end: 14.5 },
  ];
  const truth = [[1.0, 3.1], [3.6, 5.9], null, [12.0, 14.5]];
  const cues = [
    { start: 3.3, end: 5.2 },
    { start: 5.8, end: 8.3 },
    { start: 10.5, end: 12.0 }, // over silence, after the offset
    { start: 14.1, end: 16.6 },
  ];
  assert.ok(Math.abs(globalSpeechOffset(cues, speech, 20, 5)! + 2.2) <= 0.25);
  const r = retimeBySpeech(cues, speech, 20, opts);
  assert.deepEqual(r.matches.map((m) => (m ? [m.start, m.end] : null)), truth);
});

test('no speech, or speech too far away, moves nothing', () => {
  const cues = [{ start: 2, end: 4 }];
  assert.equal(retimeBySpeech(cues, [], 10, opts).offset, null);
  assert.deepEqual(retimeBySpeech(cues, [], 10, opts).matches, [null]);
  // Speech 7 s later than the cue: beyond max_shift_s.
  assert.deepEqual(retimeBySpeech(cues, [{ start: 9, end: 11 }], 12, opts).matches, [null]);
  // Order holds: two cues cannot share one segment.
  const shared = retimeBySpeech([{ start: 1, end: 2 }, { start: 2.2, end: 3 }], [{ start: 1, end: 3 }], 5, opts);
  assert.equal(shared.matches.filter((m) => m).length, 1);
});

test('the pictures inside the cost: they pick between runs the speech allows, and fix the offset where the speech is drowned', () => {
  const withPictures = { ...opts, visual_weight: 2 };
  // Speech under noise: short bursts only, little of it under any shifted cue, so the speech alone finds no offset.
  const bursts = [{ start: 0.4, end: 0.7 }, { start: 3.1, end: 3.4 }, { start: 6.2, end: 6.4 }, { start: 9.5, end: 9.8 }, { start: 13.0, end: 13.3 }];
  const cues = [{ start: 4, end: 6 }, { start: 8, end: 10 }, { start: 11.5, end: 13.5 }];
  assert.equal(globalSpeechOffset(cues, bursts, 16, 5), null);
  assert.equal(retimeBySpeech(cues, bursts, 16, opts, cues.map(() => null)).offset, null);
  // The pictures put every cue about 1.5 s earlier: with their weight that is the file's offset.
  const hints = cues.map((c, i) => ({ start: c.start - 1.5 + 0.1 * (i - 1), end: c.end - 1.5 + 0.1 * (i - 1) }));
  const r = retimeBySpeech(cues, bursts, 16, withPictures, hints);
  assert.ok(r.offset !== null && Math.abs(r.offset + 1.5) <= 0.12, String(r.offset));
  // Without any picture, the weight changes nothing.
  assert.deepEqual(retimeBySpeech(cues, bursts, 16, withPictures, []), retimeBySpeech(cues, bursts, 16, opts));

  // Two runs the speech allows nearly equally (a sentence in two segments, the cue between them):
  // alone, the speech takes one; the pictures' placement decides for the other.
  const speech = [{ start: 2.0, end: 3.0 }, { start: 3.4, end: 4.4 }, { start: 9, end: 11 }];
  const cue = [{ start: 2.7, end: 3.7 }, { start: 9.1, end: 11.1 }];
  const alone = retimeBySpeech(cue, speech, 14, opts).matches[0]!;
  const otherRun = alone.first === 0 ? { start: 3.4, end: 4.4 } : { start: 2.0, end: 3.0 };
  const picked = retimeBySpeech(cue, speech, 14, withPictures, [otherRun, null]).matches[0]!;
  assert.deepEqual([picked.start, picked.end], [otherRun.start, otherRun.end]);
  assert.ok(picked.visualGain > 0 && alone.visualGain === 0);
});
