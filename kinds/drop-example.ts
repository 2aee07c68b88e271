// A dropped item's report example: its caption and a thumbnail of whatever picture it held when a
// stage dropped it (decoded image, fetched or tar bytes, a local image file, an RGB-D colour
// frame, a clip's middle frame). Items dropped before they had a readable picture get none, and
// the card says so.
import { readFile } from 'node:fs/promises';
import type { Example } from '../core/stats.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';

/** Where a picture may sit in an item of any kind, most preferred first. */
function pictureCandidates(item: Record<string, unknown>): (Uint8Array | string)[] {
  const out: (Uint8Array | string)[] = [];
  const bytesOf = (v: unknown) => (v instanceof Uint8Array ? v : typeof v === 'object' && v !== null && (v as { bytes?: unknown }).bytes instanceof Uint8Array ? ((v as { bytes: Uint8Array }).bytes) : undefined);
  for (const key of ['image', 'imageBytes', 'rgb', 'rgbBytes']) {
    const b = bytesOf(item[key]);
    if (b && b.byteLength > 0) out.push(b);
  }
  const frames = item.frames;
  if (Array.isArray(frames) && frames.length) {
    const b = bytesOf((frames[Math.floor(frames.length / 2)] as { image?: unknown })?.image);
    if (b) out.push(b);
  }
  for (const key of ['imagePath', 'framePath', 'rgbFrame', 'depthFrame']) {
    const v = item[key];
    const file = typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { path?: unknown }).path === 'string' ? (v as { path: string }).path : undefined;
    if (file) out.push(file);
  }
  return out;
}

/** `preview` is the kind's own picture of the item (an RGB-D overlay), tried first. */
export async function dropExample(item: unknown, preview?: (item: Record<string, unknown>) => Promise<string | undefined>): Promise<Example> {
  if (typeof item !== 'object' || item === null) return {};
  const it = item as Record<string, unknown>;
  const example: Example = {};
  if (typeof it.caption === 'string' && it.caption) example.caption = it.caption;
  try {
    const own = await preview?.(it);
    if (own) return { ...example, thumb: own };
  } catch {
    // fall back to the plain picture
  }
  for (const c of pictureCandidates(it)) {
    try {
      example.thumb = await makeThumbnail(typeof c === 'string' ? await readFile(c) : c);
      break;
    } catch {
      // not a readable picture (that may be why it was dropped): try the next, else none
    }
  }
  return example;
}
