// The run's heap growth rule, in fresh node processes (the V8 flag is process-wide): it switches
// to V8's own rule when the live heap is large, back when it is small again, and stays off when
// asked to. Its effect on a run (full collections per 100 pairs, CPU) is measured by
// `weft bench rgbd`, which reports both rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const moduleUrl = new URL('../../core/heap-growth.ts', import.meta.url).href;

/** Runs `body` (an async function body) in a child with the module imported as `hg`; returns its last stdout line as JSON. */
function child(body: string, env: Record<string, string> = {}): Record<string, unknown> {
  const script = `const hg = await import(${JSON.stringify(moduleUrl)});\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('WEFT_V8_HEAP_GROWTH=default leaves V8 own rule alone', () => {
  const r = child(`hg.useRunHeapGrowth(); console.log(JSON.stringify({ widened: hg.heapGrowthWidened() }));`, { WEFT_V8_HEAP_GROWTH: 'default' });
  assert.equal(r.widened, false);
});

test('a live heap past the large-heap bound gets V8 own growth rule back, and a small one the wide rule again', () => {
  const r = child(`
hg.useRunHeapGrowth();
const before = hg.heapGrowthWidened();
let big = Array.from({ length: 6_000_000 }, (_, i) => ({ i }));   // well over LARGE_LIVE_HEAP_BYTES
const gc = async () => { for (let k = 0; k < 3; k++) { for (let j = 0; j < 30; j++) Array.from({ length: 200_000 }, (_, i) => [i]); await new Promise((r) => setTimeout(r, 20)); } };
const waitFor = async (want) => { for (let t = 0; t < 200 && hg.heapGrowthWidened() !== want; t++) await gc(); return hg.heapGrowthWidened(); };
const large = await waitFor(false);
big = null;
const small = await waitFor(true);
console.log(JSON.stringify({ before, large, small, bound: hg.LARGE_LIVE_HEAP_BYTES }));
`);
  assert.equal(r.before, true);
  assert.equal(r.large, false, 'large live heap: V8 own rule');
  assert.equal(r.small, true, 'small again: the wide rule');
});
