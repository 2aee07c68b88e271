// weft diff: what happened to each sample in two outputs of the same input (another threshold,
// scorer or config). Every id is kept or dropped (with stage and reason) in each; a sample whose
// fate changed (kept -> dropped, dropped -> kept, another reason, only in one output) or whose
// score moved by more than delta is a change. Read from index.parquet and rejects.parquet only.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Manifest } from '../schemas/manifest.ts';
import { readFlatParquet, writeFlatParquet, type FlatColumn } from './parquet-tables.ts';
import { scoreColumnName } from '../stages/score/score-columns.ts';
import type { ChangeKind, Fate, RunDiff, SampleChange } from '../report/diff-html.ts';

export type { RunDiff } from '../report/diff-html.ts';

/** The run's score column: --column, else the first scorer's `score_<id>`, else none. */
function scoreColumnOf(m: Manifest, column?: string): string | null {
  if (column) return column;
  return m.scorers.length ? scoreColumnName(m.scorers[0].id) : null;
}

async function fatesOf(dir: string, column?: string): Promise<{ fates: Map<string, Fate>; manifest: Manifest; scoreColumn: string | null }> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const scoreColumn = scoreColumnOf(manifest, column);
  const fates = new Map<string, Fate>();
  for (const r of await readFlatParquet(path.join(dir, 'index.parquet'))) {
    const s = scoreColumn ? r[scoreColumn] : null;
    fates.set(String(r.id), { kept: true, kind: String(r.kind), stage: null, reason: null, score: typeof s === 'number' && Number.isFinite(s) ? s : null });
  }
  for (const r of await readFlatParquet(path.join(dir, 'rejects.parquet'))) {
    fates.set(String(r.id), { kept: false, kind: String(r.kind), stage: String(r.stage), reason: String(r.reason), score: null });
  }
  return { fates, manifest, scoreColumn };
}

const nameOf = (m: Manifest, dir: string) => {
  const n = (m.config as { name?: unknown } | null)?.name;
  return typeof n === 'string' && n ? n : path.basename(dir);
};

export async function diffOutDirs(dirA: string, dirB: string, options: { delta?: number; column?: string } = {}): Promise<RunDiff> {
  const delta = options.delta ?? 0.05;
  const A = await fatesOf(dirA, options.column);
  const B = await fatesOf(dirB, options.column);
  const changes: SampleChange[] = [];
  const ids = [...new Set([...A.fates.keys(), ...B.fates.keys()])].sort();
  for (const id of ids) {
    const a = A.fates.get(id) ?? null;
    const b = B.fates.get(id) ?? null;
    const kind = (a ?? b)!.kind;
    const scoreDelta = a?.score != null && b?.score != null ? b.score - a.score : null;
    let change: ChangeKind | null = null;
    if (!a) change = 'only_in_b';
    else if (!b) change = 'only_in_a';
    else if (a.kept && !b.kept) change = 'kept_to_dropped';
    else if (!a.kept && b.kept) change = 'dropped_to_kept';
    else if (!a.kept && !b.kept && (a.stage !== b.stage || a.reason !== b.reason)) change = 'reason_changed';
    else if (scoreDelta !== null && Math.abs(scoreDelta) > delta) change = 'score_moved';
    if (change) changes.push({ id, kind, change, a, b, score_delta: scoreDelta });
  }
  const counts = { kept_to_dropped: 0, dropped_to_kept: 0, reason_changed: 0, score_moved: 0, only_in_a: 0, only_in_b: 0 } as Record<ChangeKind, number>;
  for (const c of changes) counts[c.change]++;
  const tally = (fates: Map<string, Fate>) => {
    const t = new Map<string, number>();
    for (const f of fates.values()) {
      const key = f.kept ? 'kept' : `${f.stage}/${f.reason}`;
      t.set(key, (t.get(key) ?? 0) + 1);
    }
    return t;
  };
  const ta = tally(A.fates);
  const tb = tally(B.fates);
  const reasons = [...new Set([...ta.keys(), ...tb.keys()])]
    .map((key) => ({ key, a: ta.get(key) ?? 0, b: tb.get(key) ?? 0 }))
    .sort((x, y) => (x.key === 'kept' ? -1 : y.key === 'kept' ? 1 : Math.max(y.a, y.b) - Math.max(x.a, x.b) || (x.key < y.key ? -1 : 1)));
  return {
    a: { dir: dirA, name: nameOf(A.manifest, dirA), scoreColumn: A.scoreColumn, samples: A.fates.size },
    b: { dir: dirB, name: nameOf(B.manifest, dirB), scoreColumn: B.scoreColumn, samples: B.fates.size },
    delta,
    changes,
    counts,
    reasons,
  };
}

export const CHANGE_COLUMNS: FlatColumn[] = [
  { name: 'id', type: 'UTF8', optional: false },
  { name: 'kind', type: 'UTF8', optional: false },
  { name: 'change', type: 'UTF8', optional: false },
  ...(['a', 'b'] as const).flatMap((s): FlatColumn[] => [
    { name: `${s}_fate`, type: 'UTF8', optional: true },
    { name: `${s}_stage`, type: 'UTF8', optional: true },
    { name: `${s}_reason`, type: 'UTF8', optional: true },
    { name: `${s}_score`, type: 'DOUBLE', optional: true },
  ]),
  { name: 'score_delta', type: 'DOUBLE', optional: true },
];

/** changed.parquet: one row per changed sample, fates side by side. */
export async function writeChangesParquet(file: string, diff: RunDiff): Promise<number> {
  const side = (p: 'a' | 'b', f: Fate | null) => ({
    [`${p}_fate`]: f ? (f.kept ? 'kept' : 'dropped') : null,
    [`${p}_stage`]: f?.stage ?? null,
    [`${p}_reason`]: f?.reason ?? null,
    [`${p}_score`]: f?.score ?? null,
  });
  return writeFlatParquet(
    file,
    CHANGE_COLUMNS,
    diff.changes.map((c) => ({ id: c.id, kind: c.kind, change: c.change, ...side('a', c.a), ...side('b', c.b), score_delta: c.score_delta })),
    { weft_diff: JSON.stringify({ a: diff.a.name, b: diff.b.name, delta: diff.delta }) },
  );
}
