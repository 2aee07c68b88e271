// Provenance: when the output was made, by which weft, from which command and inputs, with which
// resolved config, and for outputs made by several processes (ranks, queue workers) which ones
// were merged and which units of the input are missing. Read from OUT/invocations/ (written by
// each process at finalise) and the manifest.
import type { Manifest } from '../schemas/manifest.ts';
import { esc, fmtDuration, fmtInt } from './html-text.ts';
import { table } from './html-table.ts';

/** One process that ran into the folder (output/invocations.ts writes these). */
export interface RunInvocation {
  started_at: string;
  ended_at: string;
  weft_version: string;
  command: string[];
  inputs: string[];
  rank: number;
  world_size: number;
  units_in_input: number;
  units_given: string[];
}

/** Units named in a listing before the rest are counted. */
const LISTED_UNITS = 40;

export function provenanceSection(m: Manifest, invocations: readonly RunInvocation[], busyMs: number): string {
  const parts: string[] = [];
  const facts: [string, string][] = [];
  if (invocations.length) {
    const start = invocations.reduce((a, i) => (i.started_at < a ? i.started_at : a), invocations[0].started_at);
    const end = invocations.reduce((a, i) => (i.ended_at > a ? i.ended_at : a), invocations[0].ended_at);
    facts.push(['run started', esc(start)], ['run ended', esc(end)]);
    facts.push(['wall-clock time (first start to last end)', esc(fmtDuration(Date.parse(end) - Date.parse(start)))]);
  } else {
    facts.push(['run start and end', '<span class="muted">not recorded (output made before weft recorded its runs)</span>']);
  }
  if (busyMs) facts.push(['busy time (summed over units, which overlap)', esc(fmtDuration(busyMs))]);
  const versions = [...new Set([m.weft_version, ...invocations.map((i) => i.weft_version)])];
  facts.push(['weft version', esc(versions.join(', '))]);
  const inputs = [...new Set(invocations.flatMap((i) => i.inputs))];
  const configInputs = configInputPaths(m.config);
  facts.push(['input paths', [...new Set([...inputs, ...configInputs])].map((p) => `<code>${esc(p)}</code>`).join(', ') || '<span class="muted">none named</span>']);
  const commands = [...new Set(invocations.map((i) => i.command.join(' ')))];
  if (commands.length) facts.push([commands.length > 1 ? 'command lines' : 'command line', commands.map((c) => `<code>${esc(c)}</code>`).join('<br>')]);

  // Completeness: which units of the input have no commit here.
  const committed = new Set(m.units.map((u) => u.id));
  const unitsInInput = Math.max(0, ...invocations.map((i) => i.units_in_input));
  const worlds = [...new Set(invocations.map((i) => i.world_size))];
  const ranks = [...new Set(invocations.map((i) => `${i.rank}/${i.world_size}`))];
  if (invocations.length > 1 || worlds.some((w) => w > 1)) {
    facts.push(['processes merged', `${fmtInt(invocations.length)} (${ranks.map((r) => `rank ${esc(r)}`).join(', ')})`]);
    for (const w of worlds.filter((x) => x > 1)) {
      const present = new Set(invocations.filter((i) => i.world_size === w).map((i) => i.rank));
      const absent = Array.from({ length: w }, (_, r) => r).filter((r) => !present.has(r));
      if (absent.length) facts.push([`ranks absent (of ${w})`, `<span class="warn">${absent.map((r) => fmtInt(r)).join(', ')}</span>`]);
    }
  }
  if (invocations.length) {
    const missingNamed = [...new Set([...invocations.flatMap((i) => i.units_given), ...(m.partial?.missing_units ?? [])])].filter((u) => !committed.has(u)).sort();
    const missing = Math.max(missingNamed.length, unitsInInput - committed.size);
    if (missing > 0) {
      const listed = missingNamed.slice(0, LISTED_UNITS).map((u) => `<code>${esc(u)}</code>`).join(', ');
      const unnamed = missing - missingNamed.length;
      const rest = (missingNamed.length > LISTED_UNITS ? ` and ${fmtInt(missingNamed.length - LISTED_UNITS)} more` : '') + (unnamed > 0 ? `${listed ? '; ' : ''}${fmtInt(unnamed)} of ranks or workers that are not here` : '');
      facts.push(['units missing', `<span class="warn">${fmtInt(missing)} of ${fmtInt(unitsInInput)} units have no commit: this output is partial.</span> ${listed}${esc(rest)}`]);
    } else {
      facts.push(['units', `all ${fmtInt(committed.size)} units of the input are committed`]);
    }
  }
  parts.push(`<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`);
  if (invocations.length > 1) {
    parts.push(
      table(
        ['started', 'ended', 'wall clock', 'rank', 'units given', 'command'],
        invocations.map((i) => [esc(i.started_at), esc(i.ended_at), esc(fmtDuration(Date.parse(i.ended_at) - Date.parse(i.started_at))), esc(`${i.rank}/${i.world_size}`), fmtInt(i.units_given.length), `<code>${esc(i.command.join(' '))}</code>`]),
        [false, false, true, false, true, false],
      ),
    );
  }
  parts.push(`<details class="config"><summary>Resolved config (every default filled in)</summary><pre>${esc(JSON.stringify(m.config, null, 2))}</pre></details>`);
  return parts.join('\n');
}

function configInputPaths(config: unknown): string[] {
  const src = (config as { source?: Record<string, unknown> } | null)?.source ?? {};
  return typeof src.path === 'string' ? [src.path] : [];
}
