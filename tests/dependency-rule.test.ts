// The dependency rule of docs/architecture.md, checked on every module's imports (static,
// type-only and dynamic): a module imports only from its own floor or the floors below it, stage
// folders import only stages earlier in the flow, and no import circle exists between modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Floors from the ground up: a module may import from its own floor and any floor below. */
const FLOORS = ['core', 'schemas', 'corpora', 'scorer', 'stages', 'report', 'kinds', 'output', 'run', 'scripts'];
/** Stage folders in flow order: a stage folder may import itself and folders earlier in the flow. */
const STAGE_FLOW = ['sources', 'fetch', 'decode', 'pair', 'align', 'score', 'curate'];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(repo, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Relative imports of a module, resolved to repo-relative paths. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(repo, file), 'utf8'), true, true);
  const specs = info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'));
  // Worker entry files are loaded by URL, not imported: they count as imports too.
  for (const m of readFileSync(path.join(repo, file), 'utf8').matchAll(/new URL\(\s*'(\.[^']+)'\s*,\s*import\.meta\.url/g)) specs.push(m[1]);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s))).filter((t) => /\.(ts|mjs|js)$/.test(t));
}

const floorOf = (file: string) => FLOORS.indexOf(file.split('/')[0]);
const stageOf = (file: string) => (file.startsWith('stages/') ? STAGE_FLOW.indexOf(file.split('/')[1]) : -1);

const modules = FLOORS.flatMap((f) => sourceFiles(f));
const graph = new Map(modules.map((m) => [m, importsOf(m)]));

test('every module sits on a known floor, every stage folder in the flow', () => {
  for (const m of modules) if (m.startsWith('stages/')) assert.ok(stageOf(m) >= 0, `${m}: stages/${m.split('/')[1]} is not in the stage flow ${STAGE_FLOW.join(' -> ')}`);
  assert.ok(modules.length > 100, `found ${modules.length} modules`);
});

test('imports point down the floors and forward along the stage flow, never back', () => {
  const backEdges: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const [a, b] = [floorOf(from), floorOf(to)];
      if (b < 0) backEdges.push(`${from} -> ${to} (outside the floors)`);
      else if (b > a) backEdges.push(`${from} -> ${to} (${FLOORS[a]} may not import ${FLOORS[b]})`);
      else if (a === b && FLOORS[a] === 'stages' && stageOf(to) > stageOf(from)) {
        backEdges.push(`${from} -> ${to} (stages/${STAGE_FLOW[stageOf(from)]} comes before stages/${STAGE_FLOW[stageOf(to)]} in the flow)`);
      }
    }
  }
  assert.deepEqual(backEdges, []);
});

test('no import circles between modules', () => {
  // Tarjan's strongly connected components: every component of more than one module is a circle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(component.sort());
    }
  };
  for (const m of graph.keys()) if (!index.has(m)) visit(m);
  assert.deepEqual(circles, []);
});

test('tests mirror the code: a test file sits in the folder of the module it is named after', () => {
  const moduleDirs = new Map<string, string[]>();
  for (const m of modules) {
    const stem = path.posix.basename(m).replace(/\.(ts|mjs|js)$/, '');
    moduleDirs.set(stem, [...(moduleDirs.get(stem) ?? []), path.posix.dirname(m)]);
  }
  const misplaced: string[] = [];
  for (const t of sourceFiles('tests').filter((f) => f.endsWith('.test.ts'))) {
    const stem = path.posix.basename(t, '.test.ts');
    const dir = path.posix.dirname(t).replace(/^tests\/?/, '');
    if (dir === '') continue; // repo-wide checks such as this one
    const homes = moduleDirs.get(stem);
    if (homes) {
      if (!homes.includes(dir)) misplaced.push(`${t}: ${stem} lives in ${homes.join(', ')}`);
    } else if (!modules.some((m) => m.startsWith(`${dir}/`))) misplaced.push(`${t}: no module folder ${dir}`);
  }
  assert.deepEqual(misplaced, []);
});

test('stages and kinds leave the rejects ledger and the stage counters to the stage base', () => {
  // core/stage.ts counts in/out/dropped and writes every drop; a stage that did it by hand
  // could count an item twice or drop one without a reject row.
  const byHand = /\brejects\.reject\(|\bledger\.reject\(|\bstats\.stage\(|\.dropped\(|RejectLedger\b/;
  const offenders = modules.filter((m) => /^(stages|kinds)\//.test(m) && byHand.test(readFileSync(path.join(repo, m), 'utf8')));
  assert.deepEqual(offenders, []);
});

test('no export is used nowhere: each exported name appears in its own module again or in another file', () => {
  const everything = [...FLOORS, 'tests', 'bin'].flatMap((f) => (f === 'bin' ? [] : sourceFiles(f)));
  const text = new Map(everything.map((f) => [f, readFileSync(path.join(repo, f), 'utf8')]));
  const unused: string[] = [];
  for (const m of modules.filter((x) => !x.startsWith('scripts/'))) {
    const src = text.get(m)!;
    for (const [, name] of src.matchAll(/^export (?:async )?(?:function\*?|const|let|class|interface|type|enum) (\w+)/gm)) {
      const word = new RegExp(`\\b${name}\\b`, 'g');
      if ((src.match(word) ?? []).length > 1) continue;
      if (![...text].some(([f, t]) => f !== m && new RegExp(`\\b${name}\\b`).test(t))) unused.push(`${m}: ${name}`);
    }
  }
  assert.deepEqual(unused, []);
});
