// Commands that live in their own files register here, so adding a command never means
// editing the core CLI. Each module exports `register(program)`; list it in COMMAND_MODULES.
import type { Command } from 'commander';

export type CommandModule = { register(program: Command): void };

/**
 * Command modules by the subcommand names they register. A call loads only the module of its
 * own subcommand (modules import heavy libraries); `weft --help` loads them all to list them.
 */
const COMMAND_MODULES: { names: string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['queue'], load: () => import('./queue.ts') },
  { names: ['filter'], load: () => import('./filter.ts') },
  { names: ['export'], load: () => import('./export.ts') },
  { names: ['train-scorer'], load: () => import('./train-scorer.ts') },
  { names: ['eval-scorer'], load: () => import('./eval-scorer.ts') },
  { names: ['diff'], load: () => import('./diff.ts') },
];

/** The modules a command line needs: its subcommand's, or all of them for top-level help. */
export function commandModulesFor(argv: string[]): { names: string[]; load: () => Promise<CommandModule> }[] {
  const sub = argv.find((a) => !a.startsWith('-'));
  const wanted = COMMAND_MODULES.filter((m) => sub !== undefined && m.names.includes(sub));
  return sub === undefined || sub === 'help' ? COMMAND_MODULES : wanted;
}
