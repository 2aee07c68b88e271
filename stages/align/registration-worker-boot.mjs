// Entry file of a registration worker thread. A worker does not inherit the parent's TypeScript
// loader on Node 20, so this plain module registers tsx (resolved from this file, not from the
// working directory) and then loads the TypeScript worker body.
import { register } from 'tsx/esm/api';

register();
await import('./registration-worker.ts');
