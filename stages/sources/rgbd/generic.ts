// The plainest layout: a folder with rgb/ and depth/ subfolders whose files pair by stem
// (rgb/000123.png with depth/000123.png). Depth is a 16-bit PNG at depth_scale units per
// metre (default 1000, millimetres). No timestamps.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameRef, SequenceListing } from './frames.ts';
import { DEPTH_EXTENSIONS, IMAGE_EXTENSIONS, stemOf } from './frames.ts';

export async function listGenericSequence(seqDir: string): Promise<SequenceListing> {
  const list = async (sub: string, pattern: RegExp): Promise<FrameRef[]> =>
    (await readdir(join(seqDir, sub)))
      .filter((f) => pattern.test(f))
      .sort()
      .map((f) => ({ path: join(seqDir, sub, f), name: `${sub}/${f}`, timestamp: null, key: stemOf(f) }));
  return {
    layout: 'generic',
    rgb: await list('rgb', IMAGE_EXTENSIONS),
    depth: await list('depth', DEPTH_EXTENSIONS),
    pairBy: 'key',
    depthEncoding: 'png16',
    rejects: [],
  };
}

export function isGenericSequence(subdirs: Set<string>): boolean {
  return subdirs.has('rgb') && subdirs.has('depth');
}
