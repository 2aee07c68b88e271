// The README's Python reader, run as written against a real OUT folder of each IPC format, where
// python3 with pyarrow is installed. Where it is not, the test is skipped and says so: the
// snippet has then not been run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { duckQuery, sqlString } from './helpers/duckdb.ts';
import { runKind } from './helpers/kind-runs.ts';

const pyarrow = spawnSync('python3', ['-c', 'import pyarrow'], { encoding: 'utf8' });
const hasPyarrow = pyarrow.status === 0;
const skip = hasPyarrow ? false : `python3 with pyarrow is not available here (${(pyarrow.stderr || pyarrow.error?.message || '').trim().split('\n').at(-1)}); the README's Python reader was NOT run`;

let work: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-readme-py-'));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('the README holds the tested Python reader block', async () => {
  const block = await readerBlock();
  assert.match(block, /def read_weft\(/);
  assert.match(block, /pa\.ipc\.open_file/);
  assert.match(block, /pa\.ipc\.open_stream/);
});

const hasPython = spawnSync('python3', ['--version']).status === 0;

test('the Python reader block is valid Python', { skip: hasPython ? false : 'python3 is not installed here' }, async () => {
  const script = path.join(work, 'reader-compile.py');
  await writeFile(script, await readerBlock());
  const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

for (const format of ['stream', 'file'] as const) {
  test(`the README's Python reader reads ${format} shards: the rows the index lists`, { skip }, async () => {
    const dir = path.join(work, format);
    await mkdir(dir);
    const out = await runKind('image_text', dir, { seed: 12, extraYaml: [`output: { arrow_format: ${format} }`] });
    const script = path.join(work, `reader-${format}.py`);
    await writeFile(script, await readerBlock());
    const r = spawnSync('python3', [script, out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const index = await duckQuery(`select id from read_parquet(${sqlString(path.join(out, 'index.parquet'))}) order by shard, "row"`);
    assert.deepEqual(rows.map((x) => x.id), index.map((x) => x.id));
    for (const x of rows) assert.equal(x.id, x.index_id);
  });
}

async function readerBlock(): Promise<string> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const m = /<!-- tested: python-reader -->\n```python\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has a python block after <!-- tested: python-reader -->');
  return m[1];
}
