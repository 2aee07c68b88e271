// The benchmark registry: add a line per benchmark module.
import { registerBench as _registerBench } from '../../pipeline/bench.ts';

export function registerAllBenches(): void {
  // registerBench('web', 'URL list through fetch + decode + resize vs sharp alone', async () => (await import('./web.ts')).bench);
}
