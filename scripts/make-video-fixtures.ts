// Write the synthetic video fixtures (sync clips, bad files, scene clip, demo videos).
import path from 'node:path';
import { makeVideoFixtures } from '../run/fixtures/video-fixtures.ts';

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 1;
if (!Number.isInteger(seed)) throw new Error('--seed needs an integer');
const dir = args.find((a, i) => !a.startsWith('--') && (seedAt < 0 || i !== seedAt + 1)) ?? path.join('fixtures', 'generated', 'video');
const started = performance.now();
const truth = await makeVideoFixtures(dir, { seed });
console.log(`wrote ${truth.sync.length} sync clips, ${truth.bad.length} bad files, 1 scene clip, ${truth.demo.length} demo videos to ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
