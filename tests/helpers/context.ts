// A real StageContext for tests: real stats, real ledger, silent log.
import { RunStats } from '../../pipeline/stats.ts';
import { RejectLedger } from '../../pipeline/rejects.ts';
import { silentLogger } from '../../pipeline/logger.ts';
import type { StageContext } from '../../pipeline/stage.ts';

export function testContext(signal: AbortSignal = new AbortController().signal, config: unknown = {}): StageContext & { stats: RunStats; rejects: RejectLedger } {
  return { config, stats: new RunStats(), rejects: new RejectLedger(), log: silentLogger, signal, unit: { id: 'unit-0', source: 'test' } };
}
