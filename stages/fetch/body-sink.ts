// Where an HttpSession puts a response body: the one thing the image fetcher, the file fetcher
// and the robots.txt reader differ in. The in-memory sinks live here; file-sink.ts streams to disk.
import { readBody } from './body-reader.ts';
import type { MediaType } from './magic-bytes.ts';

export type SinkRead<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };

export interface BodySink<T> {
  /** Sent as Accept. */
  readonly accept: string;
  /** Sent as Accept-Encoding (default `identity`: images and video are compressed already).
   *  Whatever the server sends is decoded anyway. */
  readonly acceptEncoding?: string;
  /** The detail of a `too_large` failure for this Content-Length (NaN when absent), or null to read on. */
  declaredTooLarge?(contentLength: number): string | null;
  /** Stream errors (resets, timeouts) are thrown for the session to classify. */
  read(body: AsyncIterable<Uint8Array>, onChunk: () => void): Promise<SinkRead<T>>;
  /** Removes whatever a failed fetch left behind. */
  discard?(): Promise<void>;
}

export interface ImageBody {
  bytes: Uint8Array;
  mediaType: MediaType;
}

/** The whole body in memory, failing as soon as it is too large or not an image. */
export function imageSink(maxBytes: number): BodySink<ImageBody> {
  return {
    accept: 'image/avif,image/webp,image/*;q=0.9,*/*;q=0.5',
    declaredTooLarge: (declared) => (declared > maxBytes ? `Content-Length ${declared} > max_body_bytes ${maxBytes}` : null),
    async read(body, onChunk) {
      const read = await readBody(body, { maxBytes, overflow: 'fail', requireImage: true }, onChunk);
      // requireImage guarantees a media type on success.
      return read.ok ? { ok: true, value: { bytes: read.bytes, mediaType: read.mediaType! } } : read;
    },
  };
}

/** The first `maxBytes` of the body as UTF-8 text; a longer body is truncated, not failed. */
export function textSink(maxBytes: number): BodySink<string> {
  return {
    accept: 'text/plain,*/*;q=0.5',
    acceptEncoding: 'gzip, deflate, br',
    async read(body, onChunk) {
      const read = await readBody(body, { maxBytes, overflow: 'truncate', requireImage: false }, onChunk);
      return read.ok ? { ok: true, value: Buffer.from(read.bytes).toString('utf8') } : read;
    },
  };
}
