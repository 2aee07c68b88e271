// Provenance: one record per process that ran into an OUT folder (`weft run`, a rank, a queue
// worker), written when it finalises: when it started and ended, the weft version, the command
// line, the input paths, its rank and the units it was given. `weft merge` copies the records of
// every merged folder, so the merged report says which ranks it holds and which units are missing.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeJsonAtomic } from './fs-atomic.ts';
import type { RunInvocation } from '../report/provenance-section.ts';

/**
 * started_at/ended_at (ISO), weft_version, command (argv after the node binary; absolute paths
 * outside the working directory keep only their last part), inputs (the config's source paths as
 * written), rank/world_size, units_in_input (all ranks) and units_given (this process's units).
 */
export type Invocation = RunInvocation;

const DIR = 'invocations';

/** The command line as a reader can reproduce it, without machine-specific absolute paths. */
export function portableCommand(argv: readonly string[], cwd = process.cwd()): string[] {
  const [script, ...args] = argv.slice(1);
  const name = script && /weft(\.js)?$/.test(script) ? 'weft' : path.basename(script ?? 'node');
  return [
    name,
    ...args.map((a) => {
      if (!path.isAbsolute(a)) return a;
      const rel = path.relative(cwd, a);
      return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : `…/${path.basename(a)}`;
    }),
  ];
}

/** Named by start time, rank and a hash of the record, so a copy into a merged folder keeps its name. */
export async function writeInvocation(root: string, inv: Invocation): Promise<void> {
  const hash = createHash('sha1').update(JSON.stringify(inv)).digest('hex').slice(0, 10);
  await mkdir(path.join(root, DIR), { recursive: true });
  await writeJsonAtomic(path.join(root, DIR, `${inv.started_at.replace(/[^0-9A-Za-z]/g, '')}-rank${inv.rank}-of${inv.world_size}-${hash}.json`), inv);
}

/** All records in OUT, oldest first; none for outputs written before records existed. */
export async function readInvocations(root: string): Promise<Invocation[]> {
  let names: string[];
  try {
    names = (await readdir(path.join(root, DIR))).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: Invocation[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(await readFile(path.join(root, DIR, n), 'utf8')) as Invocation);
    } catch {
      // an unreadable record (edited by hand) is left out rather than failing the report
    }
  }
  return out.sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0));
}

/** Copies the records of merged folders into the merged one. */
export async function copyInvocations(from: string, to: string): Promise<void> {
  for (const inv of await readInvocations(from)) await writeInvocation(to, inv);
}
