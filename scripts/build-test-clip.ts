// Write a random CLIP-layout test model (ONNX towers + tokenizer).
import path from 'node:path';
import { buildTestClip } from '../scorer/test-clip.ts';

const out = process.argv[2] ?? path.join('fixtures', 'generated', 'test-clip');
await buildTestClip(out);
console.log(`wrote a random CLIP-layout test model to ${out}`);
