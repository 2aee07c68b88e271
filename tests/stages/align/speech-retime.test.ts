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
