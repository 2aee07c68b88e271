// Usage errors (exit 2) and the flag parsers that raise them, shared by the CLI and its commands.
export { UsageError } from '../core/usage-error.ts';
import { UsageError } from '../core/usage-error.ts';

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
