// The benches measure in child processes that run a bench module by path (runChildMeasurement);
// a path that no longer names a module would only fail when someone runs that bench. Every
// child-script path in run/bench/ must name a file that exists and handles `--child`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('every bench child script path names a bench module that runs as a child', () => {
  const benchDir = path.join(repo, 'run', 'bench');
  const scripts: string[] = [];
  for (const f of readdirSync(benchDir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(path.join(benchDir, f), 'utf8').matchAll(/const SCRIPT = '([^']+)'/g)) scripts.push(m[1]);
  }
  assert.ok(scripts.length >= 5, `found ${scripts.length} child scripts`);
  for (const s of scripts) {
    assert.ok(existsSync(path.join(repo, s)), `${s} does not exist`);
    assert.match(readFileSync(path.join(repo, s), 'utf8'), /'--child'/, `${s} has no --child entry`);
  }
});
