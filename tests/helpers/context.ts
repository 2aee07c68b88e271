// A real StageContext for tests: real stats, real ledger, silent log.
import { RunStats } from '../../core/stats.ts';
import { RejectLedger } from '../../core/rejects.ts';
import { silentLogger } from '../../core/logger.ts';
import type { StageContext } from '../../core/stage.ts';

export function testContext(signal: AbortSignal = new AbortController().signal, config: unknown = {}): StageContext & { stats: RunStats; rejects: RejectLedger } {
  return { config, stats: new RunStats(), rejects: new RejectLedger(), log: silentLogger, signal, unit: { id: 'unit-0', source: 'test' } };
}
