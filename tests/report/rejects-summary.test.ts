import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseRejects } from '../../report/rejects-summary.ts';
import type { RejectRecord } from '../../core/rejects.ts';
import { buildSampleRun, seeded } from '../helpers/report-sample-run.ts';

const run = await buildSampleRun();
const rows = run.rejects.rows;

test('counts per stage and reason match the ledger, largest first', async () => {
  const summary = await summariseRejects(rows, 2);
  assert.equal(summary.reduce((a, r) => a + r.count, 0), rows.length);
  for (const r of summary) {
    assert.equal(r.count, rows.filter((x) => x.stage === r.stage && x.reason === r.reason).length);
    assert.equal(r.examples.length, Math.min(2, r.count));
    for (const e of r.examples) assert.ok(rows.some((x) => x.id === e.id && x.reason === r.reason && x.detail === e.detail && x.source === e.source));
  }
  const counts = summary.map((r) => r.count);
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
  // The ledger and the stage counters were written by the same stage contract: they agree.
  const stats = run.stats.toJSON();
  for (const r of summary) assert.equal(stats.stages[r.stage].dropped[r.reason], r.count);
});

test('examples do not depend on row order, and async rows give the same summary', async () => {
  const summary = await summariseRejects(rows);
  const shuffled = [...rows];
  const random = seeded(3);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  assert.notDeepEqual(shuffled.slice(0, 20), rows.slice(0, 20));
  async function* stream(): AsyncGenerator<RejectRecord> {
    yield* shuffled;
  }
  assert.deepEqual(await summariseRejects(stream()), summary);
});

test('no rows, no reasons; zero examples asked, none kept', async () => {
  assert.deepEqual(await summariseRejects([]), []);
  assert.ok((await summariseRejects(rows, 0)).every((r) => r.examples.length === 0));
});
