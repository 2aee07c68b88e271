// Reads a response body with a hard size cap and an early media-type check: a body that
// crosses the cap, or whose first bytes are not an image, is abandoned at once instead of
// being downloaded in full.
import { SNIFF_BYTES, describeStart, sniffImageType, type MediaType } from './magic-bytes.ts';

export type BodyRead =
  | { ok: true; bytes: Uint8Array; mediaType: MediaType | null; truncated: boolean }
  | { ok: false; reason: 'too_large' | 'not_image'; detail: string };

export interface BodyLimits {
  maxBytes: number;
  /** 'fail': crossing maxBytes is `too_large`; 'truncate': keep the first maxBytes. */
  overflow: 'fail' | 'truncate';
  /** Abandon the body as `not_image` as soon as its first bytes are not an image signature. */
  requireImage: boolean;
}

/** Stream errors (resets, timeouts) are thrown for the caller to classify. */
export async function readBody(body: AsyncIterable<Uint8Array>, limits: BodyLimits, onChunk?: () => void): Promise<BodyRead> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let sniffed = false;
  let truncated = false;
  // Leaving the loop early (return/break) destroys the stream, which stops the download.
  for await (const chunk of body) {
    onChunk?.();
    if (size + chunk.length > limits.maxBytes) {
      if (limits.overflow === 'fail') return { ok: false, reason: 'too_large', detail: `body passed ${limits.maxBytes} bytes while streaming` };
      chunks.push(chunk.subarray(0, limits.maxBytes - size));
      size = limits.maxBytes;
      truncated = true;
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
    if (limits.requireImage && !sniffed && size >= SNIFF_BYTES) {
      sniffed = true;
      const head = Buffer.concat(chunks);
      if (!sniffImageType(head)) return { ok: false, reason: 'not_image', detail: describeStart(head) };
    }
  }
  const bytes = Buffer.concat(chunks, size);
  const mediaType = sniffImageType(bytes);
  if (limits.requireImage && !mediaType) return { ok: false, reason: 'not_image', detail: describeStart(bytes) };
  return { ok: true, bytes, mediaType, truncated };
}
