// Commands that live in their own files register here, so adding a command never means
// editing the core CLI. Each module exports `register(program)`; list it in COMMAND_MODULES.
import type { Command } from 'commander';

export class UsageError extends Error {}

export type CommandModule = { register(program: Command): void };

/** Loaded in this order; each adds one or more subcommands. */
export const COMMAND_MODULES: (() => Promise<CommandModule>)[] = [
  () => import('./queue.ts'),
  () => import('./filter.ts'),
  () => import('./train-scorer.ts'),
  () => import('./eval-scorer.ts'),
];

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: got ${JSON.stringify(v)}; expected a positive integer`);
  return n;
}

export function nonNegativeInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag}: got ${JSON.stringify(v)}; expected an integer >= 0`);
  return n;
}

export function fraction(v: string, flag: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new UsageError(`${flag}: got ${JSON.stringify(v)}; expected a number in (0, 1]`);
  return n;
}
