// How the speech and the pictures (narration alignment) combine into one re-timing per cue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { videoSourceSchema } from '../../../schemas/video-config.ts';
import type { SubtitleCue } from '../../../schemas/video-items.ts';
import { retimeCues } from '../../../stages/align/speech-retime-stage.ts';

const cfg = videoSourceSchema.parse({ kind: 'video', path: '.', subtitles: { retime: true } }).subtitles;
const visual = (start: number, end: number, score: number) => ({ alignedStart: start, alignedEnd: end, matchStart: start, matchEnd: end, score, alignable: true, shift: null, evidence: 'visual' as const });

test('speech first, pictures as the second witness; a cue neither supports is not moved', () => {
  // The file is 2 s late. Speech for cues 0, 1 and 3; cue 2 and cue 4 have none.
  const speech = [{ start: 1, end: 3 }, { start: 4, end: 6 }, { start: 14, end: 16 }];
  const cues: SubtitleCue[] = [
    { text: 'a', start: 3, end: 5, aligned: visual(1.2, 3.2, 0.4) }, // pictures agree
    { text: 'b', start: 6, end: 8, aligned: visual(12, 14, 0.4) }, // pictures disagree
    { text: 'c', start: 10, end: 11.5, aligned: visual(8.1, 9.6, 0.35) }, // pictures only, consistent with the offset
    { text: 'd', start: 16, end: 18 },
    { text: 'e', start: 22, end: 23, aligned: visual(20, 21, 0.1) }, // pictures too weak
  ];
  const { cues: out, offset } = retimeCues(cues, speech, 30, cfg);
  // The speech says -2 s; the pictures that count (-1.8 s and -1.9 s; cue b's +6 s is too far to agree) pull it a little.
  assert.ok(offset !== null && Math.abs(offset + 2) <= 0.15, String(offset));
  assert.equal(retimeCues(cues, speech, 30, { ...cfg, visual_weight: 0 }).offset, -2);
  assert.deepEqual(
    out.map((c) => [c.aligned!.evidence, c.aligned!.alignable, c.aligned!.alignedStart, c.aligned!.shift]),
    [
      ['both', true, 1, -2],
      ['speech', true, 4, -2],
      ['visual', true, 8.1, -1.9],
      ['speech', true, 14, -2],
      ['none', false, 22, 0],
    ],
  );
  // Without any speech in the video, strong pictures alone may move a cue; weak ones may not.
  const silent = retimeCues(cues, [], 30, cfg).cues.map((c) => c.aligned!.evidence);
  assert.deepEqual(silent, ['visual', 'none', 'visual', 'none', 'none']);
});
