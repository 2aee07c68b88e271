// Named points in the commit protocol where a test can make the process SIGKILL itself, so
// crash-safety is tested at exact moments as well as at random ones. Inert unless
// WEFT_KILL_AT=<point>:<n> is set (kill on the n-th time the point is reached).
const spec = process.env.WEFT_KILL_AT;
const [targetPoint, targetCount] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? '1')] : ['', 0];
let hits = 0;

export type FaultPoint = 'unit-start' | 'batch-written' | 'shards-renamed' | 'unit-committed';

export function faultPoint(point: FaultPoint): void {
  if (point !== targetPoint) return;
  hits++;
  if (hits === targetCount) process.kill(process.pid, 'SIGKILL');
}
