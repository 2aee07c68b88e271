// A body sink for large media (videos): the body streams to a file with backpressure, never
// held in memory, under its own size cap, and a caller-given sniffer judges its first bytes so
// an HTML error page is abandoned at once. A failed fetch leaves no file.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { BodySink, SinkRead } from './body-sink.ts';

export interface FileSinkOptions {
  /** Bodies larger than this fail as `too_large` (by Content-Length, or while streaming). */
  maxBytes: number;
  /** Sent as Accept. */
  accept: string;
  /** Bytes the sniffer needs before it judges. */
  sniffBytes: number;
  /** Looks at the body's first bytes: null to go on, or a failure (reason and detail) to abandon it. */
  sniff: (head: Uint8Array) => { reason: string; detail: string } | null;
}

/** Writes the body to `dest` (created or replaced); the value is the number of bytes written. */
export function fileSink(dest: string, opts: FileSinkOptions): BodySink<number> {
  return {
    accept: opts.accept,
    declaredTooLarge: (declared) => (declared > opts.maxBytes ? `Content-Length ${declared} > ${opts.maxBytes} bytes` : null),
    read: (body, onChunk) => streamToFile(body as AsyncIterable<Buffer>, dest, opts, onChunk),
    // A file already at `dest` must not look like this fetch's result.
    discard: () => rm(dest, { force: true }),
  };
}

/** Stops early (and removes the file) on a size or sniff failure. */
async function streamToFile(body: AsyncIterable<Buffer>, dest: string, opts: FileSinkOptions, onChunk: () => void): Promise<SinkRead<number>> {
  const out = createWriteStream(dest);
  const outFailed = once(out, 'error').then(([err]) => Promise.reject(err as Error));
  outFailed.catch(() => undefined);
  let size = 0;
  const head: Buffer[] = [];
  let sniffed = false;
  let ok = false;
  try {
    // Leaving the loop early destroys the body stream, which stops the download.
    for await (const chunk of body) {
      onChunk();
      size += chunk.length;
      if (size > opts.maxBytes) return { ok: false, reason: 'too_large', detail: `body passed ${opts.maxBytes} bytes while streaming` };
      if (!sniffed) {
        head.push(chunk);
        if (size >= opts.sniffBytes) {
          sniffed = true;
          const verdict = opts.sniff(Buffer.concat(head));
          if (verdict) return { ok: false, ...verdict };
        }
      }
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), outFailed]);
    }
    if (!sniffed) {
      const verdict = opts.sniff(Buffer.concat(head));
      if (verdict) return { ok: false, ...verdict };
    }
    out.end();
    await Promise.race([once(out, 'finish'), outFailed]);
    ok = true;
    return { ok: true, value: size };
  } finally {
    if (!ok) {
      out.destroy();
      await rm(dest, { force: true });
    }
  }
}
