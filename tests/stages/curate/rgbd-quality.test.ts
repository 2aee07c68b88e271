import { test } from 'node:test';
import assert from 'node:assert/strict';
import { depthStats, judgeRgbdPair } from '../../../stages/curate/rgbd-quality.ts';
import { rgbdQualitySchema } from '../../../schemas/rgbd-config.ts';
import type { Registration } from '../../../stages/align/rgbd-registration.ts';

const q = rgbdQualitySchema.parse({});
const reg = (dx: number, dy: number, confidence = 0.6): Registration => ({ dx, dy, residual: 0.5, confidence, zeroGain: 1, edgePixels: 500 });
const reason = (v: ReturnType<typeof judgeRgbdPair>) => (typeof v === 'string' ? v : v.reason);

test('each filter drops with its reason, checked in order: valid depth, skew, confidence, shift', () => {
  assert.equal(reason(judgeRgbdPair({ skewMs: 5, registration: reg(1, -1), validRatio: 0.8 }, q)), 'keep');
  assert.equal(reason(judgeRgbdPair({ skewMs: 5, registration: reg(0, 0), validRatio: 0.1 }, q)), 'low_valid_depth');
  assert.equal(reason(judgeRgbdPair({ skewMs: -25, registration: reg(5, 5, 0), validRatio: 0.8 }, q)), 'skew_too_large');
  assert.equal(reason(judgeRgbdPair({ skewMs: null, registration: reg(5, 5, 0.05), validRatio: 0.8 }, q)), 'low_registration_confidence');
  const mis = judgeRgbdPair({ skewMs: null, registration: reg(0, -3), validRatio: 0.8 }, q);
  assert.equal(reason(mis), 'misregistered');
  assert.match(typeof mis === 'string' ? '' : mis.detail, /shift \(0, -3\) px > 2 px/);
  assert.equal(judgeRgbdPair({ skewMs: null, registration: reg(0, -3), validRatio: 0.8 }, { ...q, correct_shift: true }), 'correct');
  const none = judgeRgbdPair({ skewMs: null, registration: { ...reg(0, 0, 0), edgePixels: 0 }, validRatio: 0.8 }, q);
  assert.match(typeof none === 'string' ? '' : none.detail, /too few depth edges/);
});

test('depth stats: valid ratio and range in metres, ignoring zeros', () => {
  const s = depthStats({ width: 4, height: 1, data: Uint16Array.from([0, 5000, 10000, 0]) }, 5000);
  assert.deepEqual(s, { validRatio: 0.5, minM: 1, maxM: 2 });
  assert.deepEqual(depthStats({ width: 1, height: 1, data: new Uint16Array(1) }, 1000), { validRatio: 0, minM: 0, maxM: 0 });
});

test('config defaults and bounds', () => {
  assert.deepEqual(q, { max_skew_ms: 20, max_registration_shift: 2, min_registration_confidence: 0.15, min_valid_ratio: 0.3, correct_shift: false });
  assert.throws(() => rgbdQualitySchema.parse({ min_valid_ratio: 2 }));
  assert.throws(() => rgbdQualitySchema.parse({ unknown_key: 1 }));
});
