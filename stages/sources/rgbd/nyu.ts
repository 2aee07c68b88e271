// NYU Depth v2 raw scene folders: colour frames `r-<timestamp>-<id>.ppm` (P6) and depth frames
// `d-<timestamp>-<id>.pgm` (P5, 16-bit, little-endian in the real dumps), timestamps in
// seconds. Other files (INDEX.txt, a-*.dump accelerometer records) are not frames and are
// ignored; so are names that merely start like a frame but do not match the pattern.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameRef, SequenceListing } from './frames.ts';
import { stemOf } from './frames.ts';

const FRAME = /^([rd])-([0-9]+(?:\.[0-9]+)?)-([0-9]+)\.(ppm|pgm)$/;

function parseNyuName(name: string): { stream: 'rgb' | 'depth'; timestamp: number } | null {
  const m = FRAME.exec(name);
  if (!m) return null;
  if ((m[1] === 'r') !== (m[4] === 'ppm')) return null;
  return { stream: m[1] === 'r' ? 'rgb' : 'depth', timestamp: Number(m[2]) };
}

export async function listNyuSequence(seqDir: string): Promise<SequenceListing> {
  const rgb: FrameRef[] = [];
  const depth: FrameRef[] = [];
  for (const name of (await readdir(seqDir)).sort()) {
    const parsed = parseNyuName(name);
    if (!parsed) continue;
    (parsed.stream === 'rgb' ? rgb : depth).push({ path: join(seqDir, name), name, timestamp: parsed.timestamp, key: stemOf(name) });
  }
  const byTime = (a: FrameRef, b: FrameRef) => a.timestamp! - b.timestamp! || (a.name < b.name ? -1 : 1);
  return { layout: 'nyu', rgb: rgb.sort(byTime), depth: depth.sort(byTime), pairBy: 'timestamp', depthEncoding: 'pgm16', rejects: [] };
}

export function isNyuSequence(entries: Set<string>): boolean {
  for (const name of entries) if (parseNyuName(name)?.stream === 'rgb') return true;
  return false;
}
