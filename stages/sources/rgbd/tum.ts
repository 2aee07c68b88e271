// TUM RGB-D benchmark sequences: rgb.txt and depth.txt list `timestamp path` lines (paths
// relative to the sequence folder), `#` starts a comment line. Colour frames are 8-bit RGB
// PNGs, depth frames 16-bit PNGs at 5000 units per metre, 0 = missing.
//
// Lines are rejected, never fatal: an unparseable line is `bad_line`; a line whose timestamp is
// not greater than the last accepted one in the same list is `timestamp_not_monotonic` (the
// out-of-order line is dropped and the rest of the list kept, since one glitched stamp should
// not cost a whole sequence and keeping it would make the pairing ambiguous).
import { readFile } from 'node:fs/promises';
import { join, normalize, isAbsolute } from 'node:path';
import type { FrameRef, ListingReject, SequenceListing } from './frames.ts';
import { stemOf } from './frames.ts';

export interface ParsedList {
  frames: FrameRef[];
  rejects: ListingReject[];
}

const TIMESTAMP = /^[0-9]+(\.[0-9]+)?$/;

/** Parse one TUM list file's text. `listName` (rgb.txt or depth.txt) and `idPrefix` make reject ids. */
function parseTumList(text: string, seqDir: string, listName: string, idPrefix: string): ParsedList {
  const frames: FrameRef[] = [];
  const rejects: ListingReject[] = [];
  const source = join(seqDir, listName);
  let last = -Infinity;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const id = `${idPrefix}/${listName}:${n + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length < 2 || !TIMESTAMP.test(parts[0])) {
      rejects.push({ id, source, reason: 'bad_line', detail: `line ${n + 1}: expected "timestamp path", got ${JSON.stringify(line.slice(0, 120))}` });
      continue;
    }
    const name = normalize(parts[1]);
    if (isAbsolute(name) || name.startsWith('..')) {
      rejects.push({ id, source, reason: 'bad_line', detail: `line ${n + 1}: path ${parts[1]} leaves the sequence folder` });
      continue;
    }
    const timestamp = Number(parts[0]);
    if (!(timestamp > last)) {
      rejects.push({ id, source, reason: 'timestamp_not_monotonic', detail: `line ${n + 1}: ${parts[0]} after ${last.toFixed(6)}` });
      continue;
    }
    last = timestamp;
    frames.push({ path: join(seqDir, name), name, timestamp, key: stemOf(name) });
  }
  return { frames, rejects };
}

export async function listTumSequence(seqDir: string, idPrefix: string): Promise<SequenceListing> {
  const [rgb, depth] = await Promise.all(
    ['rgb.txt', 'depth.txt'].map(async (listName) => parseTumList(await readFile(join(seqDir, listName), 'utf8'), seqDir, listName, idPrefix)),
  );
  return {
    layout: 'tum',
    rgb: rgb.frames,
    depth: depth.frames,
    pairBy: 'timestamp',
    depthEncoding: 'png16',
    rejects: [...rgb.rejects, ...depth.rejects],
  };
}

export function isTumSequence(entries: Set<string>): boolean {
  return entries.has('rgb.txt') && entries.has('depth.txt');
}
